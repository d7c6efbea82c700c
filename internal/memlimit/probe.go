package memlimit

import "errors"

// Probe reads the memory sources. Its fields are its only way to reach the
// machine, so that a test can replace any of them. A nil field is a source
// that cannot be read: the zero Probe finds no limit at all.
type Probe struct {
	// ReadFile returns the contents of the file at an absolute, clean,
	// slash-separated path: /proc/self/cgroup, /proc/self/mountinfo,
	// /proc/meminfo, or a memory file below a cgroup mount point (usually
	// under /sys/fs/cgroup). An error means the file cannot be read: a
	// limit file's level or source is then skipped, and a usage file's
	// usage is unknown.
	ReadFile func(name string) ([]byte, error)

	// GoLimit returns the Go runtime's memory limit in bytes. Zero, a
	// negative value and math.MaxInt64 (the runtime's "no limit") all mean
	// there is none.
	GoLimit func() int64

	// GoUsed returns the memory the Go runtime counts against its limit, in
	// bytes, and false when it cannot tell. A negative value counts as
	// unknown.
	GoUsed func() (int64, bool)
}

// Smallest returns the reading with the smallest Limit over all sources,
// and false when none gives a limit. The sources are tried in the order
// cgroup v2, cgroup v1, Go, meminfo, and on a tie the earlier one wins.
//
// The cgroups are found through /proc/self/cgroup (the process's cgroup
// path in each hierarchy) and /proc/self/mountinfo (where each hierarchy is
// mounted, and which part of it the mount shows). Without a usable mount
// table it assumes the usual places, /sys/fs/cgroup for v2 and
// /sys/fs/cgroup/memory for v1; without a cgroup path it reads the root of
// the mount. From the process's cgroup it walks up to the mount point: a
// parent's limit binds its children too, so the smallest limit on the way
// is the limit, and the least headroom on the way is what is available.
// "max", and values of 2^62 or more (cgroup v1's "unlimited" is about
// 2^63), mean no limit at that level.
//
// Smallest never panics, whatever the files hold. A cgroup path with ".."
// cannot make it read outside the mount point, and the walk stops after 256
// levels, so a pathological path costs a bounded number of reads.
func (p Probe) Smallest() (Reading, bool) {
	var best Reading
	found := false
	consider := func(r Reading, ok bool) {
		if ok && (!found || r.Limit < best.Limit) {
			best, found = r, true
		}
	}
	procCgroup, _ := p.readFile("/proc/self/cgroup")
	v2Path, v1Path := parseProcCgroup(procCgroup)
	mountinfo, _ := p.readFile("/proc/self/mountinfo")
	mounts, err := parseMountinfo(mountinfo)
	if err != nil || len(mounts) == 0 {
		// No mount table, as on a system that hides it: assume the usual
		// places rather than give up on the cgroups.
		mounts = []cgroupMount{defaultMount(true), defaultMount(false)}
	}
	consider(p.cgroupReading(pickMount(mounts, true, v2Path), v2Path))
	consider(p.cgroupReading(pickMount(mounts, false, v1Path), v1Path))
	consider(p.goReading())
	consider(p.meminfoReading())
	return best, found
}

// readFile is ReadFile, with a nil ReadFile failing every read.
func (p Probe) readFile(name string) ([]byte, error) {
	if p.ReadFile == nil {
		return nil, errNoReadFile
	}
	return p.ReadFile(name)
}

// errNoReadFile is what a Probe without ReadFile returns for every file.
var errNoReadFile = errors.New("memlimit: the Probe has no ReadFile")
