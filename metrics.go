package eventbus

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// MetricsSnapshot is a copy of the bus's figures at one moment. It shares
// nothing with the bus: a caller may keep it and read it at leisure.
//
// The counts are always kept. Published, processed and dropped obey
// EventsPublished == EventsProcessed + EventsDropped + EventsPending, and
// EventsPending is 0 whenever the bus is quiet (nothing queued or running).
// The timing figures (AvgProcessingTime, Wait, WorkerUtilization,
// QueueDepthHistory) are only recorded with Config.MonitoringEnabled; without
// it they are zero and MonitoringEnabled is false.
type MetricsSnapshot struct {
	Time              time.Time `json:"time"`
	MonitoringEnabled bool      `json:"monitoring_enabled"`
	// Workers is the pool's size now: the workers that take events (a
	// dynamic pool's current size; a stuck worker that was replaced no
	// longer counts).
	Workers int `json:"workers"`
	// ScaleUps and ScaleDowns count the changes of the pool's size, by the
	// scaler of a dynamic pool or by Resize; Resizes lists the latest ones,
	// the oldest first.
	ScaleUps      int64         `json:"scale_ups"`
	ScaleDowns    int64         `json:"scale_downs"`
	Resizes       []ResizeEvent `json:"resizes"`
	QueueCapacity int           `json:"queue_capacity"`

	// EventsPublished counts every event handed to a publish call.
	EventsPublished int64 `json:"events_published"`
	// EventsProcessed counts events whose handlers have all run (an event
	// with no handler counts when published).
	EventsProcessed int64 `json:"events_processed"`
	// EventsDropped counts events dropped for any reason; Drops says why.
	EventsDropped int64 `json:"events_dropped"`
	// EventsPending counts events queued or being handled.
	EventsPending int64 `json:"events_pending"`
	// PublishersWaiting is the number of publish calls waiting for room
	// in a full queue now (under Block, or within TimeoutDuration).
	PublishersWaiting int `json:"publishers_waiting"`
	// HandlerPanics counts handler invocations that panicked or called
	// runtime.Goexit.
	HandlerPanics int64 `json:"handler_panics"`

	Drops DropCounts `json:"drops"`

	// SlowHandlers counts the handler calls the watchdog reported as
	// running longer than Config.HandlerTimeout; WorkersReplaced counts the
	// workers it started in place of stuck ones, and StuckWorkers is the
	// number of those stuck workers whose handler has not returned yet.
	SlowHandlers    int64 `json:"slow_handlers"`
	WorkersReplaced int64 `json:"workers_replaced"`
	StuckWorkers    int   `json:"stuck_workers"`

	// QueueDepth is the number of events queued now, per priority.
	QueueDepth PriorityCounts `json:"queue_depth"`

	// AvgProcessingTime is the moving average of the time a worker spends on
	// one event (all its handlers): each worker keeps an exponential moving
	// average with alpha 0.1 over its events, and this is the mean of the
	// workers' averages. When a worker takes several fast events at once,
	// each counts with their mean time.
	AvgProcessingTime time.Duration `json:"avg_processing_time_ns"`
	// Wait is the time from publish until a worker takes the event, per
	// priority, over the bus's whole life; WaitSince gives it for the
	// interval between two snapshots. (A worker takes several events at
	// once only while handlers are fast; see the package documentation.)
	Wait PriorityWaits `json:"wait"`
	// WorkerUtilization is, per worker, the share of the last sampling
	// window (Config.MetricsWindow) it spent handling events, 0 to 1. An
	// event still running counts up to the window's end, so a worker held
	// by a stuck handler reads 1. Before the first window closes it covers
	// the time since the bus started; once the bus has shut down and its
	// workers have exited, it is 0.
	WorkerUtilization []float64 `json:"worker_utilization"`
	// QueueDepthHistory holds the queue depth sampled once per window, the
	// oldest first, at most MetricsHistory samples.
	QueueDepthHistory []DepthSample `json:"queue_depth_history"`

	// Subscriptions holds the figures of every subscription that has not
	// ended, sorted by name (see SubscriptionStats).
	Subscriptions []SubscriptionStats `json:"subscriptions"`
	// EndedSubscriptions holds, per name, the totals of the subscriptions
	// that have ended, sorted by name: with Subscriptions, the per-name
	// counts never go backwards as subscriptions come and go. An ended
	// subscription's deliveries still running or waiting to be skipped
	// show as Pending here until they finish.
	EndedSubscriptions []SubscriptionStats `json:"ended_subscriptions"`

	waits waitTotals // the histograms behind Wait, for WaitSince
}

