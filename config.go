package eventbus

import (
	"fmt"
	"maps"
	"time"
)

// Config sets up an EventBus. The zero value is valid: it gives a bus with
// CalculateOptimalWorkers() workers, a queue of ten events per worker, one
// FIFO for all events, the DropOldest policy and no monitoring. Most programs
// start from DefaultConfig or GetEnvironmentSpecificConfig and change a field
// or two.
//
// NewEventBus copies the Config: changing it (or its maps) afterwards does
// not affect a running bus.
type Config struct {
	// Workers is the number of worker goroutines that run handlers. A burst
	// of events waits in the queue instead of starting more (only a dynamic
	// pool, Resize, or the replacement of a stuck worker changes the
	// count). 0 means CalculateOptimalWorkers(), or MinWorkers for a
	// dynamic pool. Negative, or more than WorkerLimit, is an error.
	Workers int

	// MinWorkers and MaxWorkers, when MaxWorkers is positive, make the pool
	// dynamic: it starts with Workers workers (0 means MinWorkers), grows
	// while the queue stays more than half full, and shrinks back towards
	// MinWorkers once the queue has stayed under a tenth full and workers
	// have been idle for IdleTimeout (see ScaleInterval for the rule).
	// MinWorkers must then be at least 1 and at most MaxWorkers, and
	// MaxWorkers at most WorkerLimit. With MaxWorkers 0 the pool is static
	// and MinWorkers must be 0.
	MinWorkers int
	MaxWorkers int

	// ScaleInterval is how often a dynamic pool looks at its queue. The
	// rule: when the queue has been more than half full for an interval
	// (timed from the publish that filled it past half), the pool doubles,
	// up to MaxWorkers, or goes straight to MaxWorkers if the queue is
	// full; when it has been under a tenth full and workers have had
	// nothing to do for IdleTimeout, those idle workers leave, down to
	// MinWorkers. After
	// growing it waits IdleTimeout before it may shrink, and after
	// shrinking one interval before it may grow, so that a load at the
	// threshold does not make it flap. The autoscaler wakes every IdleTimeout/4
	// while the bus is quiet, and every ScaleInterval only while the queue
	// is more than half full, so a short interval costs nothing at rest.
	// 0 means 100ms. Negative, or positive and under MinInterval, is an
	// error.
	ScaleInterval time.Duration

	// IdleTimeout is how long a worker of a dynamic pool has had nothing to
	// do before it may leave. 0 means 30 seconds. Negative, or positive
	// and under MinInterval, is an error.
	IdleTimeout time.Duration

	// QueueSize is the number of events the bus holds waiting for a worker,
	// all priorities together. Events being handled do not count. Events
	// waiting for their OrderingKey count, once each, and so do deliveries
	// that a WithBuffer(n, Block) subscription sets aside: the drop policy
	// picks among all of them, and Block publishers wait for them.
	// 0 means ten per worker: Workers*10, or MaxWorkers*10 for a dynamic
	// pool. Negative is an error.
	QueueSize int

	// EnablePriority makes workers take High events before Medium ones and
	// Medium before Low (see StarvationLimit for the bound on the wait of a
	// lower level). When false, every event is treated as PriorityMedium:
	// one FIFO queue, and DropLowPri behaves as DropOldest.
	EnablePriority bool

	// BackpressureMode says which event is dropped when an event arrives and
	// the queue is full. See DropPolicy.
	BackpressureMode DropPolicy

	// MonitoringEnabled turns on the figures of Metrics that need the
	// clock: handler time, wait time (also per subscription), worker
	// utilization and the queue depth history. They cost two clock reads
	// per batch of deliveries and a few counters per event, and one
	// goroutine that samples once per MetricsWindow. The counts of published, processed and dropped events
	// are always kept.
	MonitoringEnabled bool

	// MetricsWindow is the sampling window of the monitoring figures: worker
	// utilization is the busy share of the last window, and the queue depth
	// is sampled once per window. It costs one wake-up of one goroutine per
	// window. 0 means one second. Negative, or positive and under
	// MinInterval, is an error.
	MetricsWindow time.Duration

	// TimeoutDuration is how long a publisher waits for room in a full queue
	// before the drop policy applies. 0 means no wait: under a drop policy,
	// Publish never blocks. Waiting publishers are admitted by priority:
	// a High event never waits behind Low ones that started waiting first.
	// It has no effect under Block, which waits as long as it takes.
	// Negative is an error.
	TimeoutDuration time.Duration

	// Priorities overrides DefaultPriority for the event types it names.
	// Values must be PriorityLow, PriorityMedium or PriorityHigh.
	Priorities map[EventType]Priority

	// ShutdownTimeout bounds how long Shutdown waits for the queue to drain.
	// 0 means 5 seconds. Negative is an error.
	ShutdownTimeout time.Duration

	// StarvationLimit bounds how long a lower priority level waits while
	// higher levels keep the workers busy: after StarvationLimit dispatches
	// from higher levels while a level has events waiting, the next dispatch
	// serves that level. 0 means DefaultStarvationLimit. Negative is an
	// error.
	StarvationLimit int

	// OrderingKey, when set, orders events by key: the events for which it
	// returns the same non-empty key, at the same priority level, reach
	// each subscription one at a time in publish order, while events of
	// different keys, and the deliveries of one event to different
	// subscriptions, still run in parallel: a subscription stuck on an event
	// holds back only its own later deliveries of that key. It runs in the
	// publisher's goroutine on every publish. Events of one key at
	// different levels are not ordered with each other, so a process's High
	// event is not held back behind its flood of Low log lines.
	// OrderByProcessID orders each process's events. Subscriptions with
	// WithConcurrency(1), Chan and WithReplay get all their events in order
	// anyway; coalescing ones are not ordered by key. Ordering costs no
	// goroutine; a key costs memory only while it has deliveries waiting or
	// running.
	OrderingKey func(Event) string

	// ReservedWorkers is the number of workers kept from Low events, with
	// priorities enabled: at most Workers - ReservedWorkers workers run the
	// deliveries of Low events at once, so a High or Medium event finds a
	// worker even while every Low handler is stuck (Brummer's log handlers block when its
	// TUI is slow). It costs Low events that share of the pool when only
	// Low events are queued (the README gives the measured cost). 0
	// means the default: 1 when Workers (or MaxWorkers) is at least 2,
	// otherwise none; -1 means none. It must be less than Workers, or
	// than MaxWorkers for a dynamic pool; with Workers left automatic
	// (0), whose value depends on the machine, a larger value is lowered
	// to leave one worker for Low events. However small a dynamic pool
	// is, one worker may always run Low events.
	ReservedWorkers int

	// HandlerTimeout, when positive, starts a watchdog that reports every
	// handler call running longer than this to OnSlowHandler and counts it
	// in Metrics. A call is reported between HandlerTimeout and 1.25 ×
	// HandlerTimeout after it began, or HandlerTimeout + 2ms for a timeout
	// under 8ms (the watchdog looks an eighth of the timeout apart, at most
	// once a millisecond), provided its goroutine gets a CPU when due. 0
	// means no watchdog. Negative is an error.
	HandlerTimeout time.Duration

	// OnSlowHandler is called, from the watchdog's goroutine, with the
	// event whose handler has been running longer than HandlerTimeout and
	// how long it had been running (a lower bound). A panic in it is
	// recovered and ignored. While it runs, no other call is looked at, so
	// it should return soon; it may call Shutdown, which then waits out
	// its timeout if the slow handler does not return.
	OnSlowHandler func(ev Event, running time.Duration)

	// OnSlowSubscription is called with the same reports as OnSlowHandler,
	// and the name of the subscription whose handler is slow (its
	// WithName, or ""). It runs on the watchdog's goroutine after
	// OnSlowHandler, under the same rules.
	OnSlowSubscription func(subscription string, ev Event, running time.Duration)

	// ReplaceStuckWorkers makes the watchdog start a fresh worker in place
	// of one stuck in a handler past HandlerTimeout, so that the pool keeps
	// its capacity. Go cannot stop the stuck goroutine: when its handler
	// returns, it finishes the deliveries it had taken (its events count as
	// processed as usual, and its slow calls are reported as usual) and
	// exits instead of taking more. At most MaxStuckWorkers stuck
	// workers are replaced at a time; past that, a stuck worker keeps its
	// place and the pool runs with less capacity until one returns. So the
	// goroutines of the bus never exceed the pool's size (at most
	// MaxWorkers for a dynamic pool) + MaxStuckWorkers, plus its sampler,
	// watchdog and, for a dynamic pool, autoscaler.
	ReplaceStuckWorkers bool

	// MaxStuckWorkers bounds the stuck workers replaced and not yet
	// returned. 0 means Workers, or MaxWorkers for a dynamic pool.
	// Negative is an error.
	MaxStuckWorkers int

	// OnDrop, when set, is called exactly once for every event the bus
	// drops, with the reason: ErrQueueFull (evicted or refused by the drop
	// policy), ErrEventBusShutdown (published after shutdown, or still queued
	// when the shutdown deadline passed), the error of a PublishContext
	// context, or ErrInvalidPriority. It runs on the goroutine that caused
	// the drop (a publisher, or the one calling Shutdown), never while the
	// bus holds a lock, so it may publish. A panic in OnDrop is recovered
	// and ignored.
	//
	// The one exception to "exactly once": at most 256 OnDrop calls run at
	// once per bus; a drop beyond that is counted (also in
	// DropCounts.Unreported) but not reported. That bound is what stops an
	// OnDrop that publishes from recursing until the stack overflows,
	// since its publish may itself be dropped (after Shutdown, or into a
	// full DropNewest queue) and call OnDrop again. Such a hook should not
	// publish when reason is ErrEventBusShutdown.
	OnDrop func(ev Event, reason error)

	// Retain keeps the latest N accepted events of each type it names, for
	// subscriptions that replay them (WithReplay, WithReplayAfter): a late
	// subscriber catches up, and a client that reconnects resumes after the
	// last event it saw. Accepted means the publish queued the event, also
	// when no one was subscribed; an event the bus refused at publish is
	// not retained, and one that the drop policy later evicts from the
	// queue stays retained. The bus keeps a copy of each retained event
	// with its own copy of the ID (Data is shared, as with handlers), and
	// remembers where the latest N events that left each buffer stood (16
	// bytes each, so that resuming after them is exact), so retention
	// costs N events per type and pins nothing else. Nothing is retained
	// by default. Each N must be at least 1.
	Retain map[EventType]int

	// OnPanic, when set, is called on the worker after a handler panicked
	// (or called runtime.Goexit, reported as ErrHandlerExited), with the
	// value passed to panic and the stack of the panicking goroutine. A
	// panic in a WithFilter or WithCoalesce key function is reported the
	// same way. The worker carries on with its next delivery; the call
	// counts as delivered. The bus never prints anything itself. A panic in
	// OnPanic is recovered and ignored.
	OnPanic func(ev Event, recovered any, stack []byte)
}

