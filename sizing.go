package eventbus

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/brummer-dev/eventbus/internal/memlimit"
)

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
	cpus = min(max(cpus, 1), 64) // 64 CPUs already give the upper bound; this keeps cpus*5 from overflowing
	w := cpus * 5 / 2
	return min(max(w, 4), 32)
}

// The values of SizingDecision.Profile.
const (
	// SizingProfileDefault is CalculateOptimalWorkers() workers and a queue
	// of ten events per worker, as in DefaultConfig.
	SizingProfileDefault = "default"
	// SizingProfileCI is at most 4 workers and a queue of five events per
	// worker, for continuous-integration runners that share their CPUs.
	SizingProfileCI = "ci"
	// SizingProfileLowMemory is at most 2 workers and a queue of five events
	// per worker, for processes that may use less than 512 MiB.
	SizingProfileLowMemory = "low-memory"
	// SizingProfileHighPerformance is four workers per CPU up to 32 and a
	// queue of twenty events per worker, for machines with 8 CPUs or more
	// outside CI.
	SizingProfileHighPerformance = "high-performance"
)

const (
	// lowMemoryThreshold: a memory limit under it selects the low-memory
	// profile.
	lowMemoryThreshold = 512 << 20
	// memoryPerWorker is the memory one worker needs under the memory cap.
	memoryPerWorker = 256 << 10
	// highPerformanceCPUs is the CPU count from which the high-performance
	// profile applies.
	highPerformanceCPUs = 8
)

// SizingDecision says how GetEnvironmentSpecificConfig sized a bus and why,
// so that a program can log it. DecideSizing returns one.
//
// MemoryLimit is positive exactly when some memory limit was found; when it
// is 0, MemoryLimitSource is empty and MemoryAvailable, LowMemory and
// MemoryCap are zero too.
type SizingDecision struct {
	// Profile is the profile that set Workers and QueueSize: one of
	// SizingProfileDefault ("default"), SizingProfileCI ("ci"),
	// SizingProfileLowMemory ("low-memory") and
	// SizingProfileHighPerformance ("high-performance").
	Profile string

	// CPUs is the number of CPUs the process may use: runtime.GOMAXPROCS(0).
	CPUs int

	// CI reports whether a continuous-integration environment variable is
	// set to a true value, and CIVariable names the first one found (empty
	// when CI is false).
	CI         bool
	CIVariable string

	// MemoryLimit is the smallest memory limit found, in bytes, or 0 when
	// none could be read. MemoryLimitSource names where it came from:
	// "cgroup2" (memory.max), "cgroup1" (memory.limit_in_bytes), "go" (the
	// Go runtime's memory limit, GOMEMLIMIT or debug.SetMemoryLimit) or
	// "meminfo" (MemTotal in /proc/meminfo); empty when MemoryLimit is 0.
	MemoryLimit       int64
	MemoryLimitSource string

	// MemoryAvailable is the memory still available under MemoryLimit, in
	// bytes: the limit minus the current usage of the same source (for a
	// cgroup, the least headroom of the cgroup and of its limited
	// ancestors; for "meminfo", MemAvailable). It is the whole limit when
	// the usage cannot be read, and 0 when there is no limit or nothing is
	// left.
	MemoryAvailable int64

	// LowMemory reports whether MemoryLimit is positive and under 512 MiB.
	LowMemory bool

	// MemoryCap is the largest worker count the available memory allows:
	// one worker per 256 KiB of MemoryAvailable, at least 1 (and at most
	// WorkerLimit). It is 0, meaning no cap, when MemoryLimit is 0.
	MemoryCap int

	// Workers and QueueSize are the sizes chosen: the profile's, with
	// Workers then lowered to MemoryCap when that is smaller and QueueSize
	// following Workers. Workers is always 1..32 and QueueSize at least
	// Workers.
	Workers   int
	QueueSize int

	// Reason explains the decision in one English sentence.
	Reason string
}

// String returns the decision on one line, for a log: the chosen sizes
// first, then the inputs and the reason, as in
//
//	workers=4 queue=20 profile=ci cpus=2 ci=GITHUB_ACTIONS mem_limit=none reason="..."
func (d SizingDecision) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "workers=%d queue=%d profile=%s cpus=%d", d.Workers, d.QueueSize, d.Profile, d.CPUs)
	if d.CI {
		fmt.Fprintf(&b, " ci=%s", d.CIVariable)
	} else {
		b.WriteString(" ci=no")
	}
	if d.MemoryLimit > 0 {
		fmt.Fprintf(&b, " mem_limit=%s mem_source=%s mem_available=%s low_memory=%t mem_cap=%d",
			formatBytes(d.MemoryLimit), d.MemoryLimitSource, formatBytes(d.MemoryAvailable), d.LowMemory, d.MemoryCap)
	} else {
		b.WriteString(" mem_limit=none")
	}
	if d.Reason != "" {
		fmt.Fprintf(&b, " reason=%q", d.Reason)
	}
	return b.String()
}

