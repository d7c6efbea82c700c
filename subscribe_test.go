package eventbus

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gate is a handler that blocks every call until it is opened, and
// reports each call as it begins.
type gate struct {
	began chan Event
	open  chan struct{}
	once  sync.Once
}

func newGate(t testing.TB) *gate {
	g := &gate{began: make(chan Event, 1024), open: make(chan struct{})}
	t.Cleanup(g.release)
	return g
}

func (g *gate) handle(ev Event) {
	g.began <- ev
	<-g.open
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// waitSub waits until cond holds for the subscription's figures.
func waitSub(t testing.TB, s *Subscription, cond func(SubscriptionStats) bool) SubscriptionStats {
	t.Helper()
	var st SubscriptionStats
	require.Eventually(t, func() bool { st = s.Stats(); return cond(st) }, testTimeout, 100*time.Microsecond,
		"subscription figures never got there: %+v", st)
	return st
}

// Two handlers on one type: the first blocks, the second still runs, on a
// free worker.
func TestAStuckHandlerDoesNotHoldBackTheEventsOtherHandlers(t *testing.T) {
	b := newBus(t, Config{Workers: 4})
	g := newGate(t)
	b.On(ProcessExited, g.handle)
	got := make(chan Event, 1)
	b.On(ProcessExited, func(ev Event) { got <- ev })
	b.Publish(Event{ID: "exit", Type: ProcessExited})
	receive(t, g.began)
	assert.Equal(t, "exit", receive(t, got).ID, "the second handler ran while the first was stuck")
	g.release()
	waitIdle(t, b)
	requireAccounted(t, b)
}

// With priorities on, Low deliveries run on at most Workers -
// ReservedWorkers workers. A stuck Low handler holds one of them: the
// event's other handlers run on another. Once stuck handlers hold them
// all, Low deliveries wait, and High events still find the reserved
// worker; with ReplaceStuckWorkers the replacement takes the stuck
// worker's Low slot and the waiting deliveries run.
func TestStuckLowHandlersHoldOnlyTheLowSlots(t *testing.T) {
	b := newBus(t, Config{Workers: 3, QueueSize: 100, EnablePriority: true,
		HandlerTimeout: 24 * time.Hour, ReplaceStuckWorkers: true}) // replaced by hand below
	require.Equal(t, 1, b.Config().ReservedWorkers)
	tui := newGate(t)
	b.On(LogLine, tui.handle)
	mcp := make(chan Event, 4)
	b.On(LogLine, func(ev Event) { mcp <- ev })
	alerts := make(chan Event, 1)
	b.On(ErrorDetected, func(ev Event) { alerts <- ev })

	b.Publish(Event{ID: "line-1", Type: LogLine})
	receive(t, tui.began)
	assert.Equal(t, "line-1", receive(t, mcp).ID, "the other handler ran on the second Low slot")

	b.Publish(Event{ID: "line-2", Type: LogLine})
	receive(t, tui.began) // both Low slots are now stuck in the TUI's handler
	b.Publish(Event{ID: "alert", Type: ErrorDetected})
	assert.Equal(t, "alert", receive(t, alerts).ID, "High events go on")
	assert.Empty(t, mcp, "line-2 waits for a Low slot")

	b.wd.timeout = 1 // every call is past the timeout: replace both stuck workers
	b.wd.check(monotime())
	b.wd.check(monotime() + 1)
	assert.Equal(t, "line-2", receive(t, mcp).ID, "a replacement took a stuck worker's Low slot")
	tui.release()
	waitIdle(t, b)
	requireAccounted(t, b)
}

// A free worker takes the unstarted deliveries of an event another worker
// took before queued events of the same level.
func TestTakenDeliveriesComeBeforeQueuedEvents(t *testing.T) {
	b := newBus(t, Config{Workers: 2, QueueSize: 100})
	hold := newGate(t)
	b.On(ProcessStarted, hold.handle) // keeps the second worker busy
	stuck := newGate(t)
	b.On("e", stuck.handle)
	var order recorder
	b.On("e", order.handle)
	b.On("f", order.handle)

	b.Publish(Event{ID: "hold", Type: ProcessStarted})
	receive(t, hold.began)
	b.Publish(Event{ID: "E1", Type: "e"})
	receive(t, stuck.began) // the other worker took E1, and is stuck in its first handler
	for i := 0; i < 5; i++ {
		b.Publish(Event{ID: fmt.Sprint("F", i), Type: "f"})
	}
	hold.release() // a worker comes free: E1's second handler is its first job
	require.Eventually(t, func() bool { return order.len() == 6 }, testTimeout, time.Millisecond)
	assert.Equal(t, []string{"E1", "F0", "F1", "F2", "F3", "F4"}, order.ids())
	stuck.release()
	waitIdle(t, b)
}

// A stuck subscription with WithConcurrency(k) holds at most k workers:
// the rest of the pool serves everyone else, and its later deliveries wait
// in its own buffer.
func TestAStuckLimitedSubscriptionHoldsAtMostItsLimit(t *testing.T) {
	b := newBus(t, Config{Workers: 4, QueueSize: 100, BackpressureMode: Block})
	g := newGate(t)
	s := b.On("slow", g.handle, WithName("slow"), WithConcurrency(2))
	var others atomic.Int64
	b.On("fast", func(Event) { others.Add(1) })
	for i := 0; i < 10; i++ {
		b.Publish(Event{Type: "slow"})
	}
	receive(t, g.began)
	receive(t, g.began)
	for i := 0; i < 200; i++ {
		b.Publish(Event{Type: "fast"})
	}
	require.Eventually(t, func() bool { return others.Load() == 200 }, testTimeout, time.Millisecond,
		"the other subscription is served by the rest of the pool")
	st := waitSub(t, s, func(st SubscriptionStats) bool { return st.Matched == 10 })
	assert.Equal(t, 2, st.Running)
	assert.EqualValues(t, 10, st.Pending, "2 running, 8 waiting")
	select {
	case ev := <-g.began:
		t.Fatalf("a third call began while two were stuck: %v", ev.ID)
	default:
	}
	g.release()
	waitIdle(t, b)
	st = s.Stats()
	assert.EqualValues(t, 10, st.Delivered)
	assert.Zero(t, st.Pending)
	requireAccounted(t, b)
}

// WithConcurrency(1): one call at a time; among waiting events High
// before Medium before Low, in admission order within a level.
func TestConcurrencyOneDeliversByLevelThenInOrder(t *testing.T) {
	b := newBus(t, Config{Workers: 4, QueueSize: 100, EnablePriority: true})
	g := newGate(t)
	var r recorder
	first := true
	s := b.OnTypes([]EventType{LogLine, BuildEvent, ProcessExited}, func(ev Event) {
		if first {
			first = false
			g.handle(ev)
			return
		}
		r.handle(ev)
	}, WithConcurrency(1))
	b.Publish(Event{ID: "gate", Type: BuildEvent})
	receive(t, g.began)
	for _, n := range []string{"L1", "M1", "L2", "H1", "M2", "L3", "H2"} {
		b.Publish(Event{ID: n, Type: typeOfLevel(n)})
	}
	waitSub(t, s, func(st SubscriptionStats) bool { return st.Matched == 8 })
	g.release()
	waitIdle(t, b)
	assert.Equal(t, []string{"H1", "H2", "M1", "M2", "L1", "L2", "L3"}, r.ids())
}

// WithConcurrency(1) keeps each publisher's order and runs one call at a
// time, with many workers and publishers busy.
func TestConcurrencyOneKeepsPublishOrderUnderLoad(t *testing.T) {
	const publishers, perPublisher = 8, 2000
	b := newBus(t, Config{Workers: 6, QueueSize: 64, BackpressureMode: Block})
	var running atomic.Int32
	last := make([]int, publishers)
	for i := range last {
		last[i] = -1
	}
	var handled atomic.Int64
	b.On("seq", func(ev Event) {
		if running.Add(1) != 1 {
			t.Error("two calls at once")
		}
		p, n := ev.Data["p"].(int), ev.Data["n"].(int)
		if n != last[p]+1 {
			t.Errorf("publisher %d: %d after %d", p, n, last[p])
		}
		last[p] = n
		running.Add(-1)
		handled.Add(1)
	}, WithConcurrency(1), WithBuffer(4096, Block))
	b.On("seq", func(Event) {}) // an unlimited neighbour, to mix deliveries
	var wg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < perPublisher; n++ {
				b.Publish(Event{Type: "seq", Data: map[string]interface{}{"p": p, "n": n}})
			}
		}()
	}
	wg.Wait()
	waitIdle(t, b)
	assert.EqualValues(t, publishers*perPublisher, handled.Load())
	requireAccounted(t, b)
}

