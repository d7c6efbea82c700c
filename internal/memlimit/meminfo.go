package memlimit

import (
	"math"
	"strconv"
	"strings"
)

// meminfoReading reads the total RAM from /proc/meminfo: with no cgroup
// and no Go limit, the machine's memory is the limit.
func (p Probe) meminfoReading() (Reading, bool) {
	data, err := p.readFile("/proc/meminfo")
	if err != nil {
		return Reading{}, false
	}
	m, ok := parseMeminfo(data)
	if !ok {
		return Reading{}, false
	}
	r := Reading{Limit: m.total, Available: m.total, Source: SourceMeminfo, Where: "/proc/meminfo MemTotal"}
	if m.available >= 0 {
		// The kernel's estimate can exceed MemTotal in odd states; a
		// Reading never has more available than its limit.
		r.Available = min(m.available, m.total)
	}
	return r, true
}

// meminfo holds the figures of /proc/meminfo that a Reading needs, in
// bytes.
type meminfo struct {
	total     int64 // MemTotal, > 0
	available int64 // MemAvailable, else MemFree; -1 when neither is there
}

// parseMeminfo parses the text of /proc/meminfo. It needs a positive
// MemTotal; values are in kB (KiB) or, without a unit, in bytes. Lines it
// cannot parse are skipped. It returns the zero meminfo and false when
// there is no usable MemTotal.
func parseMeminfo(data []byte) (meminfo, bool) {
	m := meminfo{available: -1}
	free := int64(-1)
	for _, line := range strings.Split(string(data), "\n") {
		key, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key = strings.TrimSpace(key)
		if key != "MemTotal" && key != "MemAvailable" && key != "MemFree" {
			continue
		}
		v, ok := parseMeminfoValue(rest)
		if !ok {
			continue
		}
		switch key {
		case "MemTotal":
			m.total = v
		case "MemAvailable":
			m.available = v
		case "MemFree":
			free = v
		}
	}
	if m.total <= 0 {
		return meminfo{}, false
	}
	if m.available < 0 {
		// Kernels before 3.14 have no MemAvailable; MemFree underestimates
		// what can be had (it leaves out the page cache) but is the best
		// figure they give.
		m.available = free
	}
	return m, true
}

// parseMeminfoValue parses " 16384 kB" into bytes. It refuses negative
// numbers, units other than kB, extra fields and values whose byte count
// overflows an int64.
func parseMeminfoValue(s string) (int64, bool) {
	f := strings.Fields(s)
	if len(f) == 0 || len(f) > 2 {
		return 0, false
	}
	v, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || v < 0 {
		return 0, false
	}
	if len(f) == 2 {
		if !strings.EqualFold(f[1], "kB") {
			return 0, false
		}
		if v > math.MaxInt64/1024 {
			return 0, false
		}
		v *= 1024
	}
	return v, true
}
