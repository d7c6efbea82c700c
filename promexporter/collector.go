// Package promexporter exposes the figures of an eventbus bus to
// Prometheus: a Collector that the program registers on its own registry.
//
//	bus, _ := eventbus.NewEventBus(eventbus.DefaultConfig())
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(promexporter.New(bus, promexporter.Options{Namespace: "brummer"}))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Every Collect takes one snapshot of the bus (EventBus.Metrics) and turns
// it into constant metrics, so the figures of one scrape all come from the
// same moment and a scrape adds no work to publishing or handling events.
// The README lists every metric with its type, labels and unit.
package promexporter

import (
	"fmt"
	"regexp"
	"sync"

	"github.com/brummer-dev/eventbus"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultNamespace is the first part of every metric name when
// Options.Namespace is empty.
const DefaultNamespace = "eventbus"

// UnnamedSubscription is the value of the subscription label for the
// subscriptions that have no name (eventbus.WithName): they are summed
// into one series rather than given one each, so the number of series
// stays bounded by the names a program uses. A subscription that is really
// named "(unnamed)" is summed with them.
const UnnamedSubscription = "(unnamed)"

// Options configures a Collector. The zero value is valid.
type Options struct {
	// Namespace is the first part of every metric name, as in
	// brummer_events_published_total. Empty means DefaultNamespace. It must
	// match [a-zA-Z_][a-zA-Z0-9_]*, or New panics.
	Namespace string
	// Subsystem, when not empty, is put between Namespace and the name, as
	// in brummer_bus_events_published_total. It must match
	// [a-zA-Z_][a-zA-Z0-9_]*, or New panics.
	Subsystem string
	// ConstLabels are added to every series, to tell apart several buses
	// exported to one registry (each bus needs its own Collector and
	// distinct label values). Names must be valid Prometheus label names,
	// must not start with "__", and must not be one of the labels the
	// metrics use themselves (priority, reason, direction, subscription,
	// outcome, le), or New panics.
	ConstLabels prometheus.Labels
}

// Collector is a prometheus.Collector over one bus. Create it with New and
// register it on a registry; it is safe for concurrent use, and several
// scrapes may run at once. The zero Collector has no bus: it is not
// usable, and collecting it panics.
type Collector struct {
	bus *eventbus.EventBus
	d   descs

	// mu guards delivered, the highest delivered count exported so far per
	// subscription label value (see collectSubscriptions).
	mu        sync.Mutex
	delivered map[string]int64
}

// descs holds the description of every metric the collector emits.
type descs struct {
	published, processed, dropped, unreported  *prometheus.Desc
	panics, slow, replaced, resizes            *prometheus.Desc
	pending, depth, capacity, waiting          *prometheus.Desc
	workers, stuck, utilMean, utilMax, avgProc *prometheus.Desc
	wait                                       *prometheus.Desc
	subMatched, subSettled, subMissed          *prometheus.Desc
	subPending, subRunning                     *prometheus.Desc
}

// all returns every description, for Describe.
func (d *descs) all() []*prometheus.Desc {
	return []*prometheus.Desc{
		d.published, d.processed, d.dropped, d.unreported,
		d.panics, d.slow, d.replaced, d.resizes,
		d.pending, d.depth, d.capacity, d.waiting,
		d.workers, d.stuck, d.utilMean, d.utilMax, d.avgProc,
		d.wait,
		d.subMatched, d.subSettled, d.subMissed,
		d.subPending, d.subRunning,
	}
}

// ownLabels are the variable labels of the metrics; ConstLabels may not
// reuse them.
var ownLabels = []string{"priority", "reason", "direction", "subscription", "outcome", "le"}

var (
	namePart  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// New returns a Collector that reports the figures of bus. It only reads
// bus.Metrics when collected; it starts nothing and needs no closing, and
// it keeps reporting after the bus has shut down (the counts then stay as
// they were). New panics with a message naming the problem when bus is nil
// or an option is invalid (see Options): these are mistakes in the
// program, not conditions to handle.
func New(bus *eventbus.EventBus, opts Options) *Collector {
	if bus == nil {
		panic("promexporter: New needs a bus, got a nil *eventbus.EventBus")
	}
	ns := opts.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	if !namePart.MatchString(ns) {
		panic(fmt.Sprintf("promexporter: Options.Namespace %q is not a valid metric name part ([a-zA-Z_][a-zA-Z0-9_]*)", opts.Namespace))
	}
	if opts.Subsystem != "" && !namePart.MatchString(opts.Subsystem) {
		panic(fmt.Sprintf("promexporter: Options.Subsystem %q is not a valid metric name part ([a-zA-Z_][a-zA-Z0-9_]*)", opts.Subsystem))
	}
	constLabels := make(prometheus.Labels, len(opts.ConstLabels))
	for name, value := range opts.ConstLabels {
		switch {
		case !labelName.MatchString(name) || len(name) >= 2 && name[:2] == "__":
			panic(fmt.Sprintf("promexporter: Options.ConstLabels has the invalid label name %q", name))
		case isOwnLabel(name):
			panic(fmt.Sprintf("promexporter: Options.ConstLabels may not set %q, a label the metrics use themselves", name))
		}
		constLabels[name] = value
	}

	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, opts.Subsystem, name), help, labels, constLabels)
	}
	c := &Collector{bus: bus, delivered: make(map[string]int64)}
	c.d = descs{
		published: desc("events_published_total",
			"Events handed to a publish call, by the priority they were published with.", "priority"),
		processed: desc("events_processed_total",
			"Events whose handlers have all run (an event nobody listens to counts when published), by priority.", "priority"),
		dropped: desc("events_dropped_total",
			"Events the bus dropped, by reason (queue_full, shutdown, context, invalid_priority) and priority; invalid_priority drops count as medium.", "reason", "priority"),
		unreported: desc("events_dropped_unreported_total",
			"Dropped events not passed to Config.OnDrop because too many OnDrop calls were running at once (also counted in events_dropped_total)."),
		panics: desc("handler_panics_total",
			"Handler calls that panicked or called runtime.Goexit."),
		slow: desc("slow_handlers_total",
			"Handler calls the watchdog reported as running longer than Config.HandlerTimeout."),
		replaced: desc("workers_replaced_total",
			"Workers started in place of workers stuck in a handler (Config.ReplaceStuckWorkers)."),
		resizes: desc("pool_resizes_total",
			"Changes of the worker pool's size, by direction (up, down), by the scaler of a dynamic pool or by Resize.", "direction"),
		pending: desc("events_pending",
			"Events queued or being handled now."),
		depth: desc("queue_depth",
			"Events waiting in the queue now, by priority.", "priority"),
		capacity: desc("queue_capacity",
			"The number of events the queue holds at most, all priorities together (Config.QueueSize)."),
		waiting: desc("publishers_waiting",
			"Publish calls waiting for room in a full queue now."),
		workers: desc("workers",
			"Workers in the pool now."),
		stuck: desc("workers_stuck",
			"Replaced workers whose handler has not returned yet."),
		utilMean: desc("worker_utilization_ratio",
			"Mean over the workers of the share of the last sampling window spent handling events, 0 to 1 (only with Config.MonitoringEnabled)."),
		utilMax: desc("worker_utilization_max_ratio",
			"The busiest worker's share of the last sampling window spent handling events, 0 to 1 (only with Config.MonitoringEnabled)."),
		avgProc: desc("event_processing_average_seconds",
			"Moving average of the time a worker spends on one event, all its handlers (only with Config.MonitoringEnabled)."),
		wait: desc("event_wait_seconds",
			"Time from publish until a worker takes the event, by priority, over the bus's life (only with Config.MonitoringEnabled).", "priority"),
		subMatched: desc("subscription_matched_total",
			"Deliveries handed to the subscriptions of a name (events that passed the queue and the filter); unnamed subscriptions are summed under \""+UnnamedSubscription+"\".", "subscription"),
		subSettled: desc("subscription_settled_total",
			"Deliveries of the subscriptions of a name that have finished, by outcome: delivered (handler called or event sent to the channel), dropped, or coalesced.", "subscription", "outcome"),
		subMissed: desc("subscription_missed_total",
			"Events resuming subscriptions of a name could not get because they had left the replay buffer.", "subscription"),
		subPending: desc("subscription_pending",
			"Deliveries of the subscriptions of a name waiting or running now.", "subscription"),
		subRunning: desc("subscription_running",
			"Handler calls of the subscriptions of a name running now.", "subscription"),
	}
	return c
}

