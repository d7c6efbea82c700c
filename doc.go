// Package eventbus is an in-process publish/subscribe event bus whose
// handlers run on a pool of worker goroutines, fed by three priority
// queues with a bounded total size and an explicit policy for what is
// dropped when the queue is full.
//
// It was built to replace the internals of Brummer's pkg/events: Publish,
// Subscribe and Shutdown keep that package's signatures, so a thin wrapper
// can embed *EventBus. Unlike a bus that starts a goroutine per event, it
// never runs more handlers at once than it has workers, a burst waits in
// the queue instead of growing the goroutine count, and every published
// event ends up processed or dropped, exactly once, each drop reported
// through Config.OnDrop and counted in Metrics.
//
// # Events and priorities
//
// Publish queues an event at the priority of its type (DefaultPriority,
// Config.Priorities); a free worker takes High before Medium before Low,
// first in first out within a level, and a lower level waits through at
// most Config.StarvationLimit events of higher ones. When the queue holds
// Config.QueueSize events, the policy (DropPolicy) decides which one event
// is dropped, or, under Block, the publisher waits.
//
// # Subscriptions and deliveries
//
// On, OnAll, OnTypes and Chan subscribe. Each subscription of an event gets
// a delivery of its own: while one handler of an event is stuck, the
// event's other handlers run on free workers (for Low events, those not
// kept for higher levels by Config.ReservedWorkers), and a worker lets free
// workers take the deliveries it has not started before they take queued
// events of the same or a lower level. Fast handlers still run back to
// back on one worker, a few events at a time, which keeps the queue's lock
// from becoming the bottleneck. Options shape a subscription: a
// concurrency limit and a buffer of its own (WithConcurrency, WithBuffer),
// so that a slow subscriber holds at most its limit of workers; a filter
// run in the publisher (WithFilter); a lifetime (WithContext, Chan);
// coalescing to the latest state per key and window (WithCoalesce); replay
// of retained events to late subscribers and resuming clients
// (Config.Retain, WithReplay, WithReplayAfter). Subscription.Stats and
// MetricsSnapshot.Subscriptions give each subscription's figures.
//
// # Figures, shutdown, sizing
//
// Metrics returns a snapshot: counts per priority and drop reason, waits,
// handler time, utilization, queue depth, subscriptions (see
// MetricsSnapshot); Expvar and PublishExpvar serve it, and the modules
// promexporter and otelexporter export it to Prometheus and OpenTelemetry.
// WaitIdle waits until what was published has been handled. Shutdown stops
// intake, drains within a deadline and drops the rest, reported. The pool
// is static by default, sized by CalculateOptimalWorkers, or dynamic
// between Config.MinWorkers and Config.MaxWorkers; Resize changes it, and
// a watchdog reports and replaces workers stuck in a handler
// (Config.HandlerTimeout).
//
// All methods of EventBus and Subscription are safe for concurrent use. The
// README gives the measured costs and the tests behind each guarantee;
// docs/design-research.md describes the design this package started from.
package eventbus
