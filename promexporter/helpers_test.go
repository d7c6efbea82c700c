package promexporter

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: buses are shut down, HTTP
// servers closed, publishers waited for.
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

// sample names one series as in the text format: the metric name and its
// labels in name order, e.g. eventbus_queue_depth{priority="low"}. A
// histogram gives name_count, name_sum and name_bucket{...,le="..."}.
type sample = string

// gather collects g and returns the value of every series.
func gather(t *testing.T, g prometheus.Gatherer) map[sample]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	return values(mfs)
}

// values flattens metric families into one value per series.
func values(mfs []*dto.MetricFamily) map[sample]float64 {
	out := make(map[sample]float64)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			key := func(suffix string, extra ...string) sample {
				all := append(append([]string(nil), labels...), extra...)
				sort.Strings(all)
				if len(all) == 0 {
					return mf.GetName() + suffix
				}
				return mf.GetName() + suffix + "{" + strings.Join(all, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[key("")] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key("")] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				h := m.GetHistogram()
				out[key("_count")] = float64(h.GetSampleCount())
				out[key("_sum")] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					out[key("_bucket", fmt.Sprintf("le=%q", fmt.Sprint(b.GetUpperBound())))] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return out
}

// expect fails the test for every series of want whose value in got
// differs or is missing.
func expect(t *testing.T, got map[sample]float64, want map[sample]float64) {
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
