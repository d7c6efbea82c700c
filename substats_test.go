package eventbus

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkIdentity fails the test unless st obeys the identity and bounds
// that SubscriptionStats documents.
func checkIdentity(t testing.TB, st SubscriptionStats) bool {
	t.Helper()
	ok := st.Matched == st.Delivered+st.Dropped+st.Coalesced+st.Pending &&
		st.Running >= 0 && int64(st.Running) <= st.Pending && st.Pending >= 0
	if !ok {
		t.Errorf("figures break the identity: %+v", st)
	}
	return ok
}

// While publishers flood, subscriptions come and go and one is stuck,
// every Stats value and every snapshot obeys the identity, and the totals
// per name never go backwards.
func TestSubscriptionFiguresStayConsistent(t *testing.T) {
	b := newBus(t, Config{Workers: 4, QueueSize: 64, BackpressureMode: Block, MonitoringEnabled: true, MetricsWindow: time.Hour})
	g := newGate(t)
	stuck := b.On("x", g.handle, WithName("stuck"), WithConcurrency(1), WithBuffer(8, DropOldest))
	var calls atomic.Int64
	fast := b.On("x", func(Event) { calls.Add(1) }, WithName("fast"))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := 0; p < 3; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				b.Publish(Event{Type: "x", ProcessID: fmt.Sprint(i % 5)})
			}
		}()
	}
	wg.Add(1)
	go func() { // churn: subscriptions of one name come and go
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			s := b.On("x", func(Event) {}, WithName("churn"), WithFilter(func(ev Event) bool { return ev.ProcessID != "0" }))
			s.Unsubscribe()
		}
	}()

	prev := map[string]SubscriptionStats{}
	deadline := time.Now().Add(300 * time.Millisecond)
	for n := 0; time.Now().Before(deadline) || n < 50; n++ {
		for _, s := range []*Subscription{stuck, fast} {
			checkIdentity(t, s.Stats())
		}
		m := b.Metrics()
		totals := map[string]SubscriptionStats{}
		for _, list := range [][]SubscriptionStats{m.Subscriptions, m.EndedSubscriptions} {
			for _, st := range list {
				if !checkIdentity(t, st) {
					return
				}
				tot := totals[st.Name]
				tot.add(&st)
				totals[st.Name] = tot
			}
		}
		for name, tot := range totals {
			p := prev[name]
			if tot.Matched < p.Matched || tot.Delivered < p.Delivered || tot.Dropped < p.Dropped {
				t.Fatalf("%q went backwards: %+v after %+v", name, tot, p)
			}
		}
		prev = totals
	}
	close(stop)
	g.release()
	wg.Wait()
	waitQuiet(t, b)
	st := fast.Stats()
	assert.Zero(t, st.Pending)
	assert.Equal(t, calls.Load(), st.Delivered)
	assert.Positive(t, stuck.Stats().Dropped, "the stuck subscription's buffer dropped the oldest")
	m := requireAccounted(t, b)
	require.Len(t, m.Subscriptions, 2)
	assert.Equal(t, "fast", m.Subscriptions[0].Name)
	assert.Equal(t, "stuck", m.Subscriptions[1].Name)
	assert.Positive(t, m.Subscriptions[0].Wait.Count, "monitoring records the wait of deliveries")
	require.Len(t, m.EndedSubscriptions, 1)
	assert.Equal(t, "churn", m.EndedSubscriptions[0].Name)
	assert.Zero(t, m.EndedSubscriptions[0].Pending)
}

// Stats keeps the final figures after the subscription ends, and the bus
// sums the ended subscriptions of one name.
func TestEndedSubscriptionsAreSummedByName(t *testing.T) {
	b := newBus(t, Config{Workers: 2})
	for i := 0; i < 3; i++ {
		s := b.On("x", func(Event) {}, WithName("session"))
		b.Publish(Event{Type: "x"})
		waitIdle(t, b)
		s.Unsubscribe()
		receive(t, s.Done())
		assert.EqualValues(t, 1, s.Stats().Delivered, "final figures after the end")
	}
	live := b.On("x", func(Event) {}, WithName("session"))
	b.Publish(Event{Type: "x"})
	waitIdle(t, b)
	m := b.Metrics()
	require.Len(t, m.Subscriptions, 1)
	assert.EqualValues(t, 1, m.Subscriptions[0].Delivered, "the live one gets what is published while it lives")
	require.Len(t, m.EndedSubscriptions, 1)
	assert.Equal(t, SubscriptionStats{Name: "session", Matched: 3, Delivered: 3}, m.EndedSubscriptions[0])
	assert.EqualValues(t, 1, live.Stats().Matched)
}

// The watchdog names the subscription whose handler is slow.
func TestSlowCallsAreReportedWithTheSubscriptionsName(t *testing.T) {
	reports := make(chan string, 4)
	b := newBus(t, Config{Workers: 2, HandlerTimeout: 5 * time.Millisecond,
		OnSlowSubscription: func(name string, ev Event, running time.Duration) {
			reports <- name + " " + ev.ID
		}})
	g := newGate(t)
	b.On("x", g.handle, WithName("tui"))
	b.Publish(Event{ID: "e1", Type: "x"})
	receive(t, g.began)
	assert.Equal(t, "tui e1", receive(t, reports))
	g.release()
	waitIdle(t, b)
}