// DefaultStarvationLimit is the number of dispatches from higher priority
// levels after which a waiting lower level is served, when
// Config.StarvationLimit is 0.
const DefaultStarvationLimit = 16

// WorkerLimit is the largest worker count that NewEventBus and Resize
// accept. It is where the pool stops paying off: with handlers that wait
// (1 ms each), throughput grows with the pool up to about a thousand
// workers on a small machine and stays within 80 % of its best up to
// 2,048, while pools of 4,096 and more lose throughput as their workers
// contend for the queue's one lock (the README gives the figures). A pool
// that large is seldom useful anyway; the limit also makes a mistaken
// value fail with an error instead of starting millions of goroutines.
const WorkerLimit = 2048

// MinInterval is the shortest MetricsWindow, ScaleInterval and IdleTimeout
// that NewEventBus accepts: each sets how often a goroutine of the bus
// wakes, and a shorter one would keep an idle bus busy.
const MinInterval = time.Millisecond

// Defaults of a dynamic pool.
const (
	defaultScaleInterval = 100 * time.Millisecond
	defaultIdleTimeout   = 30 * time.Second
)

// defaultShutdownTimeout is used when Config.ShutdownTimeout is 0.
const defaultShutdownTimeout = 5 * time.Second

// DefaultConfig returns the configuration recommended for an interactive
// program such as Brummer: CalculateOptimalWorkers() workers, a queue of ten
// events per worker, priorities on, monitoring on, and the DropLowPri policy
// with no publisher wait, so Publish never blocks. QueueSize is filled in:
// a program that changes Workers should set QueueSize too (0 means ten per
// worker).
//
// The default policy is DropLowPri rather than the DropOldest of the
// design research (docs/design-research.md): under a log flood DropOldest
// evicts queued High events that happen to be the oldest, while DropLowPri
// never drops a High or Medium event while a Low one is queued. The README
// gives the measured difference.
func DefaultConfig() Config {
	workers := CalculateOptimalWorkers()
	return Config{
		Workers:           workers,
		QueueSize:         workers * 10,
		EnablePriority:    true,
		BackpressureMode:  DropLowPri,
		MonitoringEnabled: true,
	}
}

