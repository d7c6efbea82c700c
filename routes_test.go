package eventbus

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Subscribing and unsubscribing cost O(1) amortised, whatever the number
// of other subscriptions: 20,000 subscriptions to distinct types, which
// took 32 s when every change rebuilt the whole table, take well under a
// second, and publishing still finds each of them.
func TestManyDistinctTypesSubscribeInLinearTime(t *testing.T) {
	const n = 20_000
	b := newBus(t, Config{Workers: 2, BackpressureMode: Block})
	subs := make([]*Subscription, n)
	got := make([]int, n)
	start := time.Now()
	for i := range subs {
		subs[i] = b.On(EventType("t"+strconv.Itoa(i)), func(Event) { got[i]++ })
	}
	for i := 0; i < n; i += 97 {
		b.Publish(Event{Type: EventType("t" + strconv.Itoa(i))})
	}
	waitIdle(t, b)
	for i := range subs {
		subs[i].Unsubscribe()
	}
	elapsed := time.Since(start)
	for i := 0; i < n; i++ {
		want := 0
		if i%97 == 0 {
			want = 1
		}
		require.Equal(t, want, got[i], "type t%d", i)
	}
	assert.Less(t, elapsed, 5*time.Second, "20,000 subscribe/unsubscribe pairs")
	t.Logf("%d subscriptions to distinct types, subscribed and unsubscribed in %v", n, elapsed)

	// Every type is gone from the index once it is rebuilt.
	b.On("last", func(Event) {})
	live := 0
	ix := b.subs.index.Load()
	for i := range ix.slots {
		if r := ix.slots[i].Load(); r != nil && len(r.subs.Load().subs) > 0 {
			live++
		}
	}
	assert.LessOrEqual(t, live, 1)
}

// A list keeps at most as many ended subscriptions as live ones, and
// publishing never delivers to an ended one.
func TestEndedSubscriptionsAreCompacted(t *testing.T) {
	b := newBus(t, Config{Workers: 1})
	var subs []*Subscription
	for i := 0; i < 100; i++ {
		subs = append(subs, b.On("x", func(Event) {}))
	}
	for i := 0; i < 90; i++ {
		subs[i].Unsubscribe()
		typed, _, _ := b.subs.lookup("x")
		live := 0
		for _, s := range typed {
			if !s.closed.Load() {
				live++
			}
		}
		require.Equal(t, 100-i-1, live)
		require.LessOrEqual(t, len(typed)-live, max(live, 1), "ended entries never outnumber live ones")
	}
}

// BenchmarkSubscribe measures one On and Unsubscribe pair beside n live
// subscriptions to other types: the cost must not grow with n.
func BenchmarkSubscribe(b *testing.B) {
	for _, n := range []int{0, 1_000, 100_000} {
		b.Run("others="+strconv.Itoa(n), func(b *testing.B) {
			bus, err := NewEventBus(Config{Workers: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer bus.Shutdown()
			for i := 0; i < n; i++ {
				bus.On(EventType("other"+strconv.Itoa(i)), func(Event) {})
			}
			h := func(Event) {}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bus.On("mine", h).Unsubscribe()
			}
		})
	}
}
