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
