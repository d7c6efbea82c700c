package otelexporter

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brummer-dev/eventbus"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: buses are shut down,
// providers shut down, publishers waited for.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait: long enough for a loaded 2-core machine
// under -race, short enough to fail a hung test quickly.
const testTimeout = 20 * time.Second

// Event types of the tests: hold blocks the only worker, work is what gets
// counted.
const (
	typeHold eventbus.EventType = "test.hold"
	typeWork eventbus.EventType = "test.work"
)

// heldBus is a bus with one worker and room for two queued events, whose
// worker can be held in a handler so that the queue fills and drops
// happen exactly when the test says.
type heldBus struct {
	*eventbus.EventBus
	started     chan struct{} // receives when the hold handler has begun
	release     chan struct{} // closing it lets the hold handler return
	releaseOnce sync.Once
}

// newHeldBus starts such a bus under policy, with monitoring on; typeHold
// is High and typeWork Low by default. The subscriptions: "holder" on
// typeHold, two named "audit" and one without a name on typeWork. The
// test's cleanup releases the worker and shuts the bus down.
func newHeldBus(t *testing.T, policy eventbus.DropPolicy) *heldBus {
	t.Helper()
	bus, err := eventbus.NewEventBus(eventbus.Config{
		Workers:           1,
		QueueSize:         2,
		EnablePriority:    true,
		BackpressureMode:  policy,
		MonitoringEnabled: true,
		Priorities:        map[eventbus.EventType]eventbus.Priority{typeHold: eventbus.PriorityHigh, typeWork: eventbus.PriorityLow},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := &heldBus{EventBus: bus, started: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(func() {
		h.unhold()
		bus.Shutdown()
	})
	bus.On(typeHold, func(eventbus.Event) {
		h.started <- struct{}{}
		<-h.release
	}, eventbus.WithName("holder"))
	noop := func(eventbus.Event) {}
	bus.On(typeWork, noop, eventbus.WithName("audit"))
	bus.On(typeWork, noop, eventbus.WithName("audit"))
	bus.On(typeWork, noop)
	return h
}

// unhold lets the hold handler return; calling it again does nothing.
func (h *heldBus) unhold() {
	h.releaseOnce.Do(func() { close(h.release) })
}

// hold publishes a typeHold event and waits until the worker is in its
// handler: from then on, published events stay queued.
func (h *heldBus) hold(t *testing.T) {
	t.Helper()
	h.Publish(eventbus.Event{Type: typeHold})
	select {
	case <-h.started:
	case <-time.After(testTimeout):
		t.Fatal("the hold handler did not start")
	}
}

// idle waits until every event published so far is processed or dropped.
func idle(t *testing.T, bus *eventbus.EventBus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := bus.WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
}

// newReader returns a manual reader on a fresh provider, shut down by the
// test's cleanup.
func newReader(t *testing.T) (*sdkmetric.ManualReader, *sdkmetric.MeterProvider) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		if err := mp.Shutdown(context.Background()); err != nil {
			t.Errorf("provider shutdown: %v", err)
		}
	})
	return reader, mp
}

// point names one data point: the instrument and its attributes in key
// order, e.g. eventbus.queue.depth{eventbus.priority=low}.
type point = string

// instrument describes an instrument as the reader saw it.
type instrument struct {
	unit      string
	kind      string // "counter", "updown" or "gauge"
	points    int
	cumulated bool
}

// collect reads r once and returns the value of every data point and the
// description of every instrument of ScopeName.
func collect(t *testing.T, r *sdkmetric.ManualReader) (map[point]float64, map[string]instrument) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	values := make(map[point]float64)
	kinds := make(map[string]instrument)
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			in := instrument{unit: m.Unit}
			add := func(attrs string, v float64) {
				key := m.Name
				if attrs != "" {
					key += "{" + attrs + "}"
				}
				if _, dup := values[key]; dup {
					t.Errorf("two data points for %s", key)
				}
				values[key] = v
				in.points++
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				in.kind, in.cumulated = sumKind(d.IsMonotonic), d.Temporality == metricdata.CumulativeTemporality
				for _, dp := range d.DataPoints {
					add(attrString(dp.Attributes.ToSlice()), float64(dp.Value))
				}
			case metricdata.Sum[float64]:
				in.kind, in.cumulated = sumKind(d.IsMonotonic), d.Temporality == metricdata.CumulativeTemporality
				for _, dp := range d.DataPoints {
					add(attrString(dp.Attributes.ToSlice()), dp.Value)
				}
			case metricdata.Gauge[float64]:
				in.kind = "gauge"
				for _, dp := range d.DataPoints {
					add(attrString(dp.Attributes.ToSlice()), dp.Value)
				}
			default:
				t.Errorf("%s: unexpected data %T", m.Name, m.Data)
			}
			kinds[m.Name] = in
		}
	}
	return values, kinds
}

func sumKind(monotonic bool) string {
	if monotonic {
		return "counter"
	}
	return "updown"
}

// attrString writes attributes as k=v pairs in key order (the order
// attribute.Set keeps them in).
func attrString(kvs []attribute.KeyValue) string {
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		parts[i] = fmt.Sprintf("%s=%s", kv.Key, kv.Value.Emit())
	}
	return strings.Join(parts, ",")
}

// expect fails the test for every point of want whose value in got
// differs or is missing.
func expect(t *testing.T, got map[point]float64, want map[point]float64) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s: missing", k)
		case v != want[k]:
			t.Errorf("%s = %v, want %v", k, v, want[k])
		}
	}
}
