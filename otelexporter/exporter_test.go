package otelexporter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/brummer-dev/eventbus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The bus is driven to known counts of every kind of drop, and the
// observed figures are compared with them, not with the bus's own
// snapshot: an exporter that mixed up attributes or levels fails here.
func TestCountsDropsAndDepth(t *testing.T) {
	bus := newHeldBus(t, eventbus.DropNewest)
	reader, mp := newReader(t)
	reg, err := Register(bus.EventBus, mp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()

	bus.hold(t)
	work := eventbus.Event{Type: typeWork}
	for _, p := range []eventbus.Priority{eventbus.PriorityLow, eventbus.PriorityHigh} {
		if err := bus.PublishWithBackpressure(work, p); err != nil {
			t.Fatalf("publish at %v: %v", p, err)
		}
	}
	for range 2 { // the queue holds two: DropNewest refuses these
		if err := bus.PublishWithBackpressure(work, eventbus.PriorityMedium); !errors.Is(err, eventbus.ErrQueueFull) {
			t.Fatalf("publish into a full queue: %v, want ErrQueueFull", err)
		}
	}
	got, _ := collect(t, reader)
	expect(t, got, map[point]float64{
		"eventbus.queue.depth{eventbus.priority=low}":    1,
		"eventbus.queue.depth{eventbus.priority=medium}": 0,
		"eventbus.queue.depth{eventbus.priority=high}":   1,
		"eventbus.event.pending":                         3,
		"eventbus.queue.limit":                           2,
		"eventbus.worker.count":                          1,
		"eventbus.publisher.waiting":                     0,
	})

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

	got, _ = collect(t, reader)
	drop := func(reason, prio string) point {
		return fmt.Sprintf("eventbus.dropped.events{eventbus.drop.reason=%s,eventbus.priority=%s}", reason, prio)
	}
	want := map[point]float64{
		"eventbus.published.events{eventbus.priority=low}":    3,
		"eventbus.published.events{eventbus.priority=medium}": 3,
		"eventbus.published.events{eventbus.priority=high}":   2,
		"eventbus.processed.events{eventbus.priority=low}":    1,
		"eventbus.processed.events{eventbus.priority=medium}": 0,
		"eventbus.processed.events{eventbus.priority=high}":   2,
		"eventbus.event.pending":                              0,
		// Subscriptions ended with the bus; their counts stay. The two
		// named audit are summed, the unnamed one has its own.
		"eventbus.subscription.matched{eventbus.subscription.name=audit}":                                             4,
		"eventbus.subscription.settled{eventbus.subscription.name=audit,eventbus.subscription.outcome=delivered}":     4,
		"eventbus.subscription.settled{eventbus.subscription.name=audit,eventbus.subscription.outcome=dropped}":       0,
		"eventbus.subscription.matched{eventbus.subscription.name=(unnamed)}":                                         2,
		"eventbus.subscription.settled{eventbus.subscription.name=(unnamed),eventbus.subscription.outcome=delivered}": 2,
		"eventbus.subscription.matched{eventbus.subscription.name=holder}":                                            1,
		"eventbus.subscription.pending{eventbus.subscription.name=audit}":                                             0,
	}
	for _, r := range []string{"queue_full", "shutdown", "context", "invalid_priority"} {
		for _, p := range []string{"low", "medium", "high"} {
			want[drop(r, p)] = 0
		}
	}
	want[drop("queue_full", "medium")] = 2
	want[drop("invalid_priority", "medium")] = 1
	want[drop("context", "low")] = 1
	want[drop("shutdown", "low")] = 1
	expect(t, got, want)
	for k := range got {
		if strings.HasPrefix(k, "eventbus.subscription.matched") && !strings.Contains(k, "=audit}") &&
			!strings.Contains(k, "=(unnamed)}") && !strings.Contains(k, "=holder}") {
			t.Errorf("unexpected subscription series %s", k)
		}
	}

	// One wait per event a worker took: the hold event and the queued
	// high one, and the queued low one.
	for prio, n := range map[string]float64{"low": 1, "medium": 0, "high": 2} {
		var sum float64
		for k, v := range got {
			if strings.HasPrefix(k, "eventbus.wait.events{") && strings.Contains(k, "eventbus.priority="+prio) {
				sum += v
			}
		}
		if sum != n {
			t.Errorf("%s: %v waits over the buckets, want %v", prio, sum, n)
		}
	}
}

// Each instrument is of the kind and unit the README promises, and an
// observable counter reaches the reader as a monotonic cumulative sum.
func TestInstrumentKinds(t *testing.T) {
	bus, err := eventbus.NewEventBus(eventbus.Config{Workers: 1, MonitoringEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Shutdown()
	bus.On(typeWork, func(eventbus.Event) {}, eventbus.WithName("w"))
	bus.Publish(eventbus.Event{Type: typeWork})
	idle(t, bus)
	reader, mp := newReader(t)
	reg, err := Register(bus, mp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	_, kinds := collect(t, reader)
	want := map[string][2]string{
		"eventbus.published.events":            {"counter", "{event}"},
		"eventbus.processed.events":            {"counter", "{event}"},
		"eventbus.dropped.events":              {"counter", "{event}"},
		"eventbus.unreported_drops":            {"counter", "{event}"},
		"eventbus.handler.panics":              {"counter", "{panic}"},
		"eventbus.handler.slow_calls":          {"counter", "{call}"},
		"eventbus.worker.replacements":         {"counter", "{worker}"},
		"eventbus.pool.resizes":                {"counter", "{resize}"},
		"eventbus.wait.events":                 {"counter", "{event}"},
		"eventbus.wait.time":                   {"counter", "s"},
		"eventbus.subscription.matched":        {"counter", "{event}"},
		"eventbus.subscription.settled":        {"counter", "{event}"},
		"eventbus.subscription.missed":         {"counter", "{event}"},
		"eventbus.event.pending":               {"updown", "{event}"},
		"eventbus.queue.depth":                 {"updown", "{event}"},
		"eventbus.queue.limit":                 {"updown", "{event}"},
		"eventbus.publisher.waiting":           {"updown", "{publisher}"},
		"eventbus.worker.count":                {"updown", "{worker}"},
		"eventbus.worker.stuck":                {"updown", "{worker}"},
		"eventbus.subscription.pending":        {"updown", "{event}"},
		"eventbus.subscription.running":        {"updown", "{call}"},
		"eventbus.worker.utilization.mean":     {"gauge", "1"},
		"eventbus.worker.utilization.max":      {"gauge", "1"},
		"eventbus.processing.duration.average": {"gauge", "s"},
	}
	for name, w := range want {
		in, ok := kinds[name]
		switch {
		case !ok:
			t.Errorf("%s: not reported", name)
		case in.kind != w[0] || in.unit != w[1]:
			t.Errorf("%s: %s in %q, want %s in %q", name, in.kind, in.unit, w[0], w[1])
		case in.kind != "gauge" && !in.cumulated:
			t.Errorf("%s: not cumulative", name)
		}
	}
	for name := range kinds {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: reported but not documented here", name)
		}
	}
	if n := kinds["eventbus.wait.events"].points; n != 3*len(eventbus.WaitBucketBounds())+3 {
		t.Errorf("eventbus.wait.events has %d points, want 3 priorities × %d buckets", n, len(eventbus.WaitBucketBounds())+1)
	}
}

// Every bucket's count is the bus's own, bucket for bucket: non-cumulative,
// so that summing over eventbus.wait.bucket gives the number of waits.
func TestWaitBucketsMatchBus(t *testing.T) {
	bus, err := eventbus.NewEventBus(eventbus.Config{Workers: 2, EnablePriority: true, MonitoringEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Shutdown()
	bus.On(typeWork, func(eventbus.Event) {})
	published := map[eventbus.Priority]int{eventbus.PriorityLow: 7, eventbus.PriorityMedium: 5, eventbus.PriorityHigh: 3}
	for p, n := range published {
		for range n {
			if err := bus.PublishWithBackpressure(eventbus.Event{Type: typeWork}, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	idle(t, bus)
	reader, mp := newReader(t)
	reg, err := Register(bus, mp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	got, _ := collect(t, reader)
	snap := bus.Metrics() // the bus is idle: the waits do not change
	bounds := eventbus.WaitBucketBounds()
	for p, st := range map[eventbus.Priority]eventbus.WaitStats{
		eventbus.PriorityLow: snap.Wait.Low, eventbus.PriorityMedium: snap.Wait.Medium, eventbus.PriorityHigh: snap.Wait.High,
	} {
		var total float64
		for i, n := range st.Buckets {
			bound := "+Inf"
			if i < len(bounds) {
				bound = fmt.Sprint(bounds[i].Seconds())
			}
			key := fmt.Sprintf("eventbus.wait.events{eventbus.priority=%s,eventbus.wait.bucket=%s}", p, bound)
			if v, ok := got[key]; !ok || v != float64(n) {
				t.Errorf("%s = %v (present %v), want %d", key, v, ok, n)
			}
			total += got[key]
		}
		if total != float64(published[p]) {
			t.Errorf("%v: %v waits, want %d", p, total, published[p])
		}
		key := fmt.Sprintf("eventbus.wait.time{eventbus.priority=%s}", p)
		if v := got[key]; v != st.Sum.Seconds() || v <= 0 {
			t.Errorf("%s = %v, want the bus's %v (> 0)", key, v, st.Sum.Seconds())
		}
	}
}

// The timing instruments follow Config.MonitoringEnabled: without it the
// bus measures no wait, and the exporter claims none.
func TestMonitoringOffObservesNoTimings(t *testing.T) {
	bus, err := eventbus.NewEventBus(eventbus.Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Shutdown()
	bus.Publish(eventbus.Event{Type: typeWork})
	reader, mp := newReader(t)
	reg, err := Register(bus, mp, Options{Attributes: []attribute.KeyValue{attribute.String("eventbus.name", "web")}})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	got, _ := collect(t, reader)
	for k := range got {
		for _, timing := range []string{"eventbus.wait.", "eventbus.worker.utilization", "eventbus.processing."} {
			if strings.HasPrefix(k, timing) {
				t.Errorf("monitoring is off, yet %s is observed", k)
			}
		}
	}
	// Options.Attributes are on every point, in key order with the rest.
	expect(t, got, map[point]float64{
		"eventbus.published.events{eventbus.name=web,eventbus.priority=medium}": 1,
		"eventbus.worker.count{eventbus.name=web}":                              1,
	})
}

// After Unregister the callback no longer runs: nothing is observed.
func TestUnregisterStopsReporting(t *testing.T) {
	bus, err := eventbus.NewEventBus(eventbus.Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Shutdown()
	reader, mp := newReader(t)
	reg, err := Register(bus, mp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := collect(t, reader); len(got) == 0 {
		t.Fatal("nothing observed while registered")
	}
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	if got, _ := collect(t, reader); len(got) != 0 {
		t.Errorf("%d points observed after Unregister", len(got))
	}
}

func TestRegisterRejectsBadInput(t *testing.T) {
	bus, err := eventbus.NewEventBus(eventbus.Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Shutdown()
	_, mp := newReader(t)
	for _, tc := range []struct {
		name  string
		bus   *eventbus.EventBus
		mp    metric.MeterProvider
		panic string
	}{
		{"nil bus", nil, mp, "nil *eventbus.EventBus"},
		{"nil provider", bus, nil, "metric.MeterProvider"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, tc.panic) {
					t.Errorf("panic %q, want one containing %q", msg, tc.panic)
				}
			}()
			_, _ = Register(tc.bus, tc.mp, Options{})
		})
	}
	for _, attrs := range [][]attribute.KeyValue{
		{attribute.String("", "x")},
		{attribute.String("a", "x"), attribute.String("a", "y")},
		{attribute.String(string(AttrPriority), "x")},
	} {
		reg, err := Register(bus, mp, Options{Attributes: attrs})
		if !errors.Is(err, ErrInvalidOptions) || reg != nil {
			t.Errorf("Attributes %v: %v, %v; want ErrInvalidOptions", attrs, reg, err)
		}
	}
}

// A channel subscription under DropOldest moves a replaced event from
// Delivered to Dropped, so Delivered can dip by one between two snapshots.
// The observed counter must not go down with it.
func TestDeliveredNeverGoesDown(t *testing.T) {
	bus, err := eventbus.NewEventBus(eventbus.Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Shutdown()
	reader, mp := newReader(t)
	e, err := newExporter(bus, mp.Meter(ScopeName), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var next eventbus.MetricsSnapshot
	reg, err := e.register(func(_ context.Context, o metric.Observer) error {
		e.observe(o, next)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	const key = "eventbus.subscription.settled{eventbus.subscription.name=reader,eventbus.subscription.outcome=delivered}"
	for _, step := range []struct{ delivered, dropped, want int64 }{
		{5, 0, 5},
		{4, 1, 5}, // taken back: held at 5
		{5, 1, 5},
		{7, 1, 7},
	} {
		next = eventbus.MetricsSnapshot{Subscriptions: []eventbus.SubscriptionStats{
			{Name: "reader", Matched: step.delivered + step.dropped, Delivered: step.delivered, Dropped: step.dropped},
		}}
		if got, _ := collect(t, reader); got[key] != float64(step.want) {
			t.Errorf("delivered %d: observed %v, want %d", step.delivered, got[key], step.want)
		}
	}
}

// A subscription that really has the name used for unnamed ones is summed
// with them: two points with one attribute set would be merged anyway.
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

// Collections while four publishers flood the bus: under -race this shows
// that observing shares nothing unsafely with publishing. No counter goes
// down from one collection to the next, and once the flood is over the
// figures add up to what was published.
func TestCollectDuringFlood(t *testing.T) {
	const publishers, maxPerPublisher, collections = 4, 200_000, 20
	bus, err := eventbus.NewEventBus(eventbus.Config{
		Workers: 2, QueueSize: 64, EnablePriority: true,
		BackpressureMode: eventbus.DropLowPri, MonitoringEnabled: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Shutdown()
	bus.On(typeWork, func(eventbus.Event) {}, eventbus.WithName("sink"))
	reader, mp := newReader(t)
	reg, err := Register(bus, mp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()

	var wg sync.WaitGroup
	var sent atomic.Int64
	stop := make(chan struct{})
	for i := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range maxPerPublisher {
				select {
				case <-stop:
					return
				default:
				}
				_ = bus.PublishWithBackpressure(eventbus.Event{Type: typeWork}, eventbus.Priority(1+(i+j)%3))
				sent.Add(1)
			}
		}()
	}
	var prev map[point]float64
	var prevKinds map[string]instrument
	for range collections {
		cur, kinds := collect(t, reader)
		for k, v := range prev {
			name, _, _ := strings.Cut(k, "{")
			if prevKinds[name].kind == "counter" && cur[k] < v {
				t.Errorf("%s went down from %v to %v", k, v, cur[k])
			}
		}
		prev, prevKinds = cur, kinds
	}
	close(stop)
	wg.Wait()
	idle(t, bus)
	if prev["eventbus.published.events{eventbus.priority=high}"] == 0 {
		t.Error("the last collection during the flood saw no high event published")
	}

	got, _ := collect(t, reader)
	var published, processed, dropped float64
	for k, v := range got {
		switch {
		case strings.HasPrefix(k, "eventbus.published.events{"):
			published += v
		case strings.HasPrefix(k, "eventbus.processed.events{"):
			processed += v
		case strings.HasPrefix(k, "eventbus.dropped.events{"):
			dropped += v
		}
	}
	if published != float64(sent.Load()) || processed+dropped != published {
		t.Errorf("published %v processed %v dropped %v, want %d published, all processed or dropped",
			published, processed, dropped, sent.Load())
	}
	if m := got["eventbus.subscription.matched{eventbus.subscription.name=sink}"]; m != processed {
		t.Errorf("sink matched %v, want the %v processed", m, processed)
	}
}
