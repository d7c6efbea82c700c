package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brummer-dev/eventbus"
)

// scenario is one load: a burst of events from the load table, or the
// paced flood.
type scenario struct {
	name       string
	events     int // load table: events in all
	publishers int // load table: goroutines publishing them
	flood      bool
}

// loadTable is the seed's load table, then the flood.
var loadTable = []scenario{
	{name: "small", events: 1_000, publishers: 10},
	{name: "medium", events: 10_000, publishers: 50},
	{name: "heavy", events: 100_000, publishers: 100},
	{name: "burst", events: 50_000, publishers: 500},
	{name: "flood", flood: true},
}

func scenarioNames() []string {
	var names []string
	for _, s := range loadTable {
		names = append(names, s.name)
	}
	return names
}

func scenarioByName(name string) *scenario {
	for i := range loadTable {
		if loadTable[i].name == name {
			return &loadTable[i]
		}
	}
	return nil
}

// The flood's traffic, besides the log lines whose rate is set by a flag.
const (
	floodLogPublishers = 4                     // processes printing logs, one goroutine each
	floodTick          = 2 * time.Millisecond  // log publishers publish what is due every tick
	floodProcessEvery  = 5 * time.Millisecond  // a process.started or process.exited
	floodErrorEvery    = 50 * time.Millisecond // an error.detected
	floodBuildEvery    = 25 * time.Millisecond // a build.event
)

// Event classes are priority levels: index = eventbus.Priority - 1.
const numClasses = 3

var classNames = [numClasses]string{"low", "medium", "high"}

// classOf is the level of an event type by DefaultPriority. The tool sets
// no Config.Priorities, so with priorities on it is the level the bus
// queues the event at; with them off the bus treats every event as medium,
// and the figures stay per type's level so that they can be compared.
func classOf(t eventbus.EventType) int { return int(eventbus.DefaultPriority(t)) - 1 }

// tableEvent returns the seq-th event of a load-table scenario: of every
// 100, one process.exited (high), four build.event (medium), the rest
// log.line (low).
func tableEvent(seq int, process string) eventbus.Event {
	t := eventbus.LogLine
	switch {
	case seq%100 == 99:
		t = eventbus.ProcessExited
	case seq%20 == 19:
		t = eventbus.BuildEvent
	}
	return eventbus.Event{Type: t, ProcessID: process}
}

// runSpec is one run to make.
type runSpec struct {
	sc       scenario
	events   int           // load table: after -scale
	duration time.Duration // flood
	logRate  float64       // flood: log lines per second, all publishers together
	cfg      eventbus.Config
	naive    bool // a goroutine per event instead of the bus
	prof     *profile
}

// label names the run in progress lines.
func (s runSpec) label() string {
	l := s.sc.name
	if s.naive {
		l += " (naive)"
	} else {
		l += " w=" + strconv.Itoa(s.cfg.Workers)
	}
	return l
}

// waitFigures are the waits of one level measured by the tool's handler,
// from Event.Timestamp (set just before Publish) to the handler's start.
type waitFigures struct {
	Count int64         `json:"count"`
	P50   time.Duration `json:"p50_ns"`
	P99   time.Duration `json:"p99_ns"`
	Max   time.Duration `json:"max_ns"`
}

// classResult are the figures of one priority level.
type classResult struct {
	Published int64              `json:"published"`
	Delivered int64              `json:"delivered"`
	Dropped   int64              `json:"dropped"`
	Wait      waitFigures        `json:"wait"`
	BusWait   eventbus.WaitStats `json:"bus_wait"` // Metrics().Wait of the bus level; zero for naive
}