// Each bad option value panics when the subscription is made, naming the
// option.
func TestBadOptionsPanicNamingTheOption(t *testing.T) {
	b := newBus(t, Config{Workers: 1})
	h := func(Event) {}
	for _, c := range []struct {
		name string
		call func()
	}{
		{"WithConcurrency", func() { b.On("x", h, WithConcurrency(0)) }},
		{"WithConcurrency", func() { b.On("x", h, WithConcurrency(-3)) }},
		{"WithBuffer", func() { b.On("x", h, WithConcurrency(1), WithBuffer(0, DropOldest)) }},
		{"WithBuffer", func() { b.On("x", h, WithConcurrency(1), WithBuffer(1, DropPolicy(9))) }},
		{"WithFilter", func() { b.On("x", h, WithFilter(nil)) }},
		{"WithOnDrop", func() { b.On("x", h, WithOnDrop(nil)) }},
		{"WithContext", func() { var none context.Context; b.On("x", h, WithContext(none)) }},
		{"OnTypes", func() { b.OnTypes(nil, h) }},
		{"With function", func() { b.On("x", h, SubscribeOption{}) }},
		{"nil Handler", func() { b.On("x", nil, WithName("n")) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				r := recover()
				require.NotNil(t, r, "no panic")
				assert.Contains(t, fmt.Sprint(r), c.name)
				assert.Contains(t, fmt.Sprint(r), "eventbus: ")
			}()
			c.call()
		})
	}
	assert.Empty(t, b.Metrics().Subscriptions, "a panicking subscribe registers nothing")
}