func isOwnLabel(name string) bool {
	for _, l := range ownLabels {
		if name == l {
			return true
		}
	}
	return false
}

// Describe sends the description of every metric the Collector may emit.
// It implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.d.all() {
		ch <- d
	}
}

// Collect takes one snapshot of the bus and sends its figures as constant
// metrics. The timing metrics (wait histogram, utilization, average
// processing time) are sent only when the bus has Config.MonitoringEnabled,
// the utilization only while the bus has workers; everything else is sent
// on every call, zeros included, so that each series exists from the first
// scrape. It implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	m := c.bus.Metrics()
	d := &c.d
	counter := func(desc *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	perPriority := func(f func(p string, v int64), c eventbus.PriorityCounts) {
		f("low", c.Low)
		f("medium", c.Medium)
		f("high", c.High)
	}

	perPriority(func(p string, v int64) { counter(d.published, v, p) }, m.EventsPublishedByPriority)
	perPriority(func(p string, v int64) { counter(d.processed, v, p) }, m.EventsProcessedByPriority)
	for _, r := range []struct {
		reason string
		counts eventbus.PriorityCounts
	}{
		{"queue_full", m.Drops.ByReason.QueueFull},
		{"shutdown", m.Drops.ByReason.Shutdown},
		{"context", m.Drops.ByReason.Context},
		{"invalid_priority", m.Drops.ByReason.InvalidPriority},
	} {
		perPriority(func(p string, v int64) { counter(d.dropped, v, r.reason, p) }, r.counts)
	}
	counter(d.unreported, m.Drops.Unreported)
	counter(d.panics, m.HandlerPanics)
	counter(d.slow, m.SlowHandlers)
	counter(d.replaced, m.WorkersReplaced)
	counter(d.resizes, m.ScaleUps, "up")
	counter(d.resizes, m.ScaleDowns, "down")

	gauge(d.pending, float64(m.EventsPending))
	perPriority(func(p string, v int64) { gauge(d.depth, float64(v), p) }, m.QueueDepth)
	gauge(d.capacity, float64(m.QueueCapacity))
	gauge(d.waiting, float64(m.PublishersWaiting))
	gauge(d.workers, float64(m.Workers))
	gauge(d.stuck, float64(m.StuckWorkers))

	if m.MonitoringEnabled {
		if n := len(m.WorkerUtilization); n > 0 {
			var sum, top float64
			for _, u := range m.WorkerUtilization {
				sum += u
				top = max(top, u)
			}
			gauge(d.utilMean, sum/float64(n))
			gauge(d.utilMax, top)
		}
		gauge(d.avgProc, m.AvgProcessingTime.Seconds())
		bounds := boundsSeconds()
		ch <- waitHistogram(d.wait, bounds, m.Wait.Low, "low")
		ch <- waitHistogram(d.wait, bounds, m.Wait.Medium, "medium")
		ch <- waitHistogram(d.wait, bounds, m.Wait.High, "high")
	}

	c.collectSubscriptions(ch, m)
}