// check is one accounting check.
type check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// result is what one run measured.
type result struct {
	Scenario   string        `json:"scenario"`
	Bus        string        `json:"bus"` // "eventbus" or "naive"
	Workers    int           `json:"workers,omitempty"`
	Queue      int           `json:"queue,omitempty"`
	Policy     string        `json:"policy,omitempty"`
	Priority   bool          `json:"priority"`
	Publishers int           `json:"publishers"`
	Planned    int           `json:"planned_events,omitempty"` // load table
	Duration   time.Duration `json:"flood_duration_ns,omitempty"`
	LogRate    float64       `json:"flood_log_rate,omitempty"` // log lines/s offered

	Elapsed     time.Duration `json:"elapsed_ns"`    // first publish to idle
	PublishTime time.Duration `json:"publishing_ns"` // first publish to last
	Interrupted bool          `json:"interrupted"`

	Published    int64   `json:"published"`
	Delivered    int64   `json:"delivered"`
	Dropped      int64   `json:"dropped"`
	EventsPerSec float64 `json:"events_per_sec"`  // delivered per second of Elapsed
	OfferedPerS  float64 `json:"offered_per_sec"` // published per second of PublishTime

	PublishMean time.Duration `json:"publish_mean_ns"` // mean time of a Publish call
	PublishMax  time.Duration `json:"publish_max_ns"`

	Drops   eventbus.DropCounts       `json:"drops"`
	Classes [numClasses]classResult   `json:"-"`
	ByLevel map[string]classResult    `json:"priorities"`
	Metrics *eventbus.MetricsSnapshot `json:"bus_metrics,omitempty"`

	PeakGoroutines int    `json:"peak_goroutines"` // started by the run, at most at once
	BaseGoroutines int    `json:"base_goroutines"` // the tool's own, before the run
	PeakHeap       uint64 `json:"peak_heap_bytes"` // live heap at most, absolute
	BaseHeap       uint64 `json:"base_heap_bytes"` // live heap at the start, after a GC

	Checks []check `json:"checks"`
	Err    string  `json:"error,omitempty"`
}

// ok reports whether every check passed.
func (r *result) ok() bool {
	if r.Err != "" {
		return false
	}
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// recorder is the handler side of a run: what was delivered, how long it
// waited, and what was dropped.
type recorder struct {
	prof      *profile
	calls     atomic.Uint64
	delivered [numClasses]atomic.Int64
	dropped   [numClasses]atomic.Int64
	mu        [numClasses]sync.Mutex
	waits     [numClasses][]time.Duration
}

// handle is the handler: it measures the wait, does the profile's work,
// and counts the event as delivered.
func (r *recorder) handle(ev eventbus.Event) {
	wait := time.Since(ev.Timestamp)
	c := classOf(ev.Type)
	r.mu[c].Lock()
	r.waits[c] = append(r.waits[c], wait)
	r.mu[c].Unlock()
	r.prof.work(r.calls.Add(1))
	r.delivered[c].Add(1)
}

func (r *recorder) onDrop(ev eventbus.Event, _ error) { r.dropped[classOf(ev.Type)].Add(1) }

// publisher is one publishing goroutine's counts. Only it writes them,
// except total, which the progress line reads.
type publisher struct {
	total     atomic.Int64
	published [numClasses]int64
	costSum   time.Duration
	costMax   time.Duration
	_         [64]byte // keep the next publisher's counts off this cache line
}

// sink is where events go: the bus, or a goroutine per event.
type sink interface {
	publish(ctx context.Context, ev eventbus.Event)
}

// publish sends ev, stamped with the time just before the call, and times
// the call.
func (p *publisher) publish(ctx context.Context, s sink, ev eventbus.Event) {
	p.published[classOf(ev.Type)]++
	p.total.Add(1)
	t0 := time.Now()
	ev.Timestamp = t0
	s.publish(ctx, ev)
	d := time.Since(t0)
	p.costSum += d
	p.costMax = max(p.costMax, d)
}

type busSink struct{ bus *eventbus.EventBus }

func (s busSink) publish(ctx context.Context, ev eventbus.Event) { _ = s.bus.PublishContext(ctx, ev) }

// naiveSink is the bus that starts a goroutine per event, as Brummer's
// pkg/events does today.
type naiveSink struct {
	wg sync.WaitGroup
	h  eventbus.Handler
}

func (s *naiveSink) publish(_ context.Context, ev eventbus.Event) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.h(ev)
	}()
}

// liveRun is a run in progress, for the progress line.
type liveRun struct {
	pubs  []*publisher
	rec   *recorder
	start time.Time
}

