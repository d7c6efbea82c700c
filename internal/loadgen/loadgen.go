// Package loadgen makes the event traffic that the load tool
// (cmd/eventbus-load) and the peer comparison (bench/) put on a bus: a
// Burst, published as fast as the publishers can, and a Flood, the paced
// log lines of a busy development server with process, error and build
// events mixed in. Both programs drive their buses with it, so that a
// scenario is written once and means the same in both.
//
// It uses only the standard library and the bus's public API (Event, the
// event types and DefaultPriority), so that it drives any implementation
// the same way: a Generator only calls the Publish function it is given.
package loadgen

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brummer-dev/eventbus"
)

// Levels is the number of priority levels. Events are counted by the level
// of their type's DefaultPriority, at index Level(type).
const Levels = 3

// Level returns the index, 0 (low) to 2 (high), of the level that
// eventbus.DefaultPriority gives t.
func Level(t eventbus.EventType) int { return int(eventbus.DefaultPriority(t)) - 1 }

// SlowPublish is the time inside one Publish call above which a publisher
// counts as held up by the bus (Totals.Slow).
const SlowPublish = time.Millisecond

// Publish hands one event to the bus under test. It is called from many
// goroutines at once, with the context given to Generator.Run.
type Publish func(ctx context.Context, ev eventbus.Event)

// Load is the traffic a Generator makes: a Burst or a Flood.
type Load interface {
	// jobs returns the body of each publishing goroutine.
	jobs() []job
}

// job is the body of one publishing goroutine. It publishes through send
// until its load is done or ctx is.
type job func(ctx context.Context, send func(eventbus.Event))

// Generator runs the publishers of a load against one bus.
type Generator struct {
	jobs    []job
	pubs    []publisher
	publish Publish
	timed   bool
}

// publisher is what one publishing goroutine counted. Only it writes the
// fields, except sent, which Generator.Published reads while it runs.
type publisher struct {
	sent      atomic.Int64
	published [Levels]int64
	busy      time.Duration
	longest   time.Duration
	slow      int64
	_         [64]byte // keep the next publisher's counts off this cache line
}

// New returns a generator that publishes load through publish. When timed
// is set, each event is stamped with the time just before its Publish call
// (Event.Timestamp, from which a handler can tell how long the event
// waited) and the call is timed. Leave it unset to measure the publish path
// alone, which two clock reads per event would weigh on.
func New(load Load, publish Publish, timed bool) *Generator {
	jobs := load.jobs()
	return &Generator{jobs: jobs, pubs: make([]publisher, len(jobs)), publish: publish, timed: timed}
}

// Publishers returns the number of goroutines Run starts.
func (g *Generator) Publishers() int { return len(g.jobs) }

// Published returns the number of events published so far. It may be
// called while Run runs, for a progress line.
func (g *Generator) Published() int64 {
	var n int64
	for i := range g.pubs {
		n += g.pubs[i].sent.Load()
	}
	return n
}

// Totals is what a run of a Generator published and what publishing cost.
type Totals struct {
	// Published counts the events by level (see Level).
	Published [Levels]int64
	// Started is when the publishers were let go, all at once; Took is the
	// time from then until the last of them returned.
	Started time.Time
	Took    time.Duration
	// Busy is the time all publishers spent inside Publish, Longest the
	// longest call and Slow the number of calls over SlowPublish. They are
	// zero unless the generator is timed.
	Busy    time.Duration
	Longest time.Duration
	Slow    int64
}

// All returns the number of events published, over every level.
func (t Totals) All() int64 {
	var n int64
	for _, p := range t.Published {
		n += p
	}
	return n
}

// MeanCost returns the mean time of a Publish call, or 0.
func (t Totals) MeanCost() time.Duration {
	if n := t.All(); n > 0 {
		return t.Busy / time.Duration(n)
	}
	return 0
}

// Run starts every publisher and returns when all have returned. The
// publishers wait at a gate until all are started, so that they begin
// together; ready, when not nil, is called just before the gate opens,
// when every publishing goroutine exists. When ctx is done the publishers
// stop; ctx is also the context of every Publish call. A Generator runs
// once.
func (g *Generator) Run(ctx context.Context, ready func()) Totals {
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i, body := range g.jobs {
		p := &g.pubs[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			body(ctx, func(ev eventbus.Event) { g.send(ctx, p, ev) })
		}()
	}
	if ready != nil {
		ready()
	}
	t := Totals{Started: time.Now()}
	close(gate)
	wg.Wait()
	t.Took = time.Since(t.Started)
	for i := range g.pubs {
		p := &g.pubs[i]
		for l := range Levels {
			t.Published[l] += p.published[l]
		}
		t.Busy += p.busy
		t.Longest = max(t.Longest, p.longest)
		t.Slow += p.slow
	}
	return t
}

// send publishes ev for publisher p and counts it.
func (g *Generator) send(ctx context.Context, p *publisher, ev eventbus.Event) {
	p.published[Level(ev.Type)]++
	p.sent.Add(1)
	if !g.timed {
		g.publish(ctx, ev)
		return
	}
	t0 := time.Now()
	ev.Timestamp = t0
	g.publish(ctx, ev)
	d := time.Since(t0)
	p.busy += d
	p.longest = max(p.longest, d)
	if d > SlowPublish {
		p.slow++
	}
}

// stopped reports whether done is closed, without waiting.
func stopped(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}