// A filter runs in the publisher: an event that no filter accepts never
// takes room in the queue and counts as processed at once.
func TestFilterRunsBeforeTheQueue(t *testing.T) {
	var drops dropLog
	b := newBus(t, Config{Workers: 1, QueueSize: 1, OnDrop: drops.onDrop})
	release := holdWorker(t, b)
	var r recorder
	b.On(LogLine, r.handle, WithFilter(func(ev Event) bool { return ev.ProcessID == "web" }))
	for i := 0; i < 100; i++ {
		b.Publish(Event{Type: LogLine, ProcessID: "db"})
	}
	m := b.Metrics()
	assert.EqualValues(t, 100, m.EventsProcessed, "refused by every filter: processed at once")
	assert.Zero(t, m.EventsDropped, "the queue of one was never used")
	b.Publish(Event{ID: "w", Type: LogLine, ProcessID: "web"})
	release()
	waitIdle(t, b)
	assert.Equal(t, []string{"w"}, r.ids())
	ids, _ := drops.snapshot()
	assert.Empty(t, ids)
	st := b.Metrics().Subscriptions[0]
	assert.EqualValues(t, 1, st.Matched, "refused events are not matched")
}

// A filter that panics refuses the event, and the panic is reported.
func TestFilterThatPanicsRefuses(t *testing.T) {
	var panics atomic.Int64
	b := newBus(t, Config{Workers: 1, OnPanic: func(Event, any, []byte) { panics.Add(1) }})
	var r recorder
	b.On("x", r.handle, WithFilter(func(Event) bool { panic("filter") }))
	b.Publish(Event{Type: "x"})
	waitIdle(t, b)
	assert.Zero(t, r.len())
	assert.EqualValues(t, 1, panics.Load())
	m := requireAccounted(t, b)
	assert.EqualValues(t, 1, m.HandlerPanics)
}

