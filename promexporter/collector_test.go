package promexporter

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/brummer-dev/eventbus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const depthText = `
# HELP brummer_queue_depth Events waiting in the queue now, by priority.
# TYPE brummer_queue_depth gauge
brummer_queue_depth{priority="high"} 1
brummer_queue_depth{priority="low"} 1
brummer_queue_depth{priority="medium"} 0
# HELP brummer_events_pending Events queued or being handled now.
# TYPE brummer_events_pending gauge
brummer_events_pending 3
# HELP brummer_queue_capacity The number of events the queue holds at most, all priorities together (Config.QueueSize).
# TYPE brummer_queue_capacity gauge
brummer_queue_capacity 2
# HELP brummer_workers Workers in the pool now.
# TYPE brummer_workers gauge
brummer_workers 1
`

const countsText = `
# HELP brummer_events_published_total Events handed to a publish call, by the priority they were published with.
# TYPE brummer_events_published_total counter
brummer_events_published_total{priority="high"} 2
brummer_events_published_total{priority="low"} 3
brummer_events_published_total{priority="medium"} 3
# HELP brummer_events_processed_total Events whose handlers have all run (an event nobody listens to counts when published), by priority.
# TYPE brummer_events_processed_total counter
brummer_events_processed_total{priority="high"} 2
brummer_events_processed_total{priority="low"} 1
brummer_events_processed_total{priority="medium"} 0
# HELP brummer_events_dropped_total Events the bus dropped, by reason (queue_full, shutdown, context, invalid_priority) and priority; invalid_priority drops count as medium.
# TYPE brummer_events_dropped_total counter
brummer_events_dropped_total{priority="high",reason="context"} 0
brummer_events_dropped_total{priority="high",reason="invalid_priority"} 0
brummer_events_dropped_total{priority="high",reason="queue_full"} 0
brummer_events_dropped_total{priority="high",reason="shutdown"} 0
brummer_events_dropped_total{priority="low",reason="context"} 1
brummer_events_dropped_total{priority="low",reason="invalid_priority"} 0
brummer_events_dropped_total{priority="low",reason="queue_full"} 0
brummer_events_dropped_total{priority="low",reason="shutdown"} 1
brummer_events_dropped_total{priority="medium",reason="context"} 0
brummer_events_dropped_total{priority="medium",reason="invalid_priority"} 1
brummer_events_dropped_total{priority="medium",reason="queue_full"} 2
brummer_events_dropped_total{priority="medium",reason="shutdown"} 0
# HELP brummer_events_pending Events queued or being handled now.
# TYPE brummer_events_pending gauge
brummer_events_pending 0
`

