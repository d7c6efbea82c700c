package eventbus

import (
	"context"
	"maps"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// EventType names a kind of event. Any string is a valid type; the
// constants below are the ones Brummer defines.
type EventType string

// The event types Brummer publishes most; DefaultPriority gives each its
// priority.
const (
	ProcessStarted  EventType = "process.started"
	ProcessExited   EventType = "process.exited"
	LogLine         EventType = "log.line"
	ErrorDetected   EventType = "error.detected"
	BuildEvent      EventType = "build.event"
	TestFailed      EventType = "test.failed"
	TestPassed      EventType = "test.passed"
	MCPActivity     EventType = "mcp.activity"
	MCPConnected    EventType = "mcp.connected"
	MCPDisconnected EventType = "mcp.disconnected"
)

// Event is what is published and what handlers receive. Publish fills ID
// and Timestamp when they are empty. Every handler of an event receives a
// copy of the struct, but Data is one map shared by all of them: handlers
// must treat it as read-only.
type Event struct {
	// ID is unique within the bus; Publish fills it when empty. The IDs
	// Publish makes are cut from strings shared by 128 consecutive events,
	// which keeps publishing free of allocations: an ID that a program
	// keeps for long keeps its block (under 3 KiB) alive. A program that
	// keeps a few IDs of many events should keep strings.Clone(ev.ID).
	ID        string
	Type      EventType              // selects the handlers and, by default, the priority
	ProcessID string                 // the process the event is about, if any; see OrderByProcessID
	Timestamp time.Time              // the publish time; filled by Publish when zero
	Data      map[string]interface{} // the payload, shared by all handlers: read-only
}

// Handler handles one event. It runs on a worker goroutine; several
// handlers, and several invocations of one handler, may run at the same
// time on different workers.
type Handler func(event Event)

// EventBus delivers published events to the handlers subscribed to their
// type, on a pool of worker goroutines. Create one with NewEventBus and
// stop it with Shutdown or ShutdownContext.
type EventBus struct {
	cfg  Config // resolved: no automatic values left
	q    *queue
	subs routes
	// subShards is the number of shards of every subscription's figures.
	subShards int
	retain    *retention // nil without Config.Retain
	pool      pool
	ids       idSource
	mon       *monitor    // nil when monitoring is off
	wd        *watchdog   // nil without Config.HandlerTimeout
	auto      *autoscaler // nil for a static pool
	size      poolSize
	// batchLimit is the most events a worker takes at once: maxBatch, or
	// one with a watchdog, which must see a stuck worker's only event.
	batchLimit int

	// unrouted counts, per level, events that had no handler when
	// published: they are processed on the spot, without going through the
	// queue.
	unrouted [numLevels]atomic.Int64
	drops    dropCounts
	// dropReports counts the OnDrop calls in progress (see maxDropReports).
	dropReports atomic.Int32

	// WaitIdle state: waitSem serialises WaitIdle calls, idleWaiters says
	// whether one is waiting, idleCh wakes it.
	waitSem     chan struct{}
	idleWaiters atomic.Int32
	idleCh      chan struct{}

	shutdownOnce sync.Once
	closing      atomic.Bool
	// deadline is closed when a shutdown's deadline passes, so that a
	// Block channel subscription stops waiting for its reader.
	deadline     chan struct{}
	deadlineOnce sync.Once
}

// NewEventBus starts a bus with the given configuration: it validates cfg,
// fills in the automatic values, and starts the workers. A bad field gives
// an error that wraps ErrInvalidConfig and names the field; no goroutine is
// left running then.
func NewEventBus(cfg Config) (*EventBus, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.resolved()
	b := &EventBus{
		cfg:     cfg,
		waitSem: make(chan struct{}, 1),
		idleCh:  make(chan struct{}, 1),
	}
	b.q = newQueue(b)
	b.deadline = make(chan struct{})
	b.retain = newRetention(cfg.Retain)
	b.subShards = subShardsFor(runtime.GOMAXPROCS(0))
	b.subs.init(b.priorityOf)
	b.batchLimit = maxBatch
	if cfg.HandlerTimeout > 0 {
		b.batchLimit = 1
	}
	b.ids.init()
	b.pool.stopped = make(chan struct{})
	b.pool.tally.init(runtime.GOMAXPROCS(0))
	slots := b.pool.add(cfg.Workers)
	b.size.size = cfg.Workers
	if cfg.MonitoringEnabled {
		b.mon = newMonitor(b)
	}
	if cfg.HandlerTimeout > 0 {
		b.wd = newWatchdog(b)
	}
	for _, w := range slots {
		b.startWorker(w, false)
	}
	if cfg.MaxWorkers > 0 {
		b.auto = newAutoscaler(b)
		b.q.halfFull = b.auto.nudge
	}
	return b, nil
}

// Config returns the configuration the bus runs with, automatic values
// filled in. The Priorities and Retain maps are copies.
func (b *EventBus) Config() Config {
	c := b.cfg
	c.Priorities = maps.Clone(c.Priorities)
	c.Retain = maps.Clone(c.Retain)
	return c
}

// PriorityOf returns the priority that Publish gives events of type t:
// Config.Priorities, else DefaultPriority, or PriorityMedium for every type
// when priorities are disabled.
func (b *EventBus) PriorityOf(t EventType) Priority { return b.priorityOf(t) }

func (b *EventBus) priorityOf(t EventType) Priority {
	if !b.cfg.EnablePriority {
		return PriorityMedium
	}
	if p, ok := b.cfg.Priorities[t]; ok {
		return p
	}
	return DefaultPriority(t)
}

// Publish queues ev for its handlers with the priority of its type, under
// the bus's drop policy. It fills ev.ID when empty (unique within the bus,
// and sorting in publish order) and ev.Timestamp when zero (the current
// time, with a monotonic reading; it is read from the monotonic clock
// against a wall-clock reading at most 100 ms old, which costs half a
// time.Now). It returns nothing, for code written against
// Brummer's bus: an event it cannot queue is dropped, counted, and passed
// to Config.OnDrop. Under a drop policy with no TimeoutDuration it never
// blocks; under Block it waits for room or for shutdown. After shutdown it
// drops ev with the reason ErrEventBusShutdown.
func (b *EventBus) Publish(ev Event) {
	_ = b.publish(context.Background(), ev, 0)
}

// PublishWithBackpressure is Publish with an explicit priority, which
// overrides the priority of the event's type (it is ignored when
// priorities are disabled). It returns nil when ev was queued, and
// otherwise the reason it was dropped: ErrQueueFull, ErrEventBusShutdown or,
// for a priority other than PriorityLow, PriorityMedium or PriorityHigh,
// ErrInvalidPriority. A nil error does not mean nothing was dropped: the
// policy may have evicted a queued event to make room.
func (b *EventBus) PublishWithBackpressure(ev Event, p Priority) error {
	if !p.valid() {
		b.fill(&ev)
		b.reject(&ev, PriorityMedium, ErrInvalidPriority)
		return ErrInvalidPriority
	}
	if !b.cfg.EnablePriority {
		p = PriorityMedium
	}
	return b.publish(context.Background(), ev, p)
}

// PublishContext is Publish that gives up when ctx is done: under Block, or
// while waiting TimeoutDuration for room, the wait ends with ctx. It returns
// nil when ev was queued and otherwise the reason it was dropped:
// ErrQueueFull, ErrEventBusShutdown or ctx.Err(). A context that is already
// done drops ev at once.
func (b *EventBus) PublishContext(ctx context.Context, ev Event) error {
	if ctx == nil {
		panic("eventbus: nil Context")
	}
	return b.publish(ctx, ev, 0)
}

// fill sets the ID and Timestamp of an event that lacks them. It returns
// the clock reading it took for the Timestamp, or the zero Time.
func (b *EventBus) fill(ev *Event) (now time.Time) {
	if ev.ID == "" {
		ev.ID = b.ids.next()
	}
	if ev.Timestamp.IsZero() {
		now = publishTime()
		ev.Timestamp = now
	}
	return now
}

func (b *EventBus) publish(ctx context.Context, ev Event, p Priority) error {
	now := b.fill(&ev)
	waitUntil := int64(0) // kept across routings (see queue.waitForRoom)
	for {
		// A replaying subscription added after this look-up makes put
		// refuse the event; it is routed again (see queue.put).
		gen := b.q.replayGen.Load()
		typed, all, routePrio := b.subs.lookup(ev.Type)
		prio := p
		if prio == 0 {
			prio = routePrio
			if prio == 0 {
				prio = b.priorityOf(ev.Type)
			}
		}
		if b.closing.Load() {
			b.reject(&ev, prio, ErrEventBusShutdown)
			return ErrEventBusShutdown
		}
		if err := ctx.Err(); err != nil {
			b.reject(&ev, prio, err)
			return err
		}
		f := getFlight()
		f.waitUntil = waitUntil
		n := b.route(f, &ev, typed, all)
		if n == 0 {
			if b.closing.Load() {
				// Shutdown began after the check above and may have
				// ended the subscriptions that route found closed: the
				// event is too late, not unheard.
				putFlight(f)
				b.reject(&ev, prio, ErrEventBusShutdown)
				return ErrEventBusShutdown
			}
			// Nobody listens, or every filter refused: the event is
			// processed by doing nothing, and takes no room in the queue;
			// it is retained all the same, for subscribers to come.
			if err := b.retainUnrouted(f, &ev, prio, gen); err != nil {
				putFlight(f)
				if err == errRouteChanged {
					continue
				}
				b.reject(&ev, prio, err)
				return err
			}
			putFlight(f)
			b.unrouted[prio-1].Add(1)
			return nil
		}
		f.ev, f.typed, f.all, f.prio = ev, typed, all, prio
		f.remaining.Store(int32(n))
		f.nonEarly = int32(n - len(f.early))
		b.retainFor(f)
		if b.cfg.OrderingKey != nil {
			f.key = b.cfg.OrderingKey(ev)
		}
		if b.mon != nil {
			// The wait a handler sees starts here; reuse the clock reading
			// taken for the Timestamp when there was one.
			if now.IsZero() {
				now = time.Now()
			}
			f.enqueued = monotimeOf(now)
		}
		a := b.q.put(ctx, f, gen)
		if a.err == errRouteChanged {
			waitUntil = f.waitUntil
			putFlight(f)
			continue
		}
		for i, d := range a.drops {
			if i < a.parked {
				b.dropParked(d)
			} else {
				b.dropDelivery(nil, d, ErrQueueFull)
			}
		}
		if a.evicted != nil {
			b.evict(a.evicted, ErrQueueFull)
		}
		if a.err != nil {
			b.reject(&f.ev, prio, a.err)
			putFlight(f)
		}
		return a.err
	}
}

// route marks in f.skip the subscriptions that get no delivery of ev
// (ended, or refused by their filter) and returns the number that do. The
// filters run here, in the publisher.
func (b *EventBus) route(f *flight, ev *Event, typed, all []*Subscription) (n int) {
	for p, s := range typed {
		if b.accepts(f, s, ev) {
			n++
		} else {
			f.skip.set(p)
		}
	}
	for p, s := range all {
		if b.accepts(f, s, ev) {
			n++
		} else {
			f.skip.set(len(typed) + p)
		}
	}
	return n
}

// accepts reports whether s takes ev: it has not ended and its filter, if
// any, says yes. A filter that panics refuses, and the panic goes to
// Config.OnPanic. For a coalescing subscription it also computes ev's key,
// into f.
func (b *EventBus) accepts(f *flight, s *Subscription, ev *Event) bool {
	if s.closed.Load() {
		return false
	}
	if s.filter != nil && !b.filter(s, ev) {
		return false
	}
	if s.co != nil {
		key, ok := b.coalesceKeyFor(s, ev)
		if !ok {
			return false
		}
		f.ckeys = append(f.ckeys, ckey{s, key})
	}
	if s.replay != nil {
		f.early = append(f.early, s)
	}
	return true
}

// filter runs s's filter on ev; a panic refuses.
func (b *EventBus) filter(s *Subscription, ev *Event) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			b.pool.tally.shards[0].panics.Add(1)
			b.reportPanic(*ev, r)
			ok = false
		}
	}()
	return s.filter(*ev)
}