// Config returns DefaultConfig() with Workers and QueueSize set to the
// decision's. A zero SizingDecision (Workers 0) changes nothing: it returns
// DefaultConfig() as it is.
func (d SizingDecision) Config() Config {
	c := DefaultConfig()
	if d.Workers > 0 {
		c.Workers = d.Workers
		c.QueueSize = d.QueueSize
	}
	return c
}

// DecideSizing looks at the machine and the environment and decides the
// worker count and queue size of GetEnvironmentSpecificConfig.
//
// It reads the CPU count (runtime.GOMAXPROCS(0)), the CI environment
// variables, and the memory limits: the cgroup v2 and v1 limits of the
// process's own cgroup and its ancestors (found through /proc/self/cgroup
// and /proc/self/mountinfo, falling back to the cgroup root under
// /sys/fs/cgroup), the Go memory limit, and the total RAM in /proc/meminfo.
// The smallest of them is the memory limit.
//
// The profiles are tried in this order, and the first that applies wins:
//
//  1. low memory, when the memory limit is under 512 MiB: the default
//     count capped at 2 workers, queue 5 per worker;
//  2. CI, when a CI variable is set: the default count capped at 4
//     workers, queue 5 per worker;
//  3. high performance, with 8 CPUs or more: 4 workers per CPU up to 32,
//     queue 20 per worker;
//  4. otherwise the default: CalculateOptimalWorkers(), queue 10 per
//     worker.
//
// So low memory beats CI, which beats high performance; high performance
// never applies in CI or with low memory. After the profile, the memory cap
// applies: never more than one worker per 256 KiB of the memory still
// available under the limit, and never fewer than 1. QueueSize is then the
// profile's events per worker times the final Workers.
//
// The CI variables are CI, CONTINUOUS_INTEGRATION, GITHUB_ACTIONS,
// GITLAB_CI, BUILDKITE, CIRCLECI, TRAVIS, DRONE, APPVEYOR, TF_BUILD,
// SEMAPHORE, BUDDY, JENKINS_URL, HUDSON_URL, TEAMCITY_VERSION,
// BITBUCKET_BUILD_NUMBER, CODEBUILD_BUILD_ID and HEROKU_TEST_RUN_ID. A
// variable counts when it is set to anything but an empty string, "0",
// "false", "no" or "off" (ignoring case and surrounding spaces); each is
// looked at on its own, so CI=false does not hide GITHUB_ACTIONS=true.
//
// DecideSizing never fails and never panics: a file that is missing,
// unreadable or malformed, a negative or non-numeric value, or a system
// without /proc and /sys (any OS but Linux) only means that source gives no
// limit. With no limit at all, the memory is taken as not low and nothing
// is capped.
func DecideSizing() SizingDecision {
	return decideSizing(realSizingProbes())
}

// GetEnvironmentSpecificConfig returns DefaultConfig() with Workers and
// QueueSize chosen for the environment by DecideSizing: fewer workers in CI
// and with little memory, more on machines with 8 CPUs or more. Workers is
// always 1..32 and the result is always a valid Config. It never fails:
// what cannot be read is left out of the decision (see DecideSizing).
//
// It is DecideSizing().Config(). To log why the bus got its size, call
// DecideSizing, log the decision, and use its Config method.
func GetEnvironmentSpecificConfig() Config {
	return DecideSizing().Config()
}

// sizingProbes are the inputs of the sizing decision. The real ones read
// the machine; tests replace them.
type sizingProbes struct {
	// cpus returns the number of CPUs the process may use.
	cpus func() int
	// getenv is os.LookupEnv.
	getenv func(string) (string, bool)
	// memory returns the smallest memory limit and what is left under it,
	// and false when there is none (see memlimit.Probe.Smallest).
	memory func() (memlimit.Reading, bool)
}

func realSizingProbes() sizingProbes {
	return sizingProbes{
		cpus:   func() int { return runtime.GOMAXPROCS(0) },
		getenv: os.LookupEnv,
		memory: memlimit.System().Smallest,
	}
}

