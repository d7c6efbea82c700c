package memlimit

import "strings"

// parseProcCgroup returns the process's cgroup v2 path and cgroup v1
// memory path from the text of /proc/self/cgroup, each empty when absent.
// Lines it cannot parse, and paths that are not absolute, are skipped; when
// a hierarchy appears twice the first line wins.
func parseProcCgroup(data []byte) (v2, v1Memory string) {
	for _, line := range strings.Split(string(data), "\n") {
		// hierarchy-ID:controller-list:cgroup-path. The path may itself
		// hold colons, so only the first two separate fields.
		id, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		controllers, p, ok := strings.Cut(rest, ":")
		if !ok || !strings.HasPrefix(p, "/") {
			continue
		}
		p = strings.TrimRight(p, "\r")
		switch {
		case id == "0" && controllers == "":
			// The v2 hierarchy is always ID 0 with no controller list.
			if v2 == "" {
				v2 = p
			}
		case hasMemoryController(controllers):
			if v1Memory == "" {
				v1Memory = p
			}
		}
	}
	return v2, v1Memory
}

// hasMemoryController reports whether a comma-separated list of cgroup
// controllers or mount options names "memory" exactly.
func hasMemoryController(list string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == "memory" {
			return true
		}
	}
	return false
}