// The bus is driven to known counts of every kind of drop, and the
// exported figures are compared with them, not with the bus's own
// snapshot: a collector that mixed up labels or levels fails here.
func TestCountsDropsAndDepth(t *testing.T) {
	bus := newHeldBus(t, eventbus.DropNewest)
	c := New(bus.EventBus, Options{Namespace: "brummer"})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)

	bus.hold(t) // high: published and, once released, processed
	work := eventbus.Event{Type: typeWork}
	for _, p := range []eventbus.Priority{eventbus.PriorityLow, eventbus.PriorityHigh} {
		if err := bus.PublishWithBackpressure(work, p); err != nil {
			t.Fatalf("publish at %v: %v", p, err)
		}
	}
	// The queue holds two: DropNewest refuses the next ones.
	for range 2 {
		if err := bus.PublishWithBackpressure(work, eventbus.PriorityMedium); !errors.Is(err, eventbus.ErrQueueFull) {
			t.Fatalf("publish into a full queue: %v, want ErrQueueFull", err)
		}
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(depthText),
		"brummer_queue_depth", "brummer_events_pending", "brummer_queue_capacity", "brummer_workers"); err != nil {
		t.Errorf("while held: %v", err)
	}

	if err := bus.PublishWithBackpressure(work, eventbus.Priority(0)); !errors.Is(err, eventbus.ErrInvalidPriority) {
		t.Fatalf("publish at priority 0: %v, want ErrInvalidPriority", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := bus.PublishContext(ctx, work); !errors.Is(err, context.Canceled) {
		t.Fatalf("publish with a cancelled context: %v, want context.Canceled", err)
	}
	bus.unhold()
	idle(t, bus.EventBus)
	bus.Shutdown()
	bus.Publish(work) // low, after shutdown

	if err := testutil.CollectAndCompare(c, strings.NewReader(countsText),
		"brummer_events_published_total", "brummer_events_processed_total", "brummer_events_dropped_total", "brummer_events_pending"); err != nil {
		t.Error(err)
	}

	// The subscriptions have all ended with the bus: their counts stay.
	// Two subscriptions named audit are summed, the unnamed one has its
	// own series.
	got := gather(t, reg)
	expect(t, got, map[sample]float64{
		`brummer_subscription_matched_total{subscription="audit"}`:                         4,
		`brummer_subscription_settled_total{outcome="delivered",subscription="audit"}`:     4,
		`brummer_subscription_settled_total{outcome="dropped",subscription="audit"}`:       0,
		`brummer_subscription_matched_total{subscription="(unnamed)"}`:                     2,
		`brummer_subscription_settled_total{outcome="delivered",subscription="(unnamed)"}`: 2,
		`brummer_subscription_matched_total{subscription="holder"}`:                        1,
		`brummer_subscription_pending{subscription="audit"}`:                               0,
		`brummer_subscription_running{subscription="holder"}`:                              0,
		// One wait per event a worker took: the hold event and the
		// queued high one, and the queued low one.
		`brummer_event_wait_seconds_count{priority="high"}`:   2,
		`brummer_event_wait_seconds_count{priority="medium"}`: 0,
		`brummer_event_wait_seconds_count{priority="low"}`:    1,
	})
	for k := range got {
		if strings.HasPrefix(k, "brummer_subscription_matched_total") && !strings.Contains(k, `"audit"`) &&
			!strings.Contains(k, `"(unnamed)"`) && !strings.Contains(k, `"holder"`) {
			t.Errorf("unexpected subscription series %s", k)
		}
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

// DropLowPri makes room for a higher event by evicting the oldest Low one,
// and refuses a new Low one when nothing lower is queued: every drop here
// is queue_full at low, and the queue ends up holding a High and a Medium.
func TestDropLowPriEvictsLowest(t *testing.T) {
	bus := newHeldBus(t, eventbus.DropLowPri)
	c := New(bus.EventBus, Options{Namespace: "brummer"})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)

	bus.hold(t)
	work := eventbus.Event{Type: typeWork}
	for _, p := range []eventbus.Priority{
		eventbus.PriorityLow, eventbus.PriorityLow, // fill the queue
		eventbus.PriorityHigh, eventbus.PriorityMedium, // each evicts a low one
	} {
		if err := bus.PublishWithBackpressure(work, p); err != nil {
			t.Fatalf("publish at %v: %v", p, err)
		}
	}
	if err := bus.PublishWithBackpressure(work, eventbus.PriorityLow); !errors.Is(err, eventbus.ErrQueueFull) {
		t.Fatalf("low into a queue of high and medium: %v, want ErrQueueFull", err)
	}
	expect(t, gather(t, reg), map[sample]float64{
		`brummer_events_dropped_total{priority="low",reason="queue_full"}`:    3,
		`brummer_events_dropped_total{priority="medium",reason="queue_full"}`: 0,
		`brummer_events_dropped_total{priority="high",reason="queue_full"}`:   0,
		`brummer_queue_depth{priority="low"}`:                                 0,
		`brummer_queue_depth{priority="medium"}`:                              1,
		`brummer_queue_depth{priority="high"}`:                                1,
		`brummer_events_pending`:                                              3,
		`brummer_events_published_total{priority="low"}`:                      3,
	})
	bus.unhold()
	idle(t, bus.EventBus)
	expect(t, gather(t, reg), map[sample]float64{
		`brummer_events_processed_total{priority="high"}`:   2,
		`brummer_events_processed_total{priority="medium"}`: 1,
		`brummer_events_processed_total{priority="low"}`:    0,
		`brummer_events_pending`:                            0,
	})
}

// The timing metrics follow Config.MonitoringEnabled: without it the bus
// measures no wait, and the exporter claims none.
func TestMonitoringOffSendsNoTimings(t *testing.T) {
	bus, err := eventbus.NewEventBus(eventbus.Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Shutdown()
	bus.On(typeWork, func(eventbus.Event) {})
	bus.Publish(eventbus.Event{Type: typeWork})
	idle(t, bus)

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(bus, Options{}))
	got := gather(t, reg)
	for k := range got {
		for _, timing := range []string{"event_wait_seconds", "worker_utilization", "event_processing_average_seconds"} {
			if strings.Contains(k, timing) {
				t.Errorf("monitoring is off, yet %s is sent", k)
			}
		}
	}
	// Without a namespace, names start with DefaultNamespace.
	expect(t, got, map[sample]float64{
		`eventbus_events_processed_total{priority="medium"}`: 1,
		`eventbus_workers`: 1,
	})
}

// Two buses in one registry, told apart by a constant label.
func TestConstLabelsSeparateBuses(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	for i, name := range []string{"a", "b"} {
		bus, err := eventbus.NewEventBus(eventbus.Config{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer bus.Shutdown()
		for range i + 1 {
			bus.Publish(eventbus.Event{Type: typeWork}) // nobody listens: processed at once
		}
		reg.MustRegister(New(bus, Options{Subsystem: "bus", ConstLabels: prometheus.Labels{"bus": name}}))
	}
	expect(t, gather(t, reg), map[sample]float64{
		`eventbus_bus_events_published_total{bus="a",priority="medium"}`: 1,
		`eventbus_bus_events_published_total{bus="b",priority="medium"}`: 2,
	})
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	bus, err := eventbus.NewEventBus(eventbus.Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Shutdown()
	for _, tc := range []struct {
		name string
		bus  *eventbus.EventBus
		opts Options
		want string
	}{
		{"nil bus", nil, Options{}, "nil *eventbus.EventBus"},
		{"namespace", bus, Options{Namespace: "my-app"}, "Options.Namespace"},
		{"subsystem", bus, Options{Subsystem: "1bus"}, "Options.Subsystem"},
		{"label name", bus, Options{ConstLabels: prometheus.Labels{"a-b": "x"}}, "invalid label name"},
		{"reserved label", bus, Options{ConstLabels: prometheus.Labels{"__name__": "x"}}, "invalid label name"},
		{"own label", bus, Options{ConstLabels: prometheus.Labels{"priority": "x"}}, `"priority"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if !strings.Contains(msg, tc.want) {
					t.Errorf("panic %v, want a message containing %q", r, tc.want)
				}
			}()
			New(tc.bus, tc.opts)
		})
	}
}

// A subscription that really has the name used for unnamed ones is summed
// with them: a registry rejects two series with one label set.
func TestMergeUnnamed(t *testing.T) {
	got := mergeUnnamed([]eventbus.SubscriptionStats{
		{Name: "", Matched: 1, Delivered: 1},
		{Name: UnnamedSubscription, Matched: 2, Delivered: 1, Dropped: 1},
		{Name: "z", Matched: 5},
	})
	if len(got) != 2 || got[0].Name != UnnamedSubscription || got[0].Matched != 3 || got[0].Dropped != 1 || got[1].Name != "z" {
		t.Errorf("mergeUnnamed = %+v", got)
	}
}

// A channel subscription under DropOldest moves a replaced event from
// Delivered to Dropped, so Delivered can dip by one between two snapshots.
// The exported counter must not go down with it.
func TestDeliveredNeverGoesDown(t *testing.T) {
	bus, err := eventbus.NewEventBus(eventbus.Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Shutdown()
	c := New(bus, Options{})
	snap := func(delivered, dropped int64) eventbus.MetricsSnapshot {
		return eventbus.MetricsSnapshot{Subscriptions: []eventbus.SubscriptionStats{
			{Name: "reader", Matched: delivered + dropped, Delivered: delivered, Dropped: dropped},
		}}
	}
	read := func(m eventbus.MetricsSnapshot) map[sample]float64 {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectorFunc(func(ch chan<- prometheus.Metric) { c.collectSubscriptions(ch, m) }, c))
		return gather(t, reg)
	}
	const key = `eventbus_subscription_settled_total{outcome="delivered",subscription="reader"}`
	for _, step := range []struct{ delivered, dropped, want int64 }{
		{5, 0, 5},
		{4, 1, 5}, // taken back: held at 5
		{5, 1, 5},
		{7, 1, 7},
	} {
		if got := read(snap(step.delivered, step.dropped))[key]; got != float64(step.want) {
			t.Errorf("delivered %d: exported %v, want %d", step.delivered, got, step.want)
		}
	}
}

// collectorFunc is a collector that describes itself like c and collects
// with f.
type collectorFuncT struct {
	f func(chan<- prometheus.Metric)
	c *Collector
}

func collectorFunc(f func(chan<- prometheus.Metric), c *Collector) prometheus.Collector {
	return collectorFuncT{f, c}
}

func (cf collectorFuncT) Describe(ch chan<- *prometheus.Desc) { cf.c.Describe(ch) }
func (cf collectorFuncT) Collect(ch chan<- prometheus.Metric) { cf.f(ch) }
