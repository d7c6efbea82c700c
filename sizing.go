package eventbus

import "runtime"

// CalculateOptimalWorkers returns the default worker count: 2.5 workers per
// CPU the process may use, truncated, and bounded to 4..32.
//
// The CPU count is runtime.GOMAXPROCS(0), not runtime.NumCPU(): since Go
// 1.25 GOMAXPROCS follows a container's CPU limit while NumCPU reports the
// host's cores, so NumCPU would over-size pools in containers.
func CalculateOptimalWorkers() int {
	return optimalWorkers(runtime.GOMAXPROCS(0))
}

func optimalWorkers(cpus int) int {
	w := cpus * 5 / 2
	return min(max(w, 4), 32)
}
