// Package memlimit finds how much memory the process may use and how much
// of it is still free. It knows four sources: the cgroup v2 and cgroup v1
// memory controllers (the process's own cgroup and each ancestor up to
// where the hierarchy is mounted), the Go runtime's memory limit
// (GOMEMLIMIT or debug.SetMemoryLimit), and MemTotal with MemAvailable in
// /proc/meminfo.
//
// A Probe reads them. Every file goes through its ReadFile field, so tests
// hand it fixture trees or in-memory maps instead of the machine's /proc
// and /sys; System returns the Probe of the running process.
//
// Nothing here fails or panics: a file that is missing, unreadable or
// malformed only means that its source gives no reading. That is the
// contract the worker-pool sizing relies on, since it must always come up
// with a size, on Linux or elsewhere.
package memlimit
