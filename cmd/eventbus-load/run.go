package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/brummer-dev/eventbus/internal/loadgen"
)

// recorder is the handler side of a run: what was delivered, how long it
// waited, and what was dropped.
type recorder struct {
	prof      *profile
	calls     atomic.Uint64
	delivered [loadgen.Levels]atomic.Int64
	dropped   [loadgen.Levels]atomic.Int64
	mu        [loadgen.Levels]sync.Mutex
	waits     [loadgen.Levels][]time.Duration
}

// handle is the handler: it measures the wait, does the profile's work,
// and counts the event as delivered. The tool sets no Config.Priorities,
// so an event's level is the one the bus queues it at; with priorities off
// the bus treats every event alike, and the figures stay per type's level
// so that they can be compared.
func (r *recorder) handle(ev eventbus.Event) {
	wait := time.Since(ev.Timestamp)
	l := loadgen.Level(ev.Type)
	r.mu[l].Lock()
	r.waits[l] = append(r.waits[l], wait)
	r.mu[l].Unlock()
	r.prof.work(r.calls.Add(1))
	r.delivered[l].Add(1)
}

func (r *recorder) onDrop(ev eventbus.Event, _ error) { r.dropped[loadgen.Level(ev.Type)].Add(1) }

// naiveBus is the bus that starts a goroutine per event, as Brummer's
// pkg/events does today.
type naiveBus struct {
	wg sync.WaitGroup
	h  eventbus.Handler
}

func (n *naiveBus) publish(_ context.Context, ev eventbus.Event) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.h(ev)
	}()
}

// liveRun is a run in progress, for the progress line.
type liveRun struct {
	gen   *loadgen.Generator
	rec   *recorder
	view  *tuiView // nil but in the tui scenario
	start time.Time
}

func (l *liveRun) status() string {
	var del, drop int64
	for i := range loadgen.Levels {
		del += l.rec.delivered[i].Load()
		drop += l.rec.dropped[i].Load()
	}
	renders := ""
	if l.view != nil {
		renders = fmtCount(l.view.renders.Load()) + " renders, "
	}
	return fmt.Sprintf("%s published, %s delivered, %s dropped, %s%.1fs",
		fmtCount(l.gen.Published()), fmtCount(del), fmtCount(drop), renders, time.Since(l.start).Seconds())
}

// errNoBus is the error of a run whose bus could not be made.
var errNoBus = errors.New("cannot start the bus")

// runOne makes one run. It returns when every event is delivered or
// dropped and every goroutine it started has exited. When ctx is done the
// publishers stop, the bus gets a second to drain, and the result is
// marked interrupted. live, when not nil, receives the run's progress
// source as soon as it starts.
func runOne(ctx context.Context, spec runSpec, live func(*liveRun)) *result {
	rec := &recorder{prof: spec.prof}
	res := &result{Scenario: spec.scenario, Bus: "eventbus", Priority: spec.cfg.EnablePriority}
	switch l := spec.load.(type) {
	case loadgen.Flood:
		res.Duration, res.LogRate = l.Duration, l.LogRate
	case loadgen.Burst:
		res.Planned = l.Events
	}

	runtime.GC() // start each run from a collected heap
	baseG := runtime.NumGoroutine()

	var publish loadgen.Publish
	var bus *eventbus.EventBus
	var naive *naiveBus
	var view *tuiView
	var viewSub *eventbus.Subscription
	if spec.naive {
		res.Bus = "naive"
		naive = &naiveBus{h: rec.handle}
		publish = naive.publish
	} else {
		cfg := spec.cfg
		cfg.OnDrop = rec.onDrop
		var err error
		if bus, err = eventbus.NewEventBus(cfg); err != nil {
			res.Err = fmt.Sprintf("%v: %v", errNoBus, err)
			return res
		}
		got := bus.Config()
		res.Workers, res.Queue, res.Policy = got.Workers, got.QueueSize, got.BackpressureMode.String()
		publish = func(ctx context.Context, ev eventbus.Event) { _ = bus.PublishContext(ctx, ev) }
		if spec.tui == tuiOff {
			bus.OnAll(rec.handle)
		} else {
			view = newTUIView(spec.tui, spec.tuiWindow, spec.tuiLines)
			bus.OnAll(func(ev eventbus.Event) {
				view.seen(ev)
				rec.handle(ev)
			})
			viewSub = view.subscribe(bus)
			publish = view.publishing(publish)
		}
	}

	smp := startSampler(samplerInterval)
	baseHeap := smp.heapNow()
	gen := loadgen.New(spec.load, publish, true)
	res.Publishers = gen.Publishers()
	start := time.Now()
	if live != nil {
		live(&liveRun{gen: gen, rec: rec, view: view, start: start})
	}
	// The sampler is poked when every publisher is started, a moment that
	// may be the peak, and when they are done, when the naive bus still
	// runs the handlers of the last events.
	tot := gen.Run(ctx, smp.poke)
	smp.poke()

	// Wait until every event is handled or dropped, then stop the bus.
	// Interrupted, the bus gets a second to drain and drops the rest.
	if spec.naive {
		naive.wg.Wait() // a handler cannot be stopped; they all end soon
	} else if ctx.Err() == nil {
		_ = bus.WaitIdle(ctx)
	}
	idle := time.Now()
	if bus != nil {
		drainTimeout := 30 * time.Second
		if ctx.Err() != nil {
			drainTimeout = time.Second
		}
		sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		if err := bus.ShutdownContext(sctx); err != nil {
			res.Err = "the bus did not shut down in time: " + err.Error()
		}
		cancel()
	}
	peakG, peakHeap := smp.stop()

	res.Interrupted = ctx.Err() != nil
	res.Elapsed = idle.Sub(start)
	res.PublishTime = tot.Started.Add(tot.Took).Sub(start)
	res.BaseGoroutines = baseG
	res.PeakGoroutines = max(peakG-baseG-1, 0) // without the sampler
	res.PeakHeap, res.BaseHeap = peakHeap, baseHeap
	res.PublishMean, res.PublishMax = tot.MeanCost(), tot.Longest

	for l := range loadgen.Levels {
		lr := &res.Levels[l]
		lr.Published = tot.Published[l]
		lr.Delivered = rec.delivered[l].Load()
		lr.Dropped = rec.dropped[l].Load()
		rec.mu[l].Lock() // a handler that outlived a shutdown deadline may still append
		lr.Wait = waitsOf(slices.Clone(rec.waits[l]))
		rec.mu[l].Unlock()
		res.Published += lr.Published
		res.Delivered += lr.Delivered
		res.Dropped += lr.Dropped
	}
	if s := res.Elapsed.Seconds(); s > 0 {
		res.EventsPerSec = float64(res.Delivered) / s
	}
	if s := res.PublishTime.Seconds(); s > 0 {
		res.OfferedPerS = float64(res.Published) / s
	}
	if bus != nil {
		m := bus.Metrics()
		res.Metrics = &m
		res.Drops = m.Drops
		waits := [loadgen.Levels]eventbus.WaitStats{m.Wait.Low, m.Wait.Medium, m.Wait.High}
		for l := range loadgen.Levels {
			res.Levels[l].BusWait = waits[l]
		}
	}
	res.ByLevel = map[string]levelResult{}
	for l := range loadgen.Levels {
		res.ByLevel[levelNames[l]] = res.Levels[l]
	}
	res.Checks = accountingChecks(res)
	if view != nil {
		res.TUI = view.result(viewSub.Stats(), res)
		res.Checks = append(res.Checks, tuiChecks(res)...)
	}
	return res
}
