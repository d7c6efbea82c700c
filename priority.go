package eventbus

import "strconv"

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

// levels holds the queued jobs, one FIFO ring per priority level, and
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
	size  int // jobs in all rings
	seq   uint64
	limit int
	// passed[i] counts the dispatches from levels above i since level i
	// last had a dispatch or was empty (for the two lower levels).
	passed [numLevels - 1]int
}

// push appends j to its level and stamps it with the queue's sequence
// number, which orders jobs across levels for DropOldest.
func (l *levels) push(j *job) {
	l.seq++
	j.seq = l.seq
	l.rings[j.prio-1].push(j)
	l.size++
}

// popNextInto removes the job a free worker must take next into *dst. The
// queue must not be empty.
func (l *levels) popNextInto(dst *job) {
	i := l.next()
	for lower := 0; lower < i; lower++ {
		if l.rings[lower].len() > 0 {
			l.passed[lower]++
		}
	}
	if i < numLevels-1 {
		l.passed[i] = 0
	}
	l.popFrom(i, dst)
}

// next returns the index of the level to serve: the lowest starving level
// if any (Low before Medium, as Low has waited through at least as many
// dispatches), otherwise the highest non-empty one.
func (l *levels) next() int {
	for i := 0; i < numLevels-1; i++ {
		if l.passed[i] >= l.limit && l.rings[i].len() > 0 {
			return i
		}
	}
	for i := numLevels - 1; i > 0; i-- {
		if l.rings[i].len() > 0 {
			return i
		}
	}
	return 0
}

func (l *levels) popFrom(i int, dst *job) {
	l.rings[i].popInto(dst)
	l.size--
	if i < numLevels-1 && l.rings[i].len() == 0 {
		l.passed[i] = 0
	}
}

// lowest returns the index of the lowest non-empty level. The queue must
// not be empty.
func (l *levels) lowest() int {
	for i := 0; i < numLevels; i++ {
		if l.rings[i].len() > 0 {
			return i
		}
	}
	return numLevels - 1
}

// oldest returns the index of the level whose head was queued first. The
// queue must not be empty.
func (l *levels) oldest() int {
	best := -1
	for i := 0; i < numLevels; i++ {
		if l.rings[i].len() == 0 {
			continue
		}
		if best < 0 || l.rings[i].front().seq < l.rings[best].front().seq {
			best = i
		}
	}
	return best
}

// depth returns the number of queued jobs of one level.
func (l *levels) depth(i int) int { return l.rings[i].len() }
