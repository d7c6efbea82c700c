package memlimit

import (
	"path"
	"strings"
)

// maxCgroupDepth bounds the walk up a cgroup hierarchy. Real hierarchies
// are a handful of levels deep; the bound only matters for a pathological
// path.
const maxCgroupDepth = 256

// cgroupReading reads the memory limit of the cgroup at cgPath (the mount's
// root when empty or outside the mount) in the hierarchy mounted by m, and
// of its ancestors up to the mount point. The limit is the smallest found,
// since a parent's limit binds its children; the available memory is the
// least headroom (limit minus usage) among the limited levels.
func (p Probe) cgroupReading(m cgroupMount, cgPath string) (Reading, bool) {
	limitFile, usageFile, source := "memory.limit_in_bytes", "memory.usage_in_bytes", SourceCgroup1
	if m.v2 {
		limitFile, usageFile, source = "memory.max", "memory.current", SourceCgroup2
	}
	rel := "/"
	if cgPath != "" && pathWithin(cgPath, m.root) {
		rel = strings.TrimPrefix(cgPath, m.root)
	}
	mount := path.Clean(m.point)
	// Cleaning "/"+rel first removes any ".." that would climb out of the
	// mount.
	dir := path.Join(mount, path.Clean("/"+rel))

	var r Reading
	found := false
	for range maxCgroupDepth {
		if limit, ok := p.cgroupLimit(path.Join(dir, limitFile)); ok {
			avail := limit
			if used, ok := p.cgroupUsage(path.Join(dir, usageFile)); ok {
				avail = max(limit-used, 0)
			}
			if !found || limit < r.Limit {
				r.Limit = limit
				r.Where = path.Join(dir, limitFile)
			}
			if !found || avail < r.Available {
				r.Available = avail
			}
			found = true
		}
		if dir == mount || dir == "/" {
			break
		}
		dir = path.Dir(dir)
	}
	if !found {
		return Reading{}, false
	}
	r.Source = source
	// This already holds, since the level with the smallest limit has at
	// most that limit of headroom; the clamp keeps Reading's guarantee from
	// resting on that argument alone.
	r.Available = min(r.Available, r.Limit)
	return r, true
}

// cgroupLimit reads a limit file, and false when it cannot be read, is
// malformed or says there is no limit.
func (p Probe) cgroupLimit(name string) (int64, bool) {
	data, err := p.readFile(name)
	if err != nil {
		return 0, false
	}
	limit, limited, err := parseCgroupLimit(data)
	return limit, err == nil && limited
}

// cgroupUsage reads a usage file, and false when it cannot be read or is
// malformed.
func (p Probe) cgroupUsage(name string) (int64, bool) {
	data, err := p.readFile(name)
	if err != nil {
		return 0, false
	}
	used, err := parseCgroupUsage(data)
	return used, err == nil
}

// pathWithin reports whether the slash-separated path p is dir or below it.
func pathWithin(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}
