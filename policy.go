package eventbus

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
)

// DropPolicy says what the bus does when an event arrives and the queue
// already holds Config.QueueSize events. The publisher first waits up to
// Config.TimeoutDuration for room (a waiting High event is admitted before
// any waiting Medium or Low one); if there is still none, the policy picks
// the single event that is dropped, out of the queued ones and the new one.
// Queued ones include events waiting for their ordering key, and the
// deliveries Block buffers set aside (see Config.QueueSize).
// A dropped event is counted in Metrics and passed to Config.OnDrop.
type DropPolicy int

const (
	// DropOldest drops the event that has been queued longest, whatever its
	// priority, and queues the new one: freshness first. With priorities
	// enabled it can drop a High event to make room for a Low one; use
	// DropLowPri to protect High events. It is the zero value.
	DropOldest DropPolicy = iota

	// DropNewest refuses the new event and keeps the queue as it is. It does
	// not look at priorities either: a High event arriving at a queue full
	// of Low ones is refused; use DropLowPri to protect High events.
	DropNewest

	// DropLowPri drops the lowest-priority event among the queued ones and
	// the new one, the oldest among equals (the new event counts as the
	// newest). A High or Medium event is never dropped while a Low one is
	// queued, and a High one never while a Medium one is. DefaultConfig uses
	// it. With priorities disabled every event is Medium, so it drops the
	// oldest.
	DropLowPri

	// Block makes the publisher wait for room, however long it takes; the
	// policy itself drops nothing, and Config.TimeoutDuration does not
	// apply. Publish waits until there is room or the bus shuts down;
	// PublishContext also gives up when its context is done, and then its
	// own event counts as dropped with the context's error. Waiting
	// publishers are admitted by priority, first come first served among
	// equals. The queue is shared by all levels, so under a flood of Low
	// events a High publisher waits too, though it is admitted first.
	//
	// A handler that publishes to its own bus under Block can wait for room
	// that only its own worker would make; if every worker does that at
	// once, the bus deadlocks until shutdown. Publish from handlers with a
	// context, or use a drop policy.
	Block
)

func (p DropPolicy) valid() bool { return p >= DropOldest && p <= Block }

// String returns the policy's name, such as "drop-oldest", or
// "DropPolicy(n)" for a value that is not a policy.
func (p DropPolicy) String() string {
	switch p {
	case DropOldest:
		return "drop-oldest"
	case DropNewest:
		return "drop-newest"
	case DropLowPri:
		return "drop-lowpri"
	case Block:
		return "block"
	}
	return "DropPolicy(" + strconv.Itoa(int(p)) + ")"
}

// ParseDropPolicy returns the policy named s: one of the names String
// returns ("drop-oldest", "drop-newest", "drop-lowpri", "block"), in any
// case, or its number ("0" to "3"). Anything else is an error that quotes
// s and lists the names.
func ParseDropPolicy(s string) (DropPolicy, error) {
	for p := DropOldest; p <= Block; p++ {
		if strings.EqualFold(p.String(), s) || strconv.Itoa(int(p)) == s {
			return p, nil
		}
	}
	return 0, errors.New("eventbus: unknown drop policy " + strconv.Quote(s) + " (want drop-oldest, drop-newest, drop-lowpri or block)")
}

// MarshalText returns the policy's name, so that JSON and other text
// encodings show "drop-lowpri" rather than a number. A value that is not a
// policy is an error.
func (p DropPolicy) MarshalText() ([]byte, error) {
	if !p.valid() {
		return nil, errors.New("eventbus: cannot encode " + p.String())
	}
	return []byte(p.String()), nil
}

// UnmarshalText sets p from a name or number as ParseDropPolicy reads
// them, so that a DropPolicy works with flag.TextVar. On error p is
// unchanged.
func (p *DropPolicy) UnmarshalText(text []byte) error {
	v, err := ParseDropPolicy(string(text))
	if err == nil {
		*p = v
	}
	return err
}

// UnmarshalJSON accepts a JSON string (a name, as MarshalText writes it)
// or a JSON number (0 to 3), so that configurations written before
// policies were encoded by name still load. On error p is unchanged.
func (p *DropPolicy) UnmarshalJSON(data []byte) error {
	return unmarshalJSONText(data, p.UnmarshalText)
}

// unmarshalJSONText decodes a JSON string or number and passes its text to
// set.
func unmarshalJSONText(data []byte, set func([]byte) error) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case string:
		return set([]byte(v))
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<31 {
			return set([]byte(strconv.Itoa(int(v))))
		}
	}
	return errors.New("eventbus: want a name or a small integer, got " + string(data))
}