func (l *liveRun) status() string {
	var pub int64
	for _, p := range l.pubs {
		pub += p.total.Load()
	}
	var del, drop int64
	for c := range numClasses {
		del += l.rec.delivered[c].Load()
		drop += l.rec.dropped[c].Load()
	}
	return fmt.Sprintf("%s published, %s delivered, %s dropped, %.1fs",
		fmtCount(pub), fmtCount(del), fmtCount(drop), time.Since(l.start).Seconds())
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
	res := &result{
		Scenario: spec.sc.name,
		Bus:      "eventbus",
		Priority: spec.cfg.EnablePriority,
	}
	if spec.naive {
		res.Bus = "naive"
	}
	if spec.sc.flood {
		res.Duration, res.LogRate = spec.duration, spec.logRate
	} else {
		res.Planned = spec.events
	}

	runtime.GC() // start each run from a collected heap
	baseG := runtime.NumGoroutine()

	var s sink
	var bus *eventbus.EventBus
	if spec.naive {
		s = &naiveSink{h: rec.handle}
	} else {
		cfg := spec.cfg
		cfg.OnDrop = rec.onDrop
		var err error
		if bus, err = eventbus.NewEventBus(cfg); err != nil {
			res.Err = fmt.Sprintf("%v: %v", errNoBus, err)
			return res
		}
		bus.OnAll(rec.handle)
		got := bus.Config()
		res.Workers, res.Queue, res.Policy = got.Workers, got.QueueSize, got.BackpressureMode.String()
		s = busSink{bus}
	}

	smp := startSampler(samplerInterval)
	baseHeap := smp.heapNow()
	var pubs []*publisher
	var jobs []func(context.Context, *publisher)
	if spec.sc.flood {
		jobs = floodJobs(spec, s)
	} else {
		jobs = tableJobs(spec, s)
	}
	for range jobs {
		pubs = append(pubs, new(publisher))
	}
	res.Publishers = len(pubs)

	start := time.Now()
	if live != nil {
		live(&liveRun{pubs: pubs, rec: rec, start: start})
	}
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i, job := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			job(ctx, pubs[i])
		}()
	}
	smp.poke() // every publisher is started and waits at the gate
	close(gate)
	wg.Wait()
	pubEnd := time.Now()
	smp.poke() // for the naive bus, the handlers of the last events run

	// Wait until every event is handled or dropped, then stop the bus.
	// Interrupted, the bus gets a second to drain and drops the rest.
	var idle time.Time
	if spec.naive {
		s.(*naiveSink).wg.Wait() // a handler cannot be stopped; they all end soon
		idle = time.Now()
	} else {
		drainTimeout := 30 * time.Second
		if ctx.Err() == nil {
			_ = bus.WaitIdle(ctx)
		}
		if ctx.Err() != nil {
			drainTimeout = time.Second
		}
		idle = time.Now()
		sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		if err := bus.ShutdownContext(sctx); err != nil {
			res.Err = "the bus did not shut down in time: " + err.Error()
		}
		cancel()
	}
	peakG, peakHeap := smp.stop()

	res.Interrupted = ctx.Err() != nil
	res.Elapsed = idle.Sub(start)
	res.PublishTime = pubEnd.Sub(start)
	res.BaseGoroutines = baseG
	res.PeakGoroutines = max(peakG-baseG-1, 0) // without the sampler
	res.PeakHeap, res.BaseHeap = peakHeap, baseHeap

	var calls int64
	var costSum time.Duration
	for _, p := range pubs {
		for c := range numClasses {
			res.Classes[c].Published += p.published[c]
		}
		calls += p.total.Load()
		costSum += p.costSum
		res.PublishMax = max(res.PublishMax, p.costMax)
	}
	if calls > 0 {
		res.PublishMean = costSum / time.Duration(calls)
	}
	for c := range numClasses {
		cr := &res.Classes[c]
		cr.Delivered = rec.delivered[c].Load()
		cr.Dropped = rec.dropped[c].Load()
		rec.mu[c].Lock() // a handler that outlived a shutdown deadline may still append
		cr.Wait = waitsOf(slices.Clone(rec.waits[c]))
		rec.mu[c].Unlock()
		res.Published += cr.Published
		res.Delivered += cr.Delivered
		res.Dropped += cr.Dropped
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
		waits := [numClasses]eventbus.WaitStats{m.Wait.Low, m.Wait.Medium, m.Wait.High}
		for c := range numClasses {
			res.Classes[c].BusWait = waits[c]
		}
	}
	res.ByLevel = map[string]classResult{}
	for c := range numClasses {
		res.ByLevel[classNames[c]] = res.Classes[c]
	}
	res.Checks = accountingChecks(res)
	return res
}