// OnTypes is one subscription: its limit and figures span its types.
func TestOnTypesIsOneSubscription(t *testing.T) {
	b := newBus(t, Config{Workers: 4})
	g := newGate(t)
	s := b.OnTypes([]EventType{"a", "b", "a"}, g.handle, WithName("ab"), WithConcurrency(1))
	b.Publish(Event{Type: "a"})
	b.Publish(Event{Type: "b"})
	b.Publish(Event{Type: "c"})
	receive(t, g.began)
	st := waitSub(t, s, func(st SubscriptionStats) bool { return st.Matched == 2 })
	assert.Equal(t, 1, st.Running, "one limit for both types")
	assert.Equal(t, []EventType{"a", "b"}, st.Types)
	g.release()
	waitIdle(t, b)
	assert.EqualValues(t, 2, s.Stats().Delivered)
}

// Unsubscribe drops the deliveries waiting for the subscription: counted
// as Dropped, reported to its hook; their events are processed.
func TestUnsubscribeDropsWaitingDeliveries(t *testing.T) {
	var busDrops dropLog
	b := newBus(t, Config{Workers: 2, OnDrop: busDrops.onDrop})
	g := newGate(t)
	var hook dropLog
	s := b.On("x", g.handle, WithConcurrency(1), WithOnDrop(hook.onDrop))
	for i := 0; i < 6; i++ {
		b.Publish(Event{ID: fmt.Sprint(i), Type: "x"})
	}
	receive(t, g.began)
	waitSub(t, s, func(st SubscriptionStats) bool { return st.Matched == 6 })
	s.Unsubscribe()
	ids, reasons := hook.snapshot()
	assert.Equal(t, []string{"1", "2", "3", "4", "5"}, ids)
	for _, r := range reasons {
		assert.ErrorIs(t, r, ErrUnsubscribed)
	}
	select {
	case <-s.Done():
		t.Fatal("Done closed while a call runs")
	default:
	}
	g.release()
	receive(t, s.Done())
	waitIdle(t, b)
	st := s.Stats()
	assert.Equal(t, SubscriptionStats{Types: []EventType{"x"}, Matched: 6, Delivered: 1, Dropped: 5}, st)
	m := requireAccounted(t, b)
	assert.EqualValues(t, 6, m.EventsProcessed, "bus-level accounting is unchanged")
	busIDs, _ := busDrops.snapshot()
	assert.Empty(t, busIDs, "OnDrop reports the bus's own drops only")
}

// At the shutdown deadline, deliveries not yet begun are dropped in their
// subscriptions; an event none of whose deliveries ran is dropped at the
// event level, one with a delivery that ran is processed.
func TestShutdownDeadlineDropsUnstartedDeliveries(t *testing.T) {
	var busDrops dropLog
	b, err := NewEventBus(Config{Workers: 2, OnDrop: busDrops.onDrop})
	require.NoError(t, err)
	g := newGate(t)
	var hook dropLog
	stuck := b.On("x", g.handle, WithConcurrency(1), WithOnDrop(hook.onDrop))
	var fast atomic.Int64
	b.On("x", func(Event) { fast.Add(1) }, WithFilter(func(ev Event) bool { return ev.ID == "both" }))
	b.Publish(Event{ID: "first", Type: "x"})
	receive(t, g.began)
	b.Publish(Event{ID: "both", Type: "x"})  // its other delivery runs
	b.Publish(Event{ID: "alone", Type: "x"}) // only the stuck subscription gets it
	waitSub(t, stuck, func(st SubscriptionStats) bool { return st.Matched == 3 })
	require.Eventually(t, func() bool { return fast.Load() == 1 }, testTimeout, time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, b.ShutdownContext(ctx), context.DeadlineExceeded)
	ids, reasons := hook.snapshot()
	assert.ElementsMatch(t, []string{"both", "alone"}, ids)
	for _, r := range reasons {
		assert.ErrorIs(t, r, ErrEventBusShutdown)
	}
	busIDs, busReasons := busDrops.snapshot()
	assert.Equal(t, []string{"alone"}, busIDs, "none of its deliveries ran")
	assert.ErrorIs(t, busReasons[0], ErrEventBusShutdown)
	g.release()
	receive(t, stuck.Done())
	require.NoError(t, b.ShutdownContext(context.Background()))
	m := requireAccounted(t, b)
	assert.EqualValues(t, 2, m.EventsProcessed, "first and both")
	assert.EqualValues(t, 1, m.Drops.Shutdown)
}