// PriorityCounts is a count per priority level.
type PriorityCounts struct {
	Low    int64 `json:"low"`
	Medium int64 `json:"medium"`
	High   int64 `json:"high"`
}

// Total returns Low + Medium + High.
func (c PriorityCounts) Total() int64 { return c.Low + c.Medium + c.High }

// DropCounts says why and at which priority events were dropped. The
// reasons add up to MetricsSnapshot.EventsDropped, and so do the
// priorities.
type DropCounts struct {
	QueueFull       int64          `json:"queue_full"`
	Shutdown        int64          `json:"shutdown"`
	Context         int64          `json:"context"`
	InvalidPriority int64          `json:"invalid_priority"`
	ByPriority      PriorityCounts `json:"by_priority"`
	// Unreported counts the drops that were not passed to Config.OnDrop
	// because too many OnDrop calls were in progress at once, as when an
	// OnDrop publishes and its publish is dropped in turn (see
	// Config.OnDrop). They are counted above like any other drop.
	Unreported int64 `json:"unreported"`
}

// PriorityWaits holds the wait figures of each priority level.
type PriorityWaits struct {
	Low    WaitStats `json:"low"`
	Medium WaitStats `json:"medium"`
	High   WaitStats `json:"high"`
}

// WaitStats summarises the waits from publish to handler start of the
// events a level has had since the bus started. The percentiles come from
// a histogram whose buckets double in width from 1µs, so each is an upper
// bound at most twice the true value (and exact to the bucket).
type WaitStats struct {
	Count int64         `json:"count"`
	P50   time.Duration `json:"p50_ns"`
	P95   time.Duration `json:"p95_ns"`
	P99   time.Duration `json:"p99_ns"`
	Max   time.Duration `json:"max_ns"`
}

// DepthSample is the queue depth per priority at one moment.
type DepthSample struct {
	Time  time.Time      `json:"time"`
	Depth PriorityCounts `json:"depth"`
}

// MetricsHistory is the number of samples QueueDepthHistory keeps.
const MetricsHistory = 60

// defaultMetricsWindow is the sampling window when Config.MetricsWindow
// is 0.
const defaultMetricsWindow = time.Second

// dropCounts are the drop counters, one per reason and priority, so that a
// snapshot derives the totals by reason and by priority from the same
// reads and they always agree. Drops are the exception, so plain shared
// atomics serve.
type dropCounts struct {
	n [numDropReasons][numLevels]atomic.Int64
	// evicted counts, per WaitIdle parity, dropped events that had been
	// queued; WaitIdle counts them as finished.
	evicted [2]atomic.Int64
	// rejected counts dropped events that were never queued. It is counted
	// before the drop's cell, so a snapshot that sees the drop sees it too.
	rejected atomic.Int64
	// unreported counts drops not passed to OnDrop (see maxDropReports).
	unreported atomic.Int64
}

const (
	reasonQueueFull = iota
	reasonShutdown
	reasonContext
	reasonInvalid
	numDropReasons
)

func (d *dropCounts) record(p Priority, reason error) {
	r := reasonContext
	switch {
	case errors.Is(reason, ErrQueueFull):
		r = reasonQueueFull
	case errors.Is(reason, ErrEventBusShutdown):
		r = reasonShutdown
	case errors.Is(reason, ErrInvalidPriority):
		r = reasonInvalid
	}
	d.n[r][p-1].Add(1)
}

func (d *dropCounts) snapshot() (c DropCounts, total int64) {
	var byReason [numDropReasons]int64
	var byPrio [numLevels]int64
	for r := range d.n {
		for lv := range d.n[r] {
			v := d.n[r][lv].Load()
			byReason[r] += v
			byPrio[lv] += v
			total += v
		}
	}
	c.QueueFull = byReason[reasonQueueFull]
	c.Shutdown = byReason[reasonShutdown]
	c.Context = byReason[reasonContext]
	c.InvalidPriority = byReason[reasonInvalid]
	c.ByPriority = PriorityCounts{Low: byPrio[0], Medium: byPrio[1], High: byPrio[2]}
	c.Unreported = d.unreported.Load()
	return c, total
}

