package memlimit

// Source names where a Reading's limit came from. The values are the words
// eventbus prints as MemoryLimitSource, so they are part of its output and
// do not change.
type Source string

const (
	// SourceCgroup2 is a cgroup v2 memory.max; the usage is memory.current.
	SourceCgroup2 Source = "cgroup2"
	// SourceCgroup1 is a cgroup v1 memory.limit_in_bytes; the usage is
	// memory.usage_in_bytes.
	SourceCgroup1 Source = "cgroup1"
	// SourceGo is the Go runtime's memory limit, set by GOMEMLIMIT or
	// debug.SetMemoryLimit; the usage is the memory the runtime counts
	// against it.
	SourceGo Source = "go"
	// SourceMeminfo is MemTotal in /proc/meminfo; what is left is
	// MemAvailable, or MemFree on kernels older than 3.14.
	SourceMeminfo Source = "meminfo"
)

// Reading is one memory limit and the memory still available under it.
//
// A Reading that a Probe returns together with true always has Limit > 0,
// 0 <= Available <= Limit, one of the Source constants and a non-empty
// Where. The zero Reading, returned with false, means "no limit found".
type Reading struct {
	// Limit is the most memory the process may use, in bytes.
	Limit int64

	// Available is how much of Limit is still free, in bytes: Limit minus
	// the usage the same source reports. For a cgroup it is the least
	// headroom among the cgroup and its limited ancestors. It is the whole
	// Limit when the usage cannot be read, and 0 when the usage reaches or
	// passes the limit.
	Available int64

	// Source says which kind of limit this is.
	Source Source

	// Where names the file or setting that gave Limit, for a person
	// reading an explanation: the path of a cgroup limit file (the level of
	// the hierarchy with the smallest limit), "Go memory limit" or
	// "/proc/meminfo MemTotal".
	Where string
}
