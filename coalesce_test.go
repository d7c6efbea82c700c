package eventbus

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// callLog records each call of a handler: when it began, and its event.
type callLog struct {
	mu    sync.Mutex
	at    []time.Time
	ids   []string
	types []EventType
}

func (c *callLog) handle(ev Event) {
	now := time.Now()
	c.mu.Lock()
	c.at = append(c.at, now)
	c.ids = append(c.ids, ev.ID)
	c.types = append(c.types, ev.Type)
	c.mu.Unlock()
}

func (c *callLog) snapshot() ([]time.Time, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.at...), append([]string(nil), c.ids...)
}

// startSlack allows for the moment between the bus's reading of a call's
// start and the handler's own: the windows are measured by the bus, the
// test can only measure inside the handler.
const startSlack = 2 * time.Millisecond

// A burst on one key: the first event goes at once, the calls are at least
// a window apart, and the burst's last event is always delivered, with no
// later event to push it out, also when the bus is otherwise idle.
func TestCoalesceRateLimitsAndKeepsTheLastEvent(t *testing.T) {
	const window = 30 * time.Millisecond
	b := newBus(t, Config{Workers: 2, QueueSize: 1000, BackpressureMode: Block})
	var calls callLog
	s := b.On("state", calls.handle, WithCoalesce(window, nil))
	start := time.Now()
	for i := 0; i < 200; i++ {
		b.Publish(Event{ID: fmt.Sprint(i), Type: "state"})
	}
	burst := time.Since(start)
	waitIdle(t, b) // waits for the trailing delivery too
	at, ids := calls.snapshot()
	require.NotEmpty(t, ids)
	assert.Equal(t, "199", ids[len(ids)-1], "the last event of the burst arrives")
	assert.LessOrEqual(t, len(ids), 2+int(burst/window), "at most one call per window (burst took %v)", burst)
	for i := 1; i < len(at); i++ {
		assert.GreaterOrEqual(t, at[i].Sub(at[i-1]), window-startSlack, "calls %d and %d", i-1, i)
	}
	st := s.Stats()
	assert.EqualValues(t, 200, st.Matched)
	assert.EqualValues(t, len(ids), st.Delivered)
	assert.EqualValues(t, 200-len(ids), st.Coalesced)
	assert.Zero(t, st.Pending)
	m := requireAccounted(t, b)
	assert.EqualValues(t, 200, m.EventsProcessed, "replaced events count as processed")
}

// The trailing edge arrives within the window plus handler time, though
// nothing else happens on the bus.
func TestCoalesceTrailingEdgeOnAnIdleBus(t *testing.T) {
	const window = 40 * time.Millisecond
	b := newBus(t, Config{Workers: 1})
	got := make(chan string, 10)
	b.On("state", func(ev Event) { got <- ev.ID }, WithCoalesce(window, nil))
	b.Publish(Event{ID: "first", Type: "state"})
	assert.Equal(t, "first", receive(t, got), "a quiet key delivers at once")
	t0 := time.Now()
	b.Publish(Event{ID: "a", Type: "state"})
	b.Publish(Event{ID: "b", Type: "state"})
	assert.Equal(t, "b", receive(t, got))
	assert.GreaterOrEqual(t, time.Since(t0), window-startSlack-time.Millisecond, "not before its window")
	select {
	case id := <-got:
		t.Fatalf("a replaced event was delivered too: %s", id)
	default:
	}
}

// After a quiet window, the next event is delivered at once.
func TestCoalesceLeadingEdgeAfterAQuietWindow(t *testing.T) {
	// A window long enough that "at once" (under half of it) holds on a
	// loaded machine under -race, yet a delivery held back for the window
	// would still fail the test.
	const window = 200 * time.Millisecond
	b := newBus(t, Config{Workers: 1})
	got := make(chan time.Time, 10)
	b.On("state", func(Event) { got <- time.Now() }, WithCoalesce(window, nil))
	b.Publish(Event{Type: "state"})
	first := receive(t, got)
	time.Sleep(window + 10*time.Millisecond) // let the window pass quietly: the rule is about time
	t0 := time.Now()
	b.Publish(Event{Type: "state"})
	second := receive(t, got)
	assert.GreaterOrEqual(t, second.Sub(first), window)
	assert.Less(t, second.Sub(t0), window/2, "not held back by a window that closed")
}

