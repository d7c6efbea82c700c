package memlimit

import "math"

// goReading reads the Go runtime's memory limit. The runtime reports "no
// limit" as math.MaxInt64; a value that is not positive cannot be a limit
// either.
func (p Probe) goReading() (Reading, bool) {
	if p.GoLimit == nil {
		return Reading{}, false
	}
	limit := p.GoLimit()
	if limit <= 0 || limit == math.MaxInt64 {
		return Reading{}, false
	}
	r := Reading{Limit: limit, Available: limit, Source: SourceGo, Where: "Go memory limit"}
	if p.GoUsed != nil {
		if used, ok := p.GoUsed(); ok && used >= 0 {
			r.Available = max(limit-used, 0)
		}
	}
	return r, true
}