func configError(field string, format string, args ...any) error {
	return fmt.Errorf("%w: %s %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
}

// validate checks every field and returns the first problem, naming the
// field.
func (c *Config) validate() error {
	switch {
	case c.Workers < 0:
		return configError("Workers", "is %d; it must be 0 (automatic) or more", c.Workers)
	case c.Workers > WorkerLimit:
		return configError("Workers", "is %d; it must be at most WorkerLimit (%d)", c.Workers, WorkerLimit)
	case c.MaxWorkers < 0:
		return configError("MaxWorkers", "is %d; it must be 0 (static pool) or more", c.MaxWorkers)
	case c.MaxWorkers > WorkerLimit:
		return configError("MaxWorkers", "is %d; it must be at most WorkerLimit (%d)", c.MaxWorkers, WorkerLimit)
	case c.MaxWorkers == 0 && c.MinWorkers != 0:
		return configError("MinWorkers", "is %d; it needs MaxWorkers for a dynamic pool", c.MinWorkers)
	case c.MaxWorkers > 0 && c.MinWorkers < 1:
		return configError("MinWorkers", "is %d; a dynamic pool needs at least 1", c.MinWorkers)
	case c.MaxWorkers > 0 && c.MinWorkers > c.MaxWorkers:
		return configError("MinWorkers", "is %d, more than MaxWorkers (%d)", c.MinWorkers, c.MaxWorkers)
	case c.MaxWorkers > 0 && c.Workers != 0 && (c.Workers < c.MinWorkers || c.Workers > c.MaxWorkers):
		return configError("Workers", "is %d; a dynamic pool starts within MinWorkers..MaxWorkers (%d..%d)", c.Workers, c.MinWorkers, c.MaxWorkers)
	case c.ScaleInterval < 0:
		return configError("ScaleInterval", "is %v; it must not be negative", c.ScaleInterval)
	case c.ScaleInterval > 0 && c.ScaleInterval < MinInterval:
		return configError("ScaleInterval", "is %v; it must be 0 (default) or at least %v", c.ScaleInterval, MinInterval)
	case c.IdleTimeout < 0:
		return configError("IdleTimeout", "is %v; it must not be negative", c.IdleTimeout)
	case c.IdleTimeout > 0 && c.IdleTimeout < MinInterval:
		return configError("IdleTimeout", "is %v; it must be 0 (default) or at least %v", c.IdleTimeout, MinInterval)
	case c.QueueSize < 0:
		return configError("QueueSize", "is %d; it must be 0 (automatic) or more", c.QueueSize)
	case c.TimeoutDuration < 0:
		return configError("TimeoutDuration", "is %v; it must not be negative", c.TimeoutDuration)
	case c.ShutdownTimeout < 0:
		return configError("ShutdownTimeout", "is %v; it must not be negative", c.ShutdownTimeout)
	case c.MetricsWindow < 0:
		return configError("MetricsWindow", "is %v; it must not be negative", c.MetricsWindow)
	case c.MetricsWindow > 0 && c.MetricsWindow < MinInterval:
		return configError("MetricsWindow", "is %v; it must be 0 (default) or at least %v", c.MetricsWindow, MinInterval)
	case c.HandlerTimeout < 0:
		return configError("HandlerTimeout", "is %v; it must not be negative", c.HandlerTimeout)
	case c.MaxStuckWorkers < 0:
		return configError("MaxStuckWorkers", "is %d; it must be 0 (default) or more", c.MaxStuckWorkers)
	case c.ReservedWorkers < -1:
		return configError("ReservedWorkers", "is %d; it must be -1 (none), 0 (default) or more", c.ReservedWorkers)
	case c.ReservedWorkers > 0 && c.MaxWorkers > 0 && c.ReservedWorkers >= c.MaxWorkers:
		return configError("ReservedWorkers", "is %d; it must be less than MaxWorkers (%d), or Low events could never run", c.ReservedWorkers, c.MaxWorkers)
	case c.ReservedWorkers > 0 && c.MaxWorkers == 0 && c.Workers > 0 && c.ReservedWorkers >= c.Workers:
		return configError("ReservedWorkers", "is %d; it must be less than Workers (%d), or Low events could never run", c.ReservedWorkers, c.Workers)
	case c.StarvationLimit < 0:
		return configError("StarvationLimit", "is %d; it must be 0 (default) or more", c.StarvationLimit)
	case !c.BackpressureMode.valid():
		return configError("BackpressureMode", "is %d; it must be DropOldest, DropNewest, DropLowPri or Block", int(c.BackpressureMode))
	}
	for t, n := range c.Retain {
		if n < 1 {
			return configError("Retain", "gives %q %d events; it must be at least 1", string(t), n)
		}
	}
	for t, p := range c.Priorities {
		if !p.valid() {
			return configError("Priorities", "gives %q the priority %d; it must be 1 (Low), 2 (Medium) or 3 (High)", string(t), int(p))
		}
	}
	return nil
}

// resolved returns a copy of c with every automatic value filled in. It
// assumes c is valid.
func (c Config) resolved() Config {
	if c.Workers == 0 {
		c.Workers = CalculateOptimalWorkers()
		if c.MaxWorkers > 0 {
			c.Workers = c.MinWorkers
		}
	}
	if c.ScaleInterval == 0 {
		c.ScaleInterval = defaultScaleInterval
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = defaultIdleTimeout
	}
	if c.QueueSize == 0 {
		c.QueueSize = max(c.Workers, c.MaxWorkers) * 10
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = defaultShutdownTimeout
	}
	if c.MetricsWindow == 0 {
		c.MetricsWindow = defaultMetricsWindow
	}
	if c.StarvationLimit == 0 {
		c.StarvationLimit = DefaultStarvationLimit
	}
	largest := max(c.Workers, c.MaxWorkers) // a dynamic pool may grow
	switch {
	case !c.EnablePriority || c.ReservedWorkers == -1:
		c.ReservedWorkers = 0 // without priorities there are no Low events
	case c.ReservedWorkers == 0 && largest >= 2:
		c.ReservedWorkers = 1
	case c.ReservedWorkers >= largest:
		// Only reachable with Workers left automatic: keep one worker for
		// Low events. (A pool smaller than its reservation, while a
		// dynamic one is small, keeps one too: see queue.lowCap.)
		c.ReservedWorkers = largest - 1
	}
	if c.MaxStuckWorkers == 0 {
		c.MaxStuckWorkers = max(c.Workers, c.MaxWorkers)
	}
	if c.Priorities != nil {
		own := make(map[EventType]Priority, len(c.Priorities))
		for t, p := range c.Priorities {
			own[t] = p
		}
		c.Priorities = own
	}
	c.Retain = maps.Clone(c.Retain)
	return c
}
