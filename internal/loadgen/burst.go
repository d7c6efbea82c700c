package loadgen

import (
	"context"
	"math"
	"strconv"

	"github.com/brummer-dev/eventbus"
)

// Burst is Events events from Publishers goroutines, each publishing its
// share as fast as it can, until the share is sent or the context of Run
// is done.
type Burst struct {
	Name       string
	Events     int
	Publishers int
	// Type returns the type of the seq-th event. The events are numbered
	// across publishers (publisher p sends p, p+P, p+2P, ...), so that a
	// mix defined on seq holds for any count. The event's ProcessID names
	// its publisher: proc-1, proc-2, ...
	Type func(seq int) eventbus.EventType
}

// LoadTable is the load table of the design research (docs/design-research.md): bursts of the TableMix,
// smallest first.
var LoadTable = []Burst{
	{Name: "small", Events: 1_000, Publishers: 10, Type: TableMix},
	{Name: "medium", Events: 10_000, Publishers: 50, Type: TableMix},
	{Name: "heavy", Events: 100_000, Publishers: 100, Type: TableMix},
	{Name: "burst", Events: 50_000, Publishers: 500, Type: TableMix},
}

// TableMix is the mix of the load table: of every 100 events one
// process.exited (high priority), four build.event (medium) and 95
// log.line (low).
func TableMix(seq int) eventbus.EventType {
	switch {
	case seq%100 == 99:
		return eventbus.ProcessExited
	case seq%20 == 19:
		return eventbus.BuildEvent
	}
	return eventbus.LogLine
}

// Only returns a mix of a single type.
func Only(t eventbus.EventType) func(int) eventbus.EventType {
	return func(int) eventbus.EventType { return t }
}

// Scaled returns the burst with its event count multiplied by factor, at
// least one event.
func (b Burst) Scaled(factor float64) Burst {
	b.Events = max(int(math.Round(float64(b.Events)*factor)), 1)
	return b
}

func (b Burst) jobs() []job {
	n, pubs := b.Events, min(b.Publishers, max(b.Events, 1))
	jobs := make([]job, pubs)
	for i := range jobs {
		process := "proc-" + strconv.Itoa(i+1)
		jobs[i] = func(ctx context.Context, send func(eventbus.Event)) {
			done := ctx.Done()
			for seq := i; seq < n && !stopped(done); seq += pubs {
				send(eventbus.Event{Type: b.Type(seq), ProcessID: process})
			}
		}
	}
	return jobs
}
