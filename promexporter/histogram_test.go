package promexporter

import (
	"fmt"
	"testing"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The bus's buckets count each range on its own; Prometheus's count
// everything up to their bound, and the last bus bucket (beyond the last
// bound) shows only in +Inf, that is in the count.
func TestWaitHistogramIsCumulative(t *testing.T) {
	bounds := boundsSeconds()
	buckets := make([]int64, len(bounds)+1)
	buckets[0] = 2             // under 1.024µs
	buckets[3] = 1             // [4.096µs, 8.192µs)
	buckets[len(bounds)-1] = 4 // below the last bound
	buckets[len(bounds)] = 3   // beyond it
	st := eventbus.WaitStats{Count: 10, Sum: 250 * time.Second, Buckets: buckets}

	desc := prometheus.NewDesc("wait_seconds", "test", []string{"priority"}, nil)
	var m dto.Metric
	if err := waitHistogram(desc, bounds, st, "high").Write(&m); err != nil {
		t.Fatal(err)
	}
	h := m.GetHistogram()
	if h.GetSampleCount() != 10 || h.GetSampleSum() != 250 {
		t.Errorf("count %d sum %v, want 10 and 250", h.GetSampleCount(), h.GetSampleSum())
	}
	if len(h.GetBucket()) != len(bounds) {
		t.Fatalf("%d buckets, want %d", len(h.GetBucket()), len(bounds))
	}
	want := map[int]uint64{0: 2, 1: 2, 2: 2, 3: 3, 4: 3, len(bounds) - 2: 3, len(bounds) - 1: 7}
	for i, b := range h.GetBucket() {
		if b.GetUpperBound() != bounds[i] {
			t.Errorf("bucket %d bound %v, want %v", i, b.GetUpperBound(), bounds[i])
		}
		if w, ok := want[i]; ok && b.GetCumulativeCount() != w {
			t.Errorf("bucket %d (le %v) = %d, want %d", i, bounds[i], b.GetCumulativeCount(), w)
		}
	}
	if bounds[0] != 1.024e-6 {
		t.Errorf("first bound %v, want 1.024e-06", bounds[0])
	}

	// No wait recorded yet: no Buckets, every bucket 0.
	m.Reset()
	if err := waitHistogram(desc, bounds, eventbus.WaitStats{}, "low").Write(&m); err != nil {
		t.Fatal(err)
	}
	if n := m.GetHistogram().GetSampleCount(); n != 0 {
		t.Errorf("empty histogram counts %d", n)
	}
}

// Against a bus: every event a worker took has one wait, so each level's
// count is what was published at it, and the buckets and sum are those of
// the bus's own snapshot, bound for bound.
func TestWaitHistogramMatchesBus(t *testing.T) {
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

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(bus, Options{}))
	got := gather(t, reg)
	snap := bus.Metrics() // the bus is idle: the waits do not change
	bounds := eventbus.WaitBucketBounds()
	for p, st := range map[eventbus.Priority]eventbus.WaitStats{
		eventbus.PriorityLow: snap.Wait.Low, eventbus.PriorityMedium: snap.Wait.Medium, eventbus.PriorityHigh: snap.Wait.High,
	} {
		prefix := "eventbus_event_wait_seconds"
		label := fmt.Sprintf("priority=%q", p.String())
		if c := got[prefix+"_count{"+label+"}"]; c != float64(published[p]) {
			t.Errorf("%v: count %v, want %d", p, c, published[p])
		}
		if s := got[prefix+"_sum{"+label+"}"]; s != st.Sum.Seconds() || s <= 0 {
			t.Errorf("%v: sum %v, want the bus's %v (> 0)", p, s, st.Sum.Seconds())
		}
		var cum int64
		for i, b := range bounds {
			cum += st.Buckets[i]
			key := fmt.Sprintf("%s_bucket{le=%q,%s}", prefix, fmt.Sprint(b.Seconds()), label)
			if v, ok := got[key]; !ok || v != float64(cum) {
				t.Errorf("%s = %v (present %v), want %d", key, v, ok, cum)
			}
		}
	}
}