// reject drops an event that never entered the queue.
func (b *EventBus) reject(ev *Event, p Priority, reason error) {
	b.drops.rejected[p-1].Add(1)
	b.drops.record(p, reason)
	b.reportDrop(ev, reason)
}

// evict drops an event that had been admitted, evicted by the policy or
// cut at the shutdown deadline: it counts towards WaitIdle's generation as
// well as towards the drops. f is recycled.
func (b *EventBus) evict(f *flight, reason error) {
	b.drops.record(f.prio, reason)
	b.drops.evicted[f.epoch].Add(1)
	b.reportDrop(&f.ev, reason)
	b.notifyIdle()
	if len(f.early) > 0 {
		// Replaying subscriptions got it at admission: their deliveries
		// go on, and the last of them recycles the event without counting
		// it again. Its other deliveries, and the queue's count, end here.
		f.mark(flightDropped)
		if f.remaining.Add(-(f.nonEarly + 1)) != 0 {
			return
		}
	}
	putFlight(f)
}

// maxDropReports bounds the OnDrop calls in progress at once. An OnDrop
// that publishes can drop again and so call itself (after Shutdown, or
// into a full DropNewest queue) until the stack overflows, which would
// kill the process; Go has no goroutine identity to tell recursion from
// concurrency, so the bound is bus-wide. Drops beyond it are counted, in
// DropCounts.Unreported, but not reported.
const maxDropReports = 256