// accountingChecks checks that every published event was delivered or
// dropped, by the tool's own counts per level and by the bus's.
func accountingChecks(r *result) []check {
	var checks []check
	own := check{Name: "published = delivered + dropped", OK: true}
	for c := numClasses - 1; c >= 0; c-- {
		cr := r.Classes[c]
		ok := cr.Published == cr.Delivered+cr.Dropped
		own.OK = own.OK && ok
		if own.Detail != "" {
			own.Detail += ", "
		}
		own.Detail += fmt.Sprintf("%s %d = %d + %d", classNames[c], cr.Published, cr.Delivered, cr.Dropped)
	}
	checks = append(checks, own)
	if m := r.Metrics; m != nil {
		checks = append(checks, check{
			Name: "bus: published = processed + dropped",
			OK: m.EventsPublished == m.EventsProcessed+m.EventsDropped && m.EventsPending == 0 &&
				m.EventsPublished == r.Published && m.EventsProcessed == r.Delivered && m.EventsDropped == r.Dropped,
			Detail: fmt.Sprintf("%d = %d + %d, pending %d (tool: %d = %d + %d)",
				m.EventsPublished, m.EventsProcessed, m.EventsDropped, m.EventsPending, r.Published, r.Delivered, r.Dropped),
		})
	}
	return checks
}

// waitsOf sorts d and returns its figures (nearest rank).
func waitsOf(d []time.Duration) waitFigures {
	if len(d) == 0 {
		return waitFigures{}
	}
	slices.Sort(d)
	return waitFigures{Count: int64(len(d)), P50: quantile(d, 0.50), P99: quantile(d, 0.99), Max: d[len(d)-1]}
}

// quantile returns the nearest-rank q-quantile of sorted samples.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// tableJobs returns the publishers of a load-table scenario: each sends its
// share of the events as fast as it can. The events are numbered across
// publishers (publisher p sends p, p+P, p+2P, ...), so the mix of types
// holds for any count.
func tableJobs(spec runSpec, s sink) []func(context.Context, *publisher) {
	n, pubs := spec.events, min(spec.sc.publishers, max(spec.events, 1))
	jobs := make([]func(context.Context, *publisher), pubs)
	for i := range jobs {
		process := "proc-" + strconv.Itoa(i+1)
		jobs[i] = func(ctx context.Context, p *publisher) {
			for seq := i; seq < n && ctx.Err() == nil; seq += pubs {
				p.publish(ctx, s, tableEvent(seq, process))
			}
		}
	}
	return jobs
}

// floodJobs returns the flood's publishers: four processes printing log
// lines at spec.logRate together, a process manager, an error detector and
// a build watcher, all for spec.duration.
func floodJobs(spec runSpec, s sink) []func(context.Context, *publisher) {
	var jobs []func(context.Context, *publisher)
	// Each source runs until the flood's time is up; the publish calls
	// themselves get the run's context, so a publisher waiting for room
	// under Block at the end still publishes its event.
	every := func(interval time.Duration, next func(n int) eventbus.Event) func(context.Context, *publisher) {
		return func(ctx context.Context, p *publisher) {
			fctx, cancel := context.WithTimeout(ctx, spec.duration)
			defer cancel()
			t := time.NewTicker(interval)
			defer t.Stop()
			for n := 0; ; n++ {
				select {
				case <-fctx.Done():
					return
				case <-t.C:
				}
				p.publish(ctx, s, next(n))
			}
		}
	}
	perPublisher := spec.logRate / floodLogPublishers
	for i := range floodLogPublishers {
		process := "proc-" + strconv.Itoa(i+1)
		jobs = append(jobs, func(ctx context.Context, p *publisher) {
			fctx, cancel := context.WithTimeout(ctx, spec.duration)
			defer cancel()
			t := time.NewTicker(floodTick)
			defer t.Stop()
			start := time.Now()
			var sent int64
			for {
				select {
				case <-fctx.Done():
					return
				case now := <-t.C:
					// Publish what is due by now rather than a fixed
					// batch, so that late ticks are made up for and
					// the rate holds.
					due := int64(now.Sub(start).Seconds() * perPublisher)
					for ; sent < due && fctx.Err() == nil; sent++ {
						p.publish(ctx, s, eventbus.Event{Type: eventbus.LogLine, ProcessID: process})
					}
				}
			}
		})
	}
	jobs = append(jobs,
		every(floodProcessEvery, func(n int) eventbus.Event {
			t := eventbus.ProcessStarted
			if n%2 == 1 {
				t = eventbus.ProcessExited
			}
			return eventbus.Event{Type: t, ProcessID: "job-" + strconv.Itoa(n/2)}
		}),
		every(floodErrorEvery, func(int) eventbus.Event {
			return eventbus.Event{Type: eventbus.ErrorDetected, ProcessID: "proc-1"}
		}),
		every(floodBuildEvery, func(int) eventbus.Event {
			return eventbus.Event{Type: eventbus.BuildEvent, ProcessID: "build"}
		}),
	)
	return jobs
}