// Latest wins per key and per event type: a subscription over several
// types never loses one type's last event to another's.
func TestCoalesceKeepsTheLastEventOfEachType(t *testing.T) {
	b := newBus(t, Config{Workers: 2})
	g := newGate(t)
	var calls callLog
	first := true
	s := b.OnTypes([]EventType{LogLine, ProcessExited}, func(ev Event) {
		if first {
			first = false
			g.handle(ev)
		}
		calls.handle(ev)
	}, WithCoalesce(0, OrderByProcessID))
	b.Publish(Event{ID: "L0", Type: LogLine, ProcessID: "web"})
	receive(t, g.began) // the key is busy: everything else waits, latest wins
	for _, id := range []string{"L1", "X1", "L2", "L3", "X2", "L4"} {
		typ := LogLine
		if id[0] == 'X' {
			typ = ProcessExited
		}
		b.Publish(Event{ID: id, Type: typ, ProcessID: "web"})
	}
	b.Publish(Event{ID: "other", Type: LogLine, ProcessID: "db"}) // another key runs meanwhile
	waitSub(t, s, func(st SubscriptionStats) bool { return st.Matched == 8 })
	g.release()
	waitIdle(t, b)
	_, ids := calls.snapshot()
	web := keyOrder(ids, "L")
	exits := keyOrder(ids, "X")
	assert.Equal(t, []string{"L0", "L4"}, web, "the log lines collapse to the latest")
	assert.Equal(t, []string{"X2"}, exits, "the exit is not lost to the log lines")
	assert.Contains(t, ids, "other")
	assert.EqualValues(t, 4, s.Stats().Coalesced)
}

// Calls of one key never overlap, however many workers are free; other
// keys run meanwhile.
func TestCoalesceNeverOverlapsAKey(t *testing.T) {
	b := newBus(t, Config{Workers: 6, QueueSize: 1000, BackpressureMode: Block})
	var running [4]atomic.Int32
	var overlaps atomic.Int32
	b.On("state", func(ev Event) {
		k := ev.Data["k"].(int)
		if running[k].Add(1) > 1 {
			overlaps.Add(1)
		}
		runtime.Gosched()
		running[k].Add(-1)
	}, WithCoalesce(0, func(ev Event) string { return fmt.Sprint(ev.Data["k"]) }))
	for i := 0; i < 5000; i++ {
		b.Publish(Event{Type: "state", Data: map[string]interface{}{"k": i % 4}})
	}
	waitIdle(t, b)
	assert.Zero(t, overlaps.Load())
	requireAccounted(t, b)
}

// Unsubscribe drops the deliveries waiting for their window, counted as
// Dropped; Shutdown delivers them within its deadline.
func TestCoalesceWaitingDeliveriesAtTheEnd(t *testing.T) {
	t.Run("unsubscribe", func(t *testing.T) {
		b := newBus(t, Config{Workers: 1})
		var calls callLog
		var hook dropLog
		s := b.On("state", calls.handle, WithCoalesce(time.Hour, nil), WithOnDrop(hook.onDrop))
		b.Publish(Event{ID: "1", Type: "state"})
		b.Publish(Event{ID: "2", Type: "state"}) // waits an hour
		waitSub(t, s, func(st SubscriptionStats) bool { return st.Delivered == 1 && st.Matched == 2 })
		s.Unsubscribe()
		ids, reasons := hook.snapshot()
		assert.Equal(t, []string{"2"}, ids)
		assert.ErrorIs(t, reasons[0], ErrUnsubscribed)
		waitIdle(t, b)
		assert.EqualValues(t, 1, s.Stats().Dropped)
	})
	t.Run("shutdown", func(t *testing.T) {
		b, err := NewEventBus(Config{Workers: 1})
		require.NoError(t, err)
		var calls callLog
		s := b.On("state", calls.handle, WithCoalesce(30*time.Millisecond, nil))
		b.Publish(Event{ID: "1", Type: "state"})
		b.Publish(Event{ID: "2", Type: "state"})
		waitSub(t, s, func(st SubscriptionStats) bool { return st.Delivered == 1 && st.Matched == 2 })
		require.NoError(t, b.ShutdownContext(context.Background()))
		_, ids := calls.snapshot()
		assert.Equal(t, []string{"1", "2"}, ids, "the trailing delivery before the bus stops")
		assert.True(t, b.q.timers.stopped, "no timer left")
		requireAccounted(t, b)
	})
}

// A key costs memory only while it has a delivery waiting or a window
// open: a million keys over time leave the heap where it was, and no
// goroutine is started per key.
func TestCoalesceKeysReleaseTheirMemory(t *testing.T) {
	keys := 1_000_000
	if raceEnabled || testing.Short() {
		keys = 50_000
	}
	b := newBus(t, Config{Workers: 2, QueueSize: 1000, BackpressureMode: Block})
	s := b.On("state", func(Event) {}, WithCoalesce(time.Millisecond, OrderByProcessID))
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	peakG := 0
	for i := 0; i < keys; i++ {
		b.Publish(Event{Type: "state", ProcessID: fmt.Sprint("p", i)})
		if i%10_000 == 0 {
			peakG = max(peakG, runtime.NumGoroutine())
		}
	}
	waitIdle(t, b)
	// The windows close a millisecond after each key's call.
	require.Eventually(t, func() bool {
		b.q.mu.Lock()
		defer b.q.mu.Unlock()
		return len(s.co.keys) == 0 && len(b.q.timers.keys) == 0
	}, testTimeout, time.Millisecond)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	assert.Less(t, int64(after.HeapInuse)-int64(before.HeapInuse), int64(4<<20), "heap grew by %d", int64(after.HeapInuse)-int64(before.HeapInuse))
	assert.Less(t, peakG, 40+goroutineCountSlack, "no goroutine per key")
	assert.EqualValues(t, keys, s.Stats().Delivered)
}