func (b *EventBus) reportDrop(ev *Event, reason error) {
	if b.cfg.OnDrop == nil {
		return
	}
	if b.dropReports.Add(1) > maxDropReports {
		b.dropReports.Add(-1)
		b.drops.unreported.Add(1)
		return
	}
	defer func() {
		b.dropReports.Add(-1)
		_ = recover() // a failing hook must not take the publisher down
	}()
	b.cfg.OnDrop(*ev, reason)
}

// WaitIdle waits until every event published before the call has been
// processed or dropped, or until ctx is done, in which case it returns
// ctx.Err(). Events published during the call may or may not be waited for.
// Once it returns nil, Metrics counts each of those events, and the figures
// of their subscriptions count each delivery. It also waits for the
// trailing deliveries of coalescing subscriptions and for the replays of
// subscriptions made before it was called. With monitoring on, their
// handler time is in AvgProcessingTime and WorkerUtilization too, unless a
// worker is still running a later call of the batch it took them in: a
// worker runs a few fast calls back to back and times them together. On a
// bus that nothing is published to meanwhile, it always is. It is meant
// for tests, flushes before exit, and checkpoints; calling it from inside
// a handler waits for that handler's own event and so can only end with
// ctx.
func (b *EventBus) WaitIdle(ctx context.Context) error {
	select {
	case b.waitSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-b.waitSem }()
	b.idleWaiters.Add(1)
	defer b.idleWaiters.Add(-1)

	// Events are stamped with the parity of the generation they were
	// queued in. The generation before the current one receives nothing
	// new, but a previous WaitIdle may have given up on it: finish it
	// first, then close the current one and wait for it.
	prev := b.q.epochParity() ^ 1
	admitted, replayed := b.q.admittedIn(prev)
	if err := b.waitGeneration(ctx, prev, admitted, replayed); err != nil {
		return err
	}
	par, admitted, replayed := b.q.nextEpoch()
	return b.waitGeneration(ctx, par, admitted, replayed)
}

