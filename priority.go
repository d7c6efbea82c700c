package eventbus

import (
	"errors"
	"strconv"
	"strings"
)

// Priority says how urgently an event must reach its handlers. With
// Config.EnablePriority set, a free worker always takes a queued High event
// before any Medium one and Medium before Low, FIFO within a level, and the
// DropLowPri policy drops Low events first.
type Priority int

// The three priority levels. The zero Priority is not a level: it is
// rejected wherever a Priority is given explicitly.
const (
	PriorityLow    Priority = 1
	PriorityMedium Priority = 2
	PriorityHigh   Priority = 3
)

// numLevels is the number of priority levels; a level's index is its
// Priority minus one.
const numLevels = 3

func (p Priority) valid() bool { return p >= PriorityLow && p <= PriorityHigh }

// String returns "low", "medium" or "high", or "Priority(n)" for a value
// that is not a level.
func (p Priority) String() string {
	switch p {
	case PriorityLow:
		return "low"
	case PriorityMedium:
		return "medium"
	case PriorityHigh:
		return "high"
	}
	return "Priority(" + strconv.Itoa(int(p)) + ")"
}

// ParsePriority returns the priority named s: "low", "medium" or "high"
// in any case, or its number ("1" to "3"). Anything else is an error that
// quotes s.
func ParsePriority(s string) (Priority, error) {
	for p := PriorityLow; p <= PriorityHigh; p++ {
		if strings.EqualFold(p.String(), s) || strconv.Itoa(int(p)) == s {
			return p, nil
		}
	}
	return 0, errors.New("eventbus: unknown priority " + strconv.Quote(s) + " (want low, medium or high)")
}

// MarshalText returns the priority's name ("low", "medium", "high"), so
// that JSON shows names rather than numbers. A value that is not a level
// is an error.
func (p Priority) MarshalText() ([]byte, error) {
	if !p.valid() {
		return nil, errors.New("eventbus: cannot encode " + p.String())
	}
	return []byte(p.String()), nil
}

// UnmarshalText sets p from a name or number as ParsePriority reads them,
// so that a Priority works with flag.TextVar. On error p is unchanged.
func (p *Priority) UnmarshalText(text []byte) error {
	v, err := ParsePriority(string(text))
	if err == nil {
		*p = v
	}
	return err
}

// UnmarshalJSON accepts a JSON string (a name) or a JSON number (1 to 3).
// On error p is unchanged.
func (p *Priority) UnmarshalJSON(data []byte) error {
	return unmarshalJSONText(data, p.UnmarshalText)
}

// DefaultPriority returns the priority of an event type when
// Config.Priorities does not name it: High for process starts and exits,
// detected errors, failed tests and MCP connections; Medium for build events
// and passed tests; Low for log lines and MCP activity, the two frequent
// types. Every other type is Medium.
func DefaultPriority(t EventType) Priority {
	switch t {
	case ProcessStarted, ProcessExited, ErrorDetected, TestFailed, MCPConnected, MCPDisconnected:
		return PriorityHigh
	case BuildEvent, TestPassed:
		return PriorityMedium
	case LogLine, MCPActivity:
		return PriorityLow
	}
	return PriorityMedium
}

// levels holds the runnable jobs, one FIFO ring per priority level, and
// decides which job a free worker takes next. It is not safe for concurrent
// use; the queue's mutex guards it.
//
// Selection is by strict priority with a bound on starvation: a worker takes
// the head of the highest non-empty level, except that a lower level that
// has had events waiting through limit dispatches of higher levels is served
// next. Go's select chooses at random among ready channels, so a worker
// selecting over three channels would not give this order; a single lock
// over three rings does.
type levels struct {
	rings [numLevels]ring
	seq   uint64
	limit int
	// passed[i] counts the dispatches from levels above i since level i
	// last had a dispatch or was empty (for the two lower levels).
	passed [numLevels - 1]int
}

// lowLevel is the index of PriorityLow's ring.
const lowLevel = 0

// stamp gives j the queue's next sequence number, which orders jobs
// across levels for DropOldest.
func (l *levels) stamp(j *job) {
	l.seq++
	j.seq = l.seq
}

// push appends j to its level.
func (l *levels) push(j *job) { l.rings[j.prio-1].push(j) }

// next returns the index of the level a free worker must take from, or -1
// when nothing it may take is runnable. lowAllowed is false while the
// workers allowed to run Low events are all busy: the reserved ones only
// take Medium and High events. A starving level is served first (Low before
// Medium, as Low has waited through at least as many dispatches),
// otherwise the highest non-empty one.
func (l *levels) next(lowAllowed bool) int {
	for i := 0; i < numLevels-1; i++ {
		if l.passed[i] >= l.limit && l.rings[i].len() > 0 && (i != lowLevel || lowAllowed) {
			return i
		}
	}
	for i := numLevels - 1; i >= 0; i-- {
		if l.rings[i].len() > 0 && (i != lowLevel || lowAllowed) {
			return i
		}
	}
	return -1
}

// popBatch removes up to len(dst) jobs from the head of level i, as
// chosen by next, into dst and returns how many. It takes at least one,
// never so many that a waiting lower level would pass its starvation
// limit, and only one when a higher level is waiting (level i's turn came
// from the starvation bound).
func (l *levels) popBatch(i int, dst []job) int {
	k := min(len(dst), l.rings[i].len())
	for higher := i + 1; higher < numLevels; higher++ {
		if l.rings[higher].len() > 0 {
			// Level i is served only because it starved: its turn is one
			// event, so that the bound counts events, not batches.
			k = 1
		}
	}
	for lower := 0; lower < i; lower++ {
		if l.rings[lower].len() > 0 {
			k = max(1, min(k, l.limit-l.passed[lower]))
		}
	}
	for lower := 0; lower < i; lower++ {
		if l.rings[lower].len() > 0 {
			l.passed[lower] += k
		}
	}
	if i < numLevels-1 {
		l.passed[i] = 0
	}
	for n := 0; n < k; n++ {
		l.popFrom(i, &dst[n])
	}
	return k
}

func (l *levels) popFrom(i int, dst *job) {
	l.rings[i].popInto(dst)
	if i < numLevels-1 && l.rings[i].len() == 0 {
		l.passed[i] = 0
	}
}

// depth returns the number of runnable jobs of one level.
func (l *levels) depth(i int) int { return l.rings[i].len() }
