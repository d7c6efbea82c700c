package otelexporter

import (
	"errors"

	"go.opentelemetry.io/otel/metric"
)

// instruments are the asynchronous instruments of one registration. The
// README's table lists them.
type instruments struct {
	published, processed, dropped, unreported metric.Int64ObservableCounter
	panics, slow, replaced, resizes           metric.Int64ObservableCounter
	waitEvents                                metric.Int64ObservableCounter
	waitTime                                  metric.Float64ObservableCounter
	subMatched, subSettled, subMissed         metric.Int64ObservableCounter

	pending, depth, limit, waiting metric.Int64ObservableUpDownCounter
	workers, stuck                 metric.Int64ObservableUpDownCounter
	subPending, subRunning         metric.Int64ObservableUpDownCounter

	utilMean, utilMax, avgProc metric.Float64ObservableGauge
}

// create creates every instrument on m. It returns the meter's errors
// joined, nil when there is none.
func (in *instruments) create(m metric.Meter) error {
	var errs []error
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	upDown := func(name, unit, desc string) metric.Int64ObservableUpDownCounter {
		c, err := m.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	gauge := func(name, unit, desc string) metric.Float64ObservableGauge {
		g, err := m.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}

	in.published = counter("eventbus.published.events", "{event}",
		"Events handed to a publish call, by the priority they were published with.")
	in.processed = counter("eventbus.processed.events", "{event}",
		"Events whose handlers have all run (an event nobody listens to counts when published), by priority.")
	in.dropped = counter("eventbus.dropped.events", "{event}",
		"Events the bus dropped, by reason and priority; invalid_priority drops count as medium.")
	in.unreported = counter("eventbus.unreported_drops", "{event}",
		"Dropped events not passed to Config.OnDrop because too many OnDrop calls were running at once (also counted in eventbus.dropped.events).")
	in.panics = counter("eventbus.handler.panics", "{panic}",
		"Handler calls that panicked or called runtime.Goexit.")
	in.slow = counter("eventbus.handler.slow_calls", "{call}",
		"Handler calls the watchdog reported as running longer than Config.HandlerTimeout.")
	in.replaced = counter("eventbus.worker.replacements", "{worker}",
		"Workers started in place of workers stuck in a handler (Config.ReplaceStuckWorkers).")
	in.resizes = counter("eventbus.pool.resizes", "{resize}",
		"Changes of the worker pool's size, by direction, by the scaler of a dynamic pool or by Resize.")
	in.waitEvents = counter("eventbus.wait.events", "{event}",
		"Events taken by a worker, by priority and by the bucket of their wait from publish (eventbus.wait.bucket: the bucket's upper bound in seconds, the lower one being the previous bucket's); summed over the buckets, the events that waited (only with Config.MonitoringEnabled).")
	var err error
	in.waitTime, err = m.Float64ObservableCounter("eventbus.wait.time", metric.WithUnit("s"),
		metric.WithDescription("Total time events waited from publish until a worker took them, by priority (only with Config.MonitoringEnabled)."))
	errs = append(errs, err)
	in.subMatched = counter("eventbus.subscription.matched", "{event}",
		"Deliveries handed to the subscriptions of a name (events that passed the queue and the filter).")
	in.subSettled = counter("eventbus.subscription.settled", "{event}",
		"Deliveries of the subscriptions of a name that have finished, by outcome: delivered (handler called or event sent to the channel), dropped, or coalesced.")
	in.subMissed = counter("eventbus.subscription.missed", "{event}",
		"Events resuming subscriptions of a name could not get because they had left the replay buffer.")

	in.pending = upDown("eventbus.event.pending", "{event}",
		"Events queued or being handled now.")
	in.depth = upDown("eventbus.queue.depth", "{event}",
		"Events waiting in the queue now, by priority.")
	in.limit = upDown("eventbus.queue.limit", "{event}",
		"The number of events the queue holds at most, all priorities together (Config.QueueSize).")
	in.waiting = upDown("eventbus.publisher.waiting", "{publisher}",
		"Publish calls waiting for room in a full queue now.")
	in.workers = upDown("eventbus.worker.count", "{worker}",
		"Workers in the pool now.")
	in.stuck = upDown("eventbus.worker.stuck", "{worker}",
		"Replaced workers whose handler has not returned yet.")
	in.subPending = upDown("eventbus.subscription.pending", "{event}",
		"Deliveries of the subscriptions of a name waiting or running now.")
	in.subRunning = upDown("eventbus.subscription.running", "{call}",
		"Handler calls of the subscriptions of a name running now.")

	in.utilMean = gauge("eventbus.worker.utilization.mean", "1",
		"Mean over the workers of the share of the last sampling window spent handling events, 0 to 1 (only with Config.MonitoringEnabled).")
	in.utilMax = gauge("eventbus.worker.utilization.max", "1",
		"The busiest worker's share of the last sampling window spent handling events, 0 to 1 (only with Config.MonitoringEnabled).")
	in.avgProc = gauge("eventbus.processing.duration.average", "s",
		"Moving average of the time a worker spends on one event, all its handlers (only with Config.MonitoringEnabled).")
	return errors.Join(errs...)
}

// observables returns every instrument, for RegisterCallback.
func (in *instruments) observables() []metric.Observable {
	return []metric.Observable{
		in.published, in.processed, in.dropped, in.unreported,
		in.panics, in.slow, in.replaced, in.resizes,
		in.waitEvents, in.waitTime,
		in.subMatched, in.subSettled, in.subMissed,
		in.pending, in.depth, in.limit, in.waiting,
		in.workers, in.stuck, in.subPending, in.subRunning,
		in.utilMean, in.utilMax, in.avgProc,
	}
}