// waitGeneration waits until the events finished under parity par, by a
// worker or by eviction, reach admitted, and the replayed events finished
// reach replayed.
func (b *EventBus) waitGeneration(ctx context.Context, par uint8, admitted, replayed int64) error {
	for {
		if b.pool.processed(int(par))+b.drops.evicted[par].Load() >= admitted &&
			b.pool.tally.replayed(int(par)) >= replayed {
			return nil
		}
		select {
		case <-b.idleCh:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// notifyIdle wakes a waiting WaitIdle to look at the counts again.
func (b *EventBus) notifyIdle() {
	if b.idleWaiters.Load() == 0 {
		return
	}
	select {
	case b.idleCh <- struct{}{}:
	default:
	}
}

// Shutdown stops the bus: it stops intake (later publishes drop their event
// with ErrEventBusShutdown, and publishers waiting for room are refused),
// lets the workers drain the queue and the subscriptions' buffers for up
// to Config.ShutdownTimeout, drops what is still waiting after that (see
// ShutdownContext), ends every subscription (their Done channels close as
// their last calls return, and channel subscriptions close), and returns
// once every worker has exited or the timeout has passed. A handler still running after the
// timeout cannot be stopped: its worker exits when it returns. Shutdown is
// idempotent and safe to call concurrently with publishing; calling it from
// a handler makes it wait out the timeout for that handler's own worker.
func (b *EventBus) Shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.ShutdownTimeout)
	defer cancel()
	_ = b.ShutdownContext(ctx)
}

// ShutdownContext is Shutdown with the drain bounded by ctx instead of
// Config.ShutdownTimeout. It returns nil when every worker exited after
// draining the queue; when ctx is done first, it drops what has not begun
// and returns ctx.Err(): queued events (OnDrop, reason
// ErrEventBusShutdown), and deliveries waiting for their subscriptions
// (counted there and passed to WithOnDrop with ErrEventBusShutdown; an
// event none of whose deliveries ran counts as dropped, through OnDrop). It also waits,
// within ctx, for a Config.OnSlowHandler call in progress, which may itself
// call Shutdown: that call then waits out its own ctx. Calls after the
// first wait in the same way.
func (b *EventBus) ShutdownContext(ctx context.Context) error {
	b.shutdownOnce.Do(func() {
		// Resize checks closing under the pool size's lock: once this store is
		// made under it, no worker is added any more.
		b.size.mu.Lock()
		b.closing.Store(true)
		b.size.mu.Unlock()
		if b.auto != nil {
			b.auto.stop()
		}
		b.q.close()
		if b.mon != nil {
			b.mon.stop()
		}
		if b.wd != nil {
			// Not waited for here: its hook may be the caller.
			b.wd.ticker.quit()
		}
	})
	err := b.drain(ctx)
	b.q.stopTimers()
	// Every subscription ends with the bus: their Done channels close as
	// their last calls return, and channel subscriptions close.
	b.subs.endAll()
	if b.wd != nil {
		select {
		case <-b.wd.ticker.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	return err
}

// drain waits for the workers to empty the queue and exit, and drops what
// is still queued or waiting for a worker when ctx is done first.
func (b *EventBus) drain(ctx context.Context) error {
	select {
	case <-b.pool.stopped:
		return nil
	case <-ctx.Done():
	}
	b.deadlineOnce.Do(func() { close(b.deadline) })
	events, dls := b.q.removeAll(b.pool.slots())
	// Mark every event before dropping any delivery: the last delivery of
	// an event to finish decides whether it was processed or dropped.
	for _, d := range dls {
		d.f.mark(flightCut)
	}
	for _, f := range events {
		b.evict(f, ErrEventBusShutdown)
	}
	for _, d := range dls {
		b.dropDelivery(nil, d, ErrEventBusShutdown)
	}
	select {
	case <-b.pool.stopped:
		if len(events)+len(dls) == 0 {
			// The workers finished the last events meanwhile.
			return nil
		}
	default:
	}
	return ctx.Err()
}
