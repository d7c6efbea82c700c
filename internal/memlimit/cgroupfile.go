package memlimit

import (
	"fmt"
	"strconv"
	"strings"
)

// cgroupUnlimited: a cgroup limit at or above it means "no limit". The
// cgroup v1 "unlimited" value is math.MaxInt64 rounded down to the page
// size (9223372036854771712 with 4 KiB pages), far above it, and no real
// machine has 4 EiB to give.
const cgroupUnlimited = 1 << 62

// parseCgroupLimit parses the contents of a cgroup memory limit file
// (v2 memory.max or v1 memory.limit_in_bytes), surrounding white space
// allowed. "max", and any value of 2^62 or more, give limited false. A
// value that is not a positive decimal integer is an error.
func parseCgroupLimit(data []byte) (limit int64, limited bool, err error) {
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return 0, false, nil
	}
	u, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("cgroup memory limit %q: not a number or \"max\"", truncateForError(s))
	}
	if u == 0 {
		return 0, false, fmt.Errorf("cgroup memory limit is 0")
	}
	if u >= cgroupUnlimited {
		return 0, false, nil
	}
	return int64(u), true, nil
}

// parseCgroupUsage parses the contents of a cgroup memory usage file (v2
// memory.current or v1 memory.usage_in_bytes): a non-negative decimal
// integer below 2^63, surrounding white space allowed. Anything else is an
// error.
func parseCgroupUsage(data []byte) (int64, error) {
	s := strings.TrimSpace(string(data))
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("cgroup memory usage %q: not a non-negative number", truncateForError(s))
	}
	return v, nil
}

// truncateForError shortens a file's contents for an error message, which
// should not carry a whole malformed file.
func truncateForError(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
