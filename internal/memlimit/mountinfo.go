package memlimit

import (
	"bytes"
	"errors"
	"strings"
)

// cgroupMount is a cgroup file system in /proc/self/mountinfo: the cgroup
// v2 hierarchy, or a v1 hierarchy with the memory controller.
type cgroupMount struct {
	v2    bool
	root  string // the cgroup shown at point, "/" unless in a cgroup namespace or a bind mount
	point string // where it is mounted
}

// defaultMount is where a hierarchy usually is when the mount table cannot
// tell.
func defaultMount(v2 bool) cgroupMount {
	if v2 {
		return cgroupMount{v2: true, root: "/", point: "/sys/fs/cgroup"}
	}
	return cgroupMount{root: "/", point: "/sys/fs/cgroup/memory"}
}

// errEmptyMountinfo: an empty mount table says nothing, unlike one that
// lists no cgroup, so the caller falls back to the usual places.
var errEmptyMountinfo = errors.New("empty mountinfo")

// parseMountinfo returns the cgroup mounts in the text of
// /proc/self/mountinfo that can give a memory limit: every cgroup2 mount
// and every cgroup (v1) mount with the memory controller. Lines it cannot
// parse are skipped, and so are mounts whose root or mount point is not an
// absolute path. It fails only when data is empty or blank.
func parseMountinfo(data []byte) ([]cgroupMount, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errEmptyMountinfo
	}
	var mounts []cgroupMount
	for _, line := range strings.Split(string(data), "\n") {
		// 36 35 98:0 /root /mount/point rw,noatime master:1 - cgroup cgroup rw,memory
		// The optional fields before "-" vary in number, so the file
		// system type is found from the separator, not by position.
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+3 >= len(f) {
			continue
		}
		m := cgroupMount{root: unescapeMountinfo(f[3]), point: unescapeMountinfo(f[4])}
		if !strings.HasPrefix(m.root, "/") || !strings.HasPrefix(m.point, "/") {
			continue
		}
		switch f[sep+1] {
		case "cgroup2":
			m.v2 = true
		case "cgroup":
			// A v1 mount names its controllers among its super options.
			if !hasMemoryController(f[sep+3]) {
				continue
			}
		default:
			continue
		}
		mounts = append(mounts, m)
	}
	return mounts, nil
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) the kernel
// writes for white space and backslashes in a path of
// /proc/self/mountinfo. A malformed escape is kept as it is.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] <= '3' && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// pickMount returns the mount of the wanted version whose root holds
// cgPath, else the first of that version, else the usual place. A process
// can see several mounts of one hierarchy; only one whose root holds its
// cgroup shows that cgroup's files.
func pickMount(mounts []cgroupMount, v2 bool, cgPath string) cgroupMount {
	var first *cgroupMount
	for i := range mounts {
		m := &mounts[i]
		if m.v2 != v2 {
			continue
		}
		if first == nil {
			first = m
		}
		if cgPath != "" && pathWithin(cgPath, m.root) {
			return *m
		}
	}
	if first != nil {
		return *first
	}
	return defaultMount(v2)
}