// Metrics returns a snapshot of the bus's figures. It takes the queue's
// lock for a moment and reads every worker's counters; it may be called at
// any time, also after Shutdown.
func (b *EventBus) Metrics() MetricsSnapshot {
	m := MetricsSnapshot{
		Time:              time.Now(),
		MonitoringEnabled: b.mon != nil,
		QueueCapacity:     b.cfg.QueueSize,
	}
	// Read the later stages first: an event moving along while we read is
	// then counted at an earlier stage, never twice, and pending is never
	// negative. Published is a sum of counts that only grow, read once
	// each, so no snapshot's is below an earlier one's.
	processed := b.pool.processed(-1) + b.unrouted.Load()
	drops, dropped := b.drops.snapshot()
	depth, admitted, waiting := b.q.counts()
	rejected := b.drops.rejected.Load()
	unrouted := b.unrouted.Load()

	m.EventsProcessed = processed
	m.EventsDropped = dropped
	m.Drops = drops
	m.EventsPublished = admitted + rejected + unrouted
	m.EventsPending = max(m.EventsPublished-processed-dropped, 0)
	m.HandlerPanics = b.pool.tally.panics()
	b.sizer.fill(&m)
	if b.wd != nil {
		m.SlowHandlers = b.wd.slow.Load()
		m.WorkersReplaced = b.wd.replaced.Load()
		m.StuckWorkers = int(b.wd.stuck.Load())
	}
	m.PublishersWaiting = waiting
	m.Subscriptions, m.EndedSubscriptions = b.subs.snapshot()
	m.QueueDepth = PriorityCounts{Low: int64(depth[0]), Medium: int64(depth[1]), High: int64(depth[2])}
	if b.mon != nil {
		b.mon.fill(&m)
	}
	return m
}

// GetStats returns the main figures as a map, under the keys of the design
// research this package comes from: "events_processed", "events_dropped"
// (int64), "avg_processing_time" (time.Duration) and "current_queue_depth"
// (int, the number of events queued now), plus "events_published",
// "handler_panics" and "workers".
func (b *EventBus) GetStats() map[string]interface{} {
	m := b.Metrics()
	return map[string]interface{}{
		"events_published":    m.EventsPublished,
		"events_processed":    m.EventsProcessed,
		"events_dropped":      m.EventsDropped,
		"handler_panics":      m.HandlerPanics,
		"avg_processing_time": m.AvgProcessingTime,
		"current_queue_depth": int(m.QueueDepth.Total()),
		"workers":             m.Workers,
	}
}

// monotime returns the time since the package was loaded in nanoseconds,
// from the monotonic clock. time.Since reads only the monotonic clock,
// about half the cost of time.Now, which reads the wall clock too.
func monotime() int64 { return int64(time.Since(clockBase)) }

var clockBase = time.Now()

func monotimeOf(t time.Time) int64 { return int64(t.Sub(clockBase)) }

// workerStats is one worker's share of the monitoring figures. Only the
// goroutine running the worker writes it, each figure with one atomic
// store to a cache line no other worker writes, so recording costs no lock
// and no contended write. It is updated once per batch (see batch) with
// two clock reads. (The waits, counted per event, go to the worker's tally
// shard.)
type workerStats struct {
	// busyWord encodes the worker's busy time so that the sampler can read
	// it, including a batch in progress, with one load: when idle it is
	// the total busy nanoseconds (>= 0); inside a batch that began at t0
	// it is busy - t0 - 1 (< 0), so the busy time at T is word + 1 + T.
	busyWord atomic.Int64
	busy     int64 // total busy nanoseconds, owned by the worker
	ema      ema
}

// beginBatch records that the worker is busy from start on.
func (s *workerStats) beginBatch(start int64) {
	s.busyWord.Store(s.busy - start - 1)
}

// endBatch records a view of n handler calls that ran from start to now:
// each call counts in the moving average with the view's mean time.
func (s *workerStats) endBatch(start, now int64, n int) {
	d := now - start
	s.ema.addN(float64(d)/float64(max(n, 1)), n)
	s.busy += d
	s.busyWord.Store(s.busy)
}

// busyAt returns the worker's total busy time at monotime now.
func (s *workerStats) busyAt(now int64) int64 {
	w := s.busyWord.Load()
	if w >= 0 {
		return w
	}
	return w + 1 + now
}

// ema is an exponential moving average with alpha 0.1 whose value can be
// read from any goroutine while one goroutine adds to it. The first value
// added is taken as is.
type ema struct {
	bits atomic.Uint64 // math.Float64bits of the average; 0 before any value
	v    float64       // the writer's copy
	set  bool
}

const emaAlpha = 0.1

func (e *ema) add(x float64) {
	if e.set {
		e.v = e.v*(1-emaAlpha) + x*emaAlpha
	} else {
		e.v, e.set = x, true
	}
	e.bits.Store(math.Float64bits(e.v))
}