// collectSubscriptions sends the per-name subscription series.
//
// SubscriptionTotals never lowers a count as subscriptions end, but one
// count can go down on its own: a channel subscription under DropOldest
// that replaces an unread event moves it from Delivered to Dropped. A
// Prometheus counter that goes down reads as a reset, and rate() would
// jump by the whole count; so the delivered series holds its highest value
// until the count passes it again. Dropped has already gone up, so for
// that moment the outcomes add up to one more than happened.
func (c *Collector) collectSubscriptions(ch chan<- prometheus.Metric, m eventbus.MetricsSnapshot) {
	totals := mergeUnnamed(m.SubscriptionTotals())
	d := &c.d
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range totals {
		name := st.Name
		delivered := max(st.Delivered, c.delivered[name])
		c.delivered[name] = delivered
		ch <- prometheus.MustNewConstMetric(d.subMatched, prometheus.CounterValue, float64(st.Matched), name)
		ch <- prometheus.MustNewConstMetric(d.subSettled, prometheus.CounterValue, float64(delivered), name, "delivered")
		ch <- prometheus.MustNewConstMetric(d.subSettled, prometheus.CounterValue, float64(st.Dropped), name, "dropped")
		ch <- prometheus.MustNewConstMetric(d.subSettled, prometheus.CounterValue, float64(st.Coalesced), name, "coalesced")
		ch <- prometheus.MustNewConstMetric(d.subMissed, prometheus.CounterValue, float64(st.Missed), name)
		ch <- prometheus.MustNewConstMetric(d.subPending, prometheus.GaugeValue, float64(st.Pending), name)
		ch <- prometheus.MustNewConstMetric(d.subRunning, prometheus.GaugeValue, float64(st.Running), name)
	}
}

// mergeUnnamed renames the totals of unnamed subscriptions ("") to
// UnnamedSubscription, summing them with a subscription that really has
// that name, so that no two entries share a label value.
func mergeUnnamed(totals []eventbus.SubscriptionStats) []eventbus.SubscriptionStats {
	out := totals[:0:0]
	at := -1 // index in out of the UnnamedSubscription entry
	for _, st := range totals {
		if st.Name == "" {
			st.Name = UnnamedSubscription
		}
		if st.Name != UnnamedSubscription {
			out = append(out, st)
			continue
		}
		if at < 0 {
			at = len(out)
			out = append(out, st)
			continue
		}
		sum := &out[at]
		sum.Matched += st.Matched
		sum.Delivered += st.Delivered
		sum.Dropped += st.Dropped
		sum.Coalesced += st.Coalesced
		sum.Pending += st.Pending
		sum.Running += st.Running
		sum.Missed += st.Missed
	}
	return out
}