// decideSizing is DecideSizing with the given probes.
func decideSizing(p sizingProbes) SizingDecision {
	d := SizingDecision{CPUs: max(p.cpus(), 1)}
	d.CI, d.CIVariable = detectCI(p.getenv)
	mem, haveMem := p.memory()
	if haveMem {
		d.MemoryLimit = mem.Limit
		d.MemoryLimitSource = string(mem.Source)
		d.MemoryAvailable = mem.Available
		d.LowMemory = mem.Limit < lowMemoryThreshold
	}

	base := optimalWorkers(d.CPUs)
	var perWorker int
	var reason string
	switch {
	case d.LowMemory:
		d.Profile = SizingProfileLowMemory
		d.Workers, perWorker = min(base, 2), 5
		reason = fmt.Sprintf("memory limit %s (%s) is under 512MiB: at most 2 workers, queue 5 per worker",
			formatBytes(mem.Limit), mem.Where)
		if d.CI {
			reason += " (CI also detected via " + d.CIVariable + "; low memory wins)"
		}
	case d.CI:
		d.Profile = SizingProfileCI
		d.Workers, perWorker = min(base, 4), 5
		reason = "CI detected via " + d.CIVariable + ": at most 4 workers, queue 5 per worker"
	case d.CPUs >= highPerformanceCPUs:
		d.Profile = SizingProfileHighPerformance
		d.Workers, perWorker = min(d.CPUs, 32/4)*4, 20 // min(CPUs*4, 32) without overflow
		reason = fmt.Sprintf("%d CPUs (8 or more), not CI, memory not low: 4 workers per CPU up to 32, queue 20 per worker", d.CPUs)
	default:
		d.Profile = SizingProfileDefault
		d.Workers, perWorker = base, 10
		reason = fmt.Sprintf("%d CPUs: 2.5 workers per CPU bounded to 4..32, queue 10 per worker", d.CPUs)
	}

	if haveMem {
		d.MemoryCap = memoryCap(d.MemoryAvailable)
		if d.Workers > d.MemoryCap {
			d.Workers = d.MemoryCap
			reason += fmt.Sprintf("; only %s available under the memory limit (%s): capped at %d workers, one per 256KiB",
				formatBytes(d.MemoryAvailable), mem.Where, d.MemoryCap)
		}
	}
	d.QueueSize = d.Workers * perWorker
	d.Reason = reason
	return d
}

// memoryCap returns the number of workers that available bytes allow: one
// per memoryPerWorker, at least 1 and at most WorkerLimit.
func memoryCap(available int64) int {
	n := available / memoryPerWorker
	return int(min(max(n, 1), WorkerLimit))
}

// detectCI returns whether a CI variable is set to a true value, and the
// first such variable.
func detectCI(getenv func(string) (string, bool)) (bool, string) {
	for _, name := range ciVariables {
		if v, ok := getenv(name); ok && ciValueTrue(v) {
			return true, name
		}
	}
	return false, ""
}

// ciVariables are the environment variables that reveal a CI runner, the
// generic ones first.
var ciVariables = []string{
	"CI",
	"CONTINUOUS_INTEGRATION",
	"GITHUB_ACTIONS",
	"GITLAB_CI",
	"BUILDKITE",
	"CIRCLECI",
	"TRAVIS",
	"DRONE",
	"APPVEYOR",
	"TF_BUILD",
	"SEMAPHORE",
	"BUDDY",
	"JENKINS_URL",
	"HUDSON_URL",
	"TEAMCITY_VERSION",
	"BITBUCKET_BUILD_NUMBER",
	"CODEBUILD_BUILD_ID",
	"HEROKU_TEST_RUN_ID",
}

// ciValueTrue reports whether the value of a CI variable means "in CI":
// anything but "", "0", "false", "no" and "off", ignoring case and spaces.
func ciValueTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "false", "no", "off":
		return false
	}
	return true
}

// formatBytes formats n bytes with a binary unit, as in "256.0MiB".
func formatBytes(n int64) string {
	const (
		kib = 1 << 10
		mib = 1 << 20
		gib = 1 << 30
	)
	switch {
	case n >= gib:
		return strconv.FormatFloat(float64(n)/gib, 'f', 1, 64) + "GiB"
	case n >= mib:
		return strconv.FormatFloat(float64(n)/mib, 'f', 1, 64) + "MiB"
	case n >= kib:
		return strconv.FormatFloat(float64(n)/kib, 'f', 1, 64) + "KiB"
	}
	return strconv.FormatInt(n, 10) + "B"
}