// addN adds x n times, in one step.
func (e *ema) addN(x float64, n int) {
	if n <= 0 {
		return
	}
	if !e.set {
		e.add(x)
		n--
	}
	var keep float64 // (1-alpha)^n
	if n < len(emaKeep) {
		keep = emaKeep[n]
	} else {
		keep = math.Pow(1-emaAlpha, float64(n))
	}
	e.v = e.v*keep + x*(1-keep)
	e.bits.Store(math.Float64bits(e.v))
}

// emaKeep[n] is (1-alpha)^n, the weight the average keeps over n values,
// for the n of most views.
var emaKeep = func() (k [8 * maxBatch]float64) {
	k[0] = 1
	for n := 1; n < len(k); n++ {
		k[n] = k[n-1] * (1 - emaAlpha)
	}
	return k
}()

// value returns the average and whether any value was added.
func (e *ema) value() (float64, bool) {
	b := e.bits.Load()
	return math.Float64frombits(b), b != 0
}

// monitor runs the sampler that turns the workers' busy time into
// utilization and keeps the queue depth history. Its own state is guarded
// by mu, which only the sampler and Metrics take.
type monitor struct {
	bus     *EventBus
	sampler *background

	mu      sync.Mutex // guards the fields below and the workers' util and prevBusy
	prevT   int64
	history [MetricsHistory]DepthSample
	nhist   int // samples taken, of which the last MetricsHistory are kept
}

func newMonitor(b *EventBus) *monitor {
	m := &monitor{bus: b, prevT: monotime()}
	m.sampler = every(b.cfg.MetricsWindow, m.sample)
	return m
}

// stopped reports whether the bus has shut down and its workers exited.
func (m *monitor) stopped() bool {
	select {
	case <-m.bus.pool.stopped:
		return true
	default:
		return false
	}
}

// stop ends the sampler and waits for it.
func (m *monitor) stop() { m.sampler.stop() }

// sample closes a window: utilization per worker over it, and one depth
// sample.
func (m *monitor) sample() { m.sampleAt(monotime(), time.Now()) }

// sampleAt closes the window that ends at monotime now (wall is the same
// moment on the wall clock, for the depth sample).
func (m *monitor) sampleAt(now int64, wall time.Time) {
	depth, _, _ := m.bus.q.counts()
	m.mu.Lock()
	defer m.mu.Unlock()
	span := float64(now - m.prevT)
	for _, w := range m.bus.pool.slots() {
		busy := w.stats.busyAt(now)
		if span > 0 {
			w.util = share(busy-w.prevBusy, span)
		}
		w.prevBusy = busy
	}
	m.prevT = now
	m.history[m.nhist%MetricsHistory] = DepthSample{
		Time:  wall,
		Depth: PriorityCounts{Low: int64(depth[0]), Medium: int64(depth[1]), High: int64(depth[2])},
	}
	m.nhist++
}

// fill adds the monitoring figures to a snapshot.
func (m *monitor) fill(s *MetricsSnapshot) {
	var sum float64
	var n int
	s.waits = m.bus.pool.tally.waitTotals()
	slots := m.bus.pool.slots()
	for _, w := range slots {
		if v, ok := w.stats.ema.value(); ok {
			sum += v
			n++
		}
	}
	if n > 0 {
		s.AvgProcessingTime = time.Duration(sum / float64(n))
	}
	s.Wait = s.waits.stats()

	m.mu.Lock()
	defer m.mu.Unlock()
	s.WorkerUtilization = make([]float64, len(slots))
	switch {
	case m.stopped():
		// A stopped pool is not busy, whatever its last window said.
	case m.nhist == 0:
		// No window has closed yet: report the one in progress rather
		// than zeros that read as an idle pool.
		now := monotime()
		if span := float64(now - m.prevT); span > 0 {
			for i, w := range slots {
				s.WorkerUtilization[i] = share(w.stats.busyAt(now)-w.prevBusy, span)
			}
		}
	default:
		for i, w := range slots {
			s.WorkerUtilization[i] = w.util
		}
	}
	kept := min(m.nhist, MetricsHistory)
	s.QueueDepthHistory = make([]DepthSample, 0, kept)
	for i := m.nhist - kept; i < m.nhist; i++ {
		s.QueueDepthHistory = append(s.QueueDepthHistory, m.history[i%MetricsHistory])
	}
}

// share returns busy/span clamped to 0..1.
func share(busy int64, span float64) float64 {
	return min(max(float64(busy)/span, 0), 1)
}