// A coalescing subscription never delays other subscriptions or High
// events: its deliveries wait for their window without a worker.
func TestCoalesceDelaysNoOne(t *testing.T) {
	b := newBus(t, Config{Workers: 2, EnablePriority: true})
	b.On(LogLine, func(Event) {}, WithCoalesce(time.Hour, OrderByProcessID))
	for i := 0; i < 100; i++ {
		b.Publish(Event{Type: LogLine, ProcessID: fmt.Sprint(i % 10)})
	}
	got := make(chan string, 1)
	b.On(ProcessExited, func(ev Event) { got <- ev.ID })
	b.Publish(Event{ID: "exit", Type: ProcessExited})
	assert.Equal(t, "exit", receive(t, got))
}

func TestCoalesceRejectsANegativeWindow(t *testing.T) {
	b := newBus(t, Config{Workers: 1})
	assert.PanicsWithValue(t, "eventbus: WithCoalesce(-1s): the window must not be negative", func() {
		b.On("x", func(Event) {}, WithCoalesce(-time.Second, nil))
	})
}

// The longest window WithCoalesce accepts still holds the next call back:
// its end is not computed by an addition that overflows into the past.
// Shutdown then delivers the waiting state, as for any window.
func TestCoalesceTheLongestWindowHoldsBack(t *testing.T) {
	b, err := NewEventBus(Config{Workers: 2})
	require.NoError(t, err)
	defer b.Shutdown()
	calls := make(chan string, 4)
	s := b.On("x", func(ev Event) { calls <- ev.ID }, WithCoalesce(time.Duration(math.MaxInt64), nil))
	b.Publish(Event{Type: "x", ID: "first"})
	assert.Equal(t, "first", receive(t, calls), "the leading edge goes out at once")
	b.Publish(Event{Type: "x", ID: "second"})

	// The second event waits for the window's end, and WaitIdle with it.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, b.WaitIdle(ctx), context.DeadlineExceeded)
	require.Empty(t, calls, "a call inside a window of 292 years")

	b.Shutdown()
	assert.Equal(t, "second", receive(t, calls), "Shutdown delivers the waiting state")
	st := s.Stats()
	assert.Equal(t, int64(2), st.Delivered)
}

// BenchmarkCoalesce measures the cost per event published to a
// subscription that coalesces 16 keys with a 10ms window: most events
// replace a waiting one.
func BenchmarkCoalesce(b *testing.B) {
	bus, err := NewEventBus(Config{Workers: 4, BackpressureMode: Block})
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Shutdown()
	var calls atomic.Int64
	s := bus.On(LogLine, func(Event) { calls.Add(1) }, WithCoalesce(10*time.Millisecond, OrderByProcessID))
	keys := make([]string, 16)
	for i := range keys {
		keys[i] = fmt.Sprint("proc-", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bus.Publish(Event{Type: LogLine, ProcessID: keys[i%16]})
	}
	b.StopTimer()
	_ = bus.WaitIdle(context.Background())
	st := s.Stats()
	b.ReportMetric(float64(st.Coalesced)/float64(b.N), "coalesced/event")
}

// While a shutdown drains a backlog, windows still apply: the subscriber
// is not called for every queued event; once the backlog is drained, the
// last state goes out at once.
func TestCoalesceWindowsHoldDuringTheDrain(t *testing.T) {
	b, err := NewEventBus(Config{Workers: 1, QueueSize: 1000})
	require.NoError(t, err)
	var calls callLog
	b.On("state", calls.handle, WithCoalesce(time.Hour, nil))
	release := holdWorker(t, b)
	for i := 0; i < 500; i++ {
		b.Publish(Event{ID: fmt.Sprint(i), Type: "state"})
	}
	done := make(chan error, 1)
	go func() { done <- b.ShutdownContext(context.Background()) }()
	release()
	require.NoError(t, <-done)
	_, ids := calls.snapshot()
	assert.LessOrEqual(t, len(ids), 2, "%d calls for a backlog of 500", len(ids))
	assert.Equal(t, "499", ids[len(ids)-1], "the last state")
	requireAccounted(t, b)
}
