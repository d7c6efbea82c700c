package eventbus

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// brummerBus is the interface Brummer declares over its bus; *EventBus must
// satisfy it with these exact signatures.
type brummerBus interface {
	Publish(Event)
	Subscribe(EventType, Handler)
	Shutdown()
}

var _ brummerBus = (*EventBus)(nil)

func TestEventTypeStringsMatchBrummer(t *testing.T) {
	want := map[EventType]string{
		ProcessStarted: "process.started", ProcessExited: "process.exited", LogLine: "log.line",
		ErrorDetected: "error.detected", BuildEvent: "build.event", TestFailed: "test.failed",
		TestPassed: "test.passed", MCPActivity: "mcp.activity", MCPConnected: "mcp.connected",
		MCPDisconnected: "mcp.disconnected",
	}
	for typ, s := range want {
		assert.Equal(t, s, string(typ))
	}
}

func TestPublishFillsIDAndTimestamp(t *testing.T) {
	b := newBus(t, Config{Workers: 2})
	got := make(chan Event, 2)
	b.Subscribe(LogLine, func(ev Event) { got <- ev })

	before := time.Now()
	b.Publish(Event{Type: LogLine})
	ev := receive(t, got)
	assert.NotEmpty(t, ev.ID)
	assert.False(t, ev.Timestamp.Before(before), "timestamp is the publish time")

	stamp := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	b.Publish(Event{ID: "mine", Type: LogLine, Timestamp: stamp})
	ev = receive(t, got)
	assert.Equal(t, "mine", ev.ID)
	assert.True(t, ev.Timestamp.Equal(stamp), "a caller's timestamp is kept")
}

func TestIDsAreUniqueUnderConcurrentPublishers(t *testing.T) {
	const publishers, each = 8, 2000
	b := newBus(t, Config{Workers: 4, BackpressureMode: Block})
	var mu sync.Mutex
	seen := make(map[string]int, publishers*each)
	b.Subscribe(LogLine, func(ev Event) {
		mu.Lock()
		seen[ev.ID]++
		mu.Unlock()
	})
	var wg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				b.Publish(Event{Type: LogLine})
			}
		}()
	}
	wg.Wait()
	waitIdle(t, b)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, publishers*each, "every event got its own ID")
}

func TestEveryHandlerGetsTheEventWithDataUnchanged(t *testing.T) {
	b := newBus(t, Config{Workers: 3})
	var r1, r2, r3 recorder
	b.Subscribe(ProcessStarted, r1.handle)
	b.Subscribe(ProcessStarted, r2.handle)
	b.OnAll(r3.handle)
	b.Subscribe(ProcessExited, func(Event) { t.Error("handler of another type called") })

	data := map[string]interface{}{"name": "npm run dev", "pid": 42}
	b.Publish(Event{Type: ProcessStarted, ProcessID: "p1", Data: data})
	waitIdle(t, b)

	for _, r := range []*recorder{&r1, &r2, &r3} {
		require.Equal(t, 1, r.len())
		ev := r.events[0]
		assert.Equal(t, ProcessStarted, ev.Type)
		assert.Equal(t, "p1", ev.ProcessID)
		assert.Equal(t, map[string]interface{}{"name": "npm run dev", "pid": 42}, ev.Data)
	}
	assert.Equal(t, r1.events[0].ID, r2.events[0].ID)
}

// With one worker, an event's handlers run one after the other: those
// subscribed to its type in subscription order, then the OnAll ones.
func TestHandlersRunTypedThenOnAll(t *testing.T) {
	b := newBus(t, Config{Workers: 1})
	var mu sync.Mutex
	var order []string
	add := func(name string) Handler {
		return func(Event) { mu.Lock(); order = append(order, name); mu.Unlock() }
	}
	b.Subscribe(BuildEvent, add("typed-1"))
	b.OnAll(add("all-2"))
	b.Subscribe(BuildEvent, add("typed-3"))
	b.Publish(Event{Type: BuildEvent})
	waitIdle(t, b)
	assert.Equal(t, []string{"typed-1", "typed-3", "all-2"}, order)
}

func TestOnAllReceivesTypesWithoutTypedHandlers(t *testing.T) {
	b := newBus(t, Config{Workers: 1})
	var r recorder
	b.OnAll(r.handle)
	b.Publish(Event{Type: "system.message"})
	b.Publish(Event{Type: "proxy.request"})
	waitIdle(t, b)
	require.Equal(t, 2, r.len())
}

func TestEventWithoutHandlerIsProcessed(t *testing.T) {
	b := newBus(t, Config{Workers: 1, QueueSize: 1})
	release := holdWorker(t, b)
	// The worker is held and the queue has room for one: events nobody
	// listens to must not take that room.
	for i := 0; i < 100; i++ {
		require.NoError(t, b.PublishContext(context.Background(), Event{Type: "nobody.listens"}))
	}
	release()
	waitIdle(t, b)
	m := requireAccounted(t, b)
	assert.EqualValues(t, 101, m.EventsProcessed)
	assert.Zero(t, m.EventsDropped)
}

func TestSubscribeNilHandlerPanics(t *testing.T) {
	b := newBus(t, Config{Workers: 1})
	assert.PanicsWithValue(t, "eventbus: nil Handler", func() { b.Subscribe(LogLine, nil) })
	assert.PanicsWithValue(t, "eventbus: nil Handler", func() { b.On(LogLine, nil) })
	assert.PanicsWithValue(t, "eventbus: nil Handler", func() { b.OnAll(nil) })
}

func TestNewEventBusRejectsBadConfig(t *testing.T) {
	cases := []struct {
		field string
		cfg   Config
	}{
		{"Workers", Config{Workers: -1}},
		{"Workers", Config{Workers: WorkerLimit + 1}},
		{"QueueSize", Config{QueueSize: -5}},
		{"TimeoutDuration", Config{TimeoutDuration: -time.Second}},
		{"ShutdownTimeout", Config{ShutdownTimeout: -1}},
		{"MetricsWindow", Config{MetricsWindow: -1}},
		{"MetricsWindow", Config{MetricsWindow: 1}},
		{"MetricsWindow", Config{MetricsWindow: MinInterval - 1}},
		{"ScaleInterval", Config{MinWorkers: 1, MaxWorkers: 2, ScaleInterval: time.Nanosecond}},
		{"IdleTimeout", Config{MinWorkers: 1, MaxWorkers: 2, IdleTimeout: time.Microsecond}},
		{"StarvationLimit", Config{StarvationLimit: -1}},
		{"BackpressureMode", Config{BackpressureMode: DropPolicy(7)}},
		{"BackpressureMode", Config{BackpressureMode: DropPolicy(-1)}},
		{"Priorities", Config{Priorities: map[EventType]Priority{LogLine: 0}}},
		{"Priorities", Config{Priorities: map[EventType]Priority{LogLine: 4}}},
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			b, err := NewEventBus(c.cfg)
			require.Error(t, err)
			assert.Nil(t, b)
			assert.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), c.field)
		})
	}
	// The smallest accepted intervals start and stop a bus.
	b := newBus(t, Config{MinWorkers: 1, MaxWorkers: 2, MetricsWindow: MinInterval,
		ScaleInterval: MinInterval, IdleTimeout: MinInterval, MonitoringEnabled: true})
	b.Shutdown()
}

func TestZeroConfigIsUsable(t *testing.T) {
	b := newBus(t, Config{})
	cfg := b.Config()
	assert.Equal(t, CalculateOptimalWorkers(), cfg.Workers)
	assert.Equal(t, cfg.Workers*10, cfg.QueueSize)
	assert.Equal(t, 5*time.Second, cfg.ShutdownTimeout)
	assert.Equal(t, DropOldest, cfg.BackpressureMode)
	var n atomic.Int32
	b.Subscribe(LogLine, func(Event) { n.Add(1) })
	b.Publish(Event{Type: LogLine})
	waitIdle(t, b)
	assert.EqualValues(t, 1, n.Load())
}

func TestDefaultConfig(t *testing.T) {
	cfg := DefaultConfig()
	assert.Equal(t, CalculateOptimalWorkers(), cfg.Workers)
	assert.Equal(t, cfg.Workers*10, cfg.QueueSize)
	assert.True(t, cfg.EnablePriority)
	assert.True(t, cfg.MonitoringEnabled)
	assert.Equal(t, DropLowPri, cfg.BackpressureMode, "the amended default protects High events")
	assert.Zero(t, cfg.TimeoutDuration, "Publish never blocks under the default config")
}

func TestConfigIsCopied(t *testing.T) {
	prios := map[EventType]Priority{"custom": PriorityHigh}
	b := newBus(t, Config{Workers: 1, EnablePriority: true, Priorities: prios})
	prios["custom"] = PriorityLow
	assert.Equal(t, PriorityHigh, b.PriorityOf("custom"))
	got := b.Config().Priorities
	got["custom"] = PriorityLow
	assert.Equal(t, PriorityHigh, b.PriorityOf("custom"))
}

func TestPanickingHandlersAreContained(t *testing.T) {
	type report struct {
		ev    Event
		value any
		stack string
	}
	reports := make(chan report, 16)
	b := newBus(t, Config{Workers: 1, OnPanic: func(ev Event, v any, stack []byte) {
		reports <- report{ev, v, string(stack)}
	}})
	var after atomic.Int32
	b.Subscribe(ErrorDetected, func(ev Event) {
		switch ev.Data["kind"] {
		case "value":
			panic("boom")
		case "error":
			panic(errors.New("bad"))
		case "nil":
			panic(nil)
		case "runtime":
			var m map[string]int
			//lint:ignore SA5000 the handler panics with a runtime error on purpose
			m["x"] = 1
		}
	})
	b.Subscribe(ErrorDetected, func(Event) { after.Add(1) })

	kinds := []string{"value", "error", "nil", "runtime"}
	for _, k := range kinds {
		b.Publish(Event{Type: ErrorDetected, Data: map[string]interface{}{"kind": k}})
	}
	waitIdle(t, b)

	for _, k := range kinds {
		r := receive(t, reports)
		assert.Equal(t, k, r.ev.Data["kind"])
		assert.Contains(t, r.stack, "eventbus_test.go", "the stack shows where the handler panicked")
		switch k {
		case "value":
			assert.Equal(t, "boom", r.value)
		case "error":
			assert.EqualError(t, r.value.(error), "bad")
		case "nil":
			var pe *runtime.PanicNilError
			assert.ErrorAs(t, r.value.(error), &pe)
		case "runtime":
			var re runtime.Error
			assert.ErrorAs(t, r.value.(error), &re)
		}
	}
	assert.EqualValues(t, len(kinds), after.Load(), "the next handler still runs")
	m := requireAccounted(t, b)
	assert.EqualValues(t, len(kinds), m.HandlerPanics)
	assert.EqualValues(t, len(kinds), m.EventsProcessed)
}

func TestHandlerCallingGoexitIsReplaced(t *testing.T) {
	exits := make(chan any, 4)
	b := newBus(t, Config{Workers: 2, OnPanic: func(_ Event, v any, _ []byte) { exits <- v }})
	var next atomic.Int32
	b.Subscribe(TestFailed, func(ev Event) {
		if ev.Data["exit"] == true {
			runtime.Goexit()
		}
	})
	b.Subscribe(TestFailed, func(Event) { next.Add(1) })

	for i := 0; i < 3; i++ {
		b.Publish(Event{Type: TestFailed, Data: map[string]interface{}{"exit": true}})
	}
	waitIdle(t, b)
	for i := 0; i < 3; i++ {
		assert.Equal(t, ErrHandlerExited, receive(t, exits))
	}
	assert.EqualValues(t, 3, next.Load(), "the event's next handler ran on the replacement")

	// The pool is still at full strength: two events that each wait for
	// the other can only finish on two workers.
	var wg sync.WaitGroup
	wg.Add(2)
	b.Subscribe(BuildEvent, func(Event) { wg.Done(); wg.Wait() })
	b.Publish(Event{Type: BuildEvent})
	b.Publish(Event{Type: BuildEvent})
	waitIdle(t, b)
	m := requireAccounted(t, b)
	assert.EqualValues(t, 3, m.HandlerPanics)
	// The exited goroutines are replaced one for one (each leaves just
	// after starting its replacement).
	require.Eventually(t, func() bool { return b.pool.live.Load() == 2 }, testTimeout, time.Millisecond)
}

func TestNothingIsPrintedByDefault(t *testing.T) {
	// A panic with no OnPanic set must be silent: Brummer draws a
	// full-screen TUI on the terminal. Capture both streams around it.
	out := captureOutput(t, func() {
		b, err := NewEventBus(Config{Workers: 1})
		require.NoError(t, err)
		b.Subscribe(LogLine, func(Event) { panic("silent") })
		b.Publish(Event{Type: LogLine})
		waitIdle(t, b)
		b.Shutdown()
		b.Publish(Event{Type: LogLine}) // a drop after shutdown is silent too
	})
	assert.Empty(t, out)
}

func TestUnsubscribeStopsQueuedEvents(t *testing.T) {
	b := newBus(t, Config{Workers: 1, QueueSize: 10})
	var r recorder
	sub := b.On(LogLine, r.handle)
	release := holdWorker(t, b)
	for i := 0; i < 5; i++ {
		b.Publish(Event{Type: LogLine})
	}
	sub.Unsubscribe()
	release()
	waitIdle(t, b)
	assert.Zero(t, r.len(), "no queued event reaches an unsubscribed handler")
	m := requireAccounted(t, b)
	assert.EqualValues(t, 6, m.EventsProcessed, "the events still count as processed")
	receive(t, sub.Done())
	sub.Unsubscribe() // idempotent
}

func TestUnsubscribeFromInsideTheHandler(t *testing.T) {
	b := newBus(t, Config{Workers: 2})
	var calls atomic.Int32
	var sub *Subscription
	subscribed := make(chan struct{})
	sub = b.On(MCPActivity, func(Event) {
		<-subscribed
		calls.Add(1)
		sub.Unsubscribe()
	})
	close(subscribed)
	b.Publish(Event{Type: MCPActivity})
	waitIdle(t, b)
	receive(t, sub.Done())
	for i := 0; i < 10; i++ {
		b.Publish(Event{Type: MCPActivity})
	}
	waitIdle(t, b)
	assert.EqualValues(t, 1, calls.Load())
}

// Brummer's MCP sessions close their channel when they end; with
// Unsubscribe and Done they can do so without a send on a closed channel.
func TestDoneWaitsForTheRunningInvocation(t *testing.T) {
	b := newBus(t, Config{Workers: 2})
	entered := make(chan struct{})
	proceed := make(chan struct{})
	out := make(chan Event, 1)
	sub := b.On(LogLine, func(ev Event) {
		entered <- struct{}{}
		<-proceed
		out <- ev
	})
	b.Publish(Event{Type: LogLine})
	receive(t, entered)
	sub.Unsubscribe()
	select {
	case <-sub.Done():
		t.Fatal("Done closed while the handler was still running")
	default:
	}
	close(proceed)
	receive(t, sub.Done())
	receive(t, out)
	close(out) // safe: the handler can never run again
	b.Publish(Event{Type: LogLine})
	waitIdle(t, b)
}

func TestUnsubscribeRacesWithPublish(t *testing.T) {
	b := newBus(t, Config{Workers: 4, BackpressureMode: Block})
	stopFlood := floodLogLines(b, 4)
	for i := 0; i < 200; i++ {
		var after atomic.Bool
		var bad atomic.Int32
		sub := b.On(LogLine, func(Event) {
			if after.Load() {
				bad.Add(1)
			}
		})
		sub.Unsubscribe()
		<-sub.Done()
		after.Store(true)
		// Anything that starts after Done would be a bug; look again once
		// the pool has moved past everything published so far.
		waitIdle(t, b)
		require.Zero(t, bad.Load(), "handler ran after Done closed")
	}
	stopFlood()
	waitIdle(t, b)
	requireAccounted(t, b)
}

func TestWaitIdleRespectsItsContextAndRecovers(t *testing.T) {
	b := newBus(t, Config{Workers: 1})
	var r recorder
	b.Subscribe(LogLine, r.handle)
	release := holdWorker(t, b)
	b.Publish(Event{Type: LogLine})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, b.WaitIdle(ctx), context.DeadlineExceeded)

	// The event published before the failed wait is still waited for by
	// the next one, although a generation has passed.
	b.Publish(Event{Type: LogLine})
	release()
	waitIdle(t, b)
	assert.Equal(t, 2, r.len())
}

func TestWaitIdleWhilePublishersContinue(t *testing.T) {
	b := newBus(t, Config{Workers: 2, BackpressureMode: Block, QueueSize: 8})
	var handled atomic.Int64
	b.Subscribe(LogLine, func(Event) { handled.Add(1) })
	stopFlood := floodLogLines(b, 1)
	for i := 0; i < 50; i++ {
		var marker atomic.Bool
		sub := b.On(BuildEvent, func(Event) { marker.Store(true) })
		b.Publish(Event{Type: BuildEvent})
		waitIdle(t, b) // must return although the log flood never stops
		require.True(t, marker.Load(), "WaitIdle returned before an earlier event was handled")
		sub.Unsubscribe()
	}
	stopFlood()
	waitIdle(t, b)
	requireAccounted(t, b)
}

func TestShutdownDrainsTheQueue(t *testing.T) {
	b, err := NewEventBus(Config{Workers: 1, QueueSize: 100})
	require.NoError(t, err)
	var n atomic.Int32
	b.Subscribe(LogLine, func(Event) { n.Add(1) })
	release := holdWorker(t, b)
	for i := 0; i < 50; i++ {
		b.Publish(Event{Type: LogLine})
	}
	done := make(chan struct{})
	go func() { b.Shutdown(); close(done) }()
	// Shutdown stops intake at once, even while it drains.
	require.Eventually(t, func() bool {
		return errors.Is(b.PublishContext(context.Background(), Event{Type: "nobody.listens"}), ErrEventBusShutdown)
	}, testTimeout, time.Millisecond)
	release()
	receive(t, done)
	assert.EqualValues(t, 50, n.Load())
	m := requireAccounted(t, b)
	assert.GreaterOrEqual(t, m.Drops.Shutdown, int64(1))
	b.Shutdown() // idempotent
	require.NoError(t, b.ShutdownContext(context.Background()))
}

func TestShutdownContextDropsWhatItCannotDeliver(t *testing.T) {
	var drops dropLog
	b, err := NewEventBus(Config{Workers: 1, QueueSize: 10, OnDrop: drops.onDrop})
	require.NoError(t, err)
	var n atomic.Int32
	b.Subscribe(LogLine, func(Event) { n.Add(1) })
	release := holdWorker(t, b)
	for i := 0; i < 7; i++ {
		b.Publish(Event{Type: LogLine})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, b.ShutdownContext(ctx), context.DeadlineExceeded)
	ids, reasons := drops.snapshot()
	assert.Len(t, ids, 7)
	for _, r := range reasons {
		assert.ErrorIs(t, r, ErrEventBusShutdown)
	}
	release()
	require.NoError(t, b.ShutdownContext(context.Background()), "the held worker exits once released")
	assert.Zero(t, n.Load())
	m := requireAccounted(t, b)
	assert.EqualValues(t, 7, m.Drops.Shutdown)
}

func TestPublishAfterShutdown(t *testing.T) {
	var drops dropLog
	b, err := NewEventBus(Config{Workers: 2, OnDrop: drops.onDrop})
	require.NoError(t, err)
	b.Subscribe(LogLine, func(Event) {})
	b.Shutdown()
	assert.NotPanics(t, func() { b.Publish(Event{Type: LogLine, ID: "late"}) })
	assert.ErrorIs(t, b.PublishWithBackpressure(Event{Type: LogLine}, PriorityHigh), ErrEventBusShutdown)
	assert.ErrorIs(t, b.PublishContext(context.Background(), Event{Type: "nobody.listens"}), ErrEventBusShutdown)
	ids, reasons := drops.snapshot()
	require.Len(t, ids, 3)
	assert.Equal(t, "late", ids[0])
	for _, r := range reasons {
		assert.ErrorIs(t, r, ErrEventBusShutdown)
	}
	m := requireAccounted(t, b)
	assert.EqualValues(t, 3, m.EventsPublished)
	assert.EqualValues(t, 3, m.Drops.Shutdown)
}

func TestShutdownWhilePublishing(t *testing.T) {
	for _, policy := range []DropPolicy{DropOldest, DropNewest, DropLowPri, Block} {
		t.Run(policy.String(), func(t *testing.T) {
			var dropped atomic.Int64
			b, err := NewEventBus(Config{Workers: 2, QueueSize: 4, BackpressureMode: policy,
				EnablePriority: true, OnDrop: func(Event, error) { dropped.Add(1) }})
			require.NoError(t, err)
			var handled atomic.Int64
			b.Subscribe(LogLine, func(Event) { handled.Add(1) })
			b.Subscribe(ProcessExited, func(Event) { handled.Add(1) })
			var wg sync.WaitGroup
			for p := 0; p < 8; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 500; i++ {
						typ := LogLine
						if i%10 == 0 {
							typ = ProcessExited
						}
						b.Publish(Event{Type: typ})
					}
				}()
			}
			var sd sync.WaitGroup
			for s := 0; s < 3; s++ {
				sd.Add(1)
				go func() { defer sd.Done(); b.Shutdown() }()
			}
			wg.Wait()
			sd.Wait()
			m := requireAccounted(t, b)
			assert.EqualValues(t, 8*500, m.EventsPublished)
			assert.Equal(t, m.EventsProcessed, handled.Load())
			assert.Equal(t, m.EventsDropped, dropped.Load())
		})
	}
}

func TestTenBusesLeaveNoGoroutines(t *testing.T) {
	for i := 0; i < 10; i++ {
		b, err := NewEventBus(DefaultConfig())
		require.NoError(t, err)
		b.Subscribe(LogLine, func(Event) {})
		b.Publish(Event{Type: LogLine})
		b.Shutdown()
	}
	// TestMain's goleak check fails the package if any goroutine remains.
}

func TestHandlerMayPublishToItsOwnBus(t *testing.T) {
	for _, policy := range []DropPolicy{DropOldest, DropNewest, DropLowPri} {
		t.Run(policy.String(), func(t *testing.T) {
			b := newBus(t, Config{Workers: 2, QueueSize: 2, BackpressureMode: policy, EnablePriority: true})
			var depth atomic.Int64
			b.Subscribe(BuildEvent, func(ev Event) {
				n := ev.Data["n"].(int)
				depth.Add(1)
				if n < 200 {
					// Two children per event: the queue overflows and
					// the policy drops, but nothing deadlocks.
					for k := 0; k < 2; k++ {
						b.Publish(Event{Type: BuildEvent, Data: map[string]interface{}{"n": n + 1}})
					}
				}
			})
			b.Publish(Event{Type: BuildEvent, Data: map[string]interface{}{"n": 0}})
			waitQuiet(t, b)
			m := requireAccounted(t, b)
			assert.Positive(t, m.EventsDropped)
			assert.Equal(t, depth.Load(), m.EventsProcessed)
		})
	}
}

func TestGoroutinesStayBoundedUnderABurst(t *testing.T) {
	events := 1_000_000
	if testing.Short() || raceEnabled {
		events = 200_000
	}
	base := runtime.NumGoroutine()
	cfg := DefaultConfig()
	cfg.Workers = 4
	cfg.QueueSize = 40
	b := newBus(t, cfg)
	block := make(chan struct{})
	b.Subscribe(LogLine, func(Event) { <-block })
	peak := 0
	for i := 0; i < events; i++ {
		b.Publish(Event{Type: LogLine})
		if i%1000 == 0 {
			peak = max(peak, runtime.NumGoroutine())
		}
	}
	// Workers, plus the sampler goroutine of the monitor.
	assert.LessOrEqual(t, peak-base, cfg.Workers+1, "a burst must not grow the goroutine count")
	close(block)
	waitIdle(t, b)
	m := requireAccounted(t, b)
	assert.EqualValues(t, events, m.EventsPublished)
	// One worker is reserved for non-Low events, so Workers-1 log lines
	// were taken by blocked workers and QueueSize more waited.
	taken := cfg.Workers - b.Config().ReservedWorkers + cfg.QueueSize
	assert.EqualValues(t, taken, m.EventsProcessed)
	assert.EqualValues(t, events-taken, m.Drops.QueueFull)
}

func TestPublishWithBackpressureRejectsBadPriority(t *testing.T) {
	var drops dropLog
	b := newBus(t, Config{Workers: 1, OnDrop: drops.onDrop})
	b.Subscribe(LogLine, func(Event) {})
	for _, p := range []Priority{0, -1, 4} {
		err := b.PublishWithBackpressure(Event{Type: LogLine}, p)
		assert.ErrorIs(t, err, ErrInvalidPriority)
	}
	_, reasons := drops.snapshot()
	assert.Len(t, reasons, 3)
	m := requireAccounted(t, b)
	assert.EqualValues(t, 3, m.Drops.InvalidPriority)
}

func TestPublishContext(t *testing.T) {
	var drops dropLog
	b := newBus(t, Config{Workers: 1, QueueSize: 1, BackpressureMode: Block, OnDrop: drops.onDrop})
	b.Subscribe(LogLine, func(Event) {})
	release := holdWorker(t, b)
	require.NoError(t, b.PublishContext(context.Background(), Event{Type: LogLine}))

	// The queue is full: a blocked publisher gives up with its context.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := b.PublishContext(ctx, Event{Type: LogLine, ID: "gave-up"})
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// A context that is already done drops at once, even with room.
	release()
	waitIdle(t, b)
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	require.ErrorIs(t, b.PublishContext(done, Event{Type: LogLine, ID: "too-late"}), context.Canceled)

	ids, reasons := drops.snapshot()
	assert.Equal(t, []string{"gave-up", "too-late"}, ids)
	assert.ErrorIs(t, reasons[0], context.DeadlineExceeded)
	assert.ErrorIs(t, reasons[1], context.Canceled)
	m := requireAccounted(t, b)
	assert.EqualValues(t, 2, m.Drops.Context)
}

// A done context drops the event even when no handler is subscribed to its
// type: the doc promises the drop, not "processed by doing nothing".
func TestPublishContextAlreadyDoneWithoutHandlers(t *testing.T) {
	var drops dropLog
	b := newBus(t, Config{Workers: 1, OnDrop: drops.onDrop})
	done, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, b.PublishContext(done, Event{Type: "nobody.listens", ID: "x"}), context.Canceled)
	ids, _ := drops.snapshot()
	assert.Equal(t, []string{"x"}, ids)
	m := requireAccounted(t, b)
	assert.EqualValues(t, 1, m.EventsDropped)
	assert.Zero(t, m.EventsProcessed)
}

func TestBlockedPublisherIsRefusedAtShutdown(t *testing.T) {
	b, err := NewEventBus(Config{Workers: 1, QueueSize: 1, BackpressureMode: Block})
	require.NoError(t, err)
	b.Subscribe(LogLine, func(Event) {})
	release := holdWorker(t, b)
	b.Publish(Event{Type: LogLine})
	errc := make(chan error, 1)
	go func() { errc <- b.PublishWithBackpressure(Event{Type: LogLine}, PriorityLow) }()
	require.Eventually(t, func() bool { return waitingPublishers(b) == 1 }, testTimeout, time.Millisecond)
	done := make(chan struct{})
	go func() { b.Shutdown(); close(done) }()
	assert.ErrorIs(t, receive(t, errc), ErrEventBusShutdown)
	release()
	receive(t, done)
	requireAccounted(t, b)
}

// waitingPublishers returns how many publishers wait for room.
func waitingPublishers(b *EventBus) int {
	b.q.mu.Lock()
	defer b.q.mu.Unlock()
	return b.q.nwaiting
}

func TestMetricsCountsAndStats(t *testing.T) {
	b := newBus(t, Config{Workers: 2, MonitoringEnabled: true})
	b.Subscribe(LogLine, func(Event) {})
	for i := 0; i < 10; i++ {
		b.Publish(Event{Type: LogLine})
	}
	waitIdle(t, b)
	m := requireAccounted(t, b)
	assert.True(t, m.MonitoringEnabled)
	assert.EqualValues(t, 10, m.EventsPublished)
	assert.EqualValues(t, 10, m.EventsProcessed)
	assert.Len(t, m.WorkerUtilization, 2)
	stats := b.GetStats()
	assert.EqualValues(t, 10, stats["events_processed"])
	assert.EqualValues(t, 0, stats["events_dropped"])
	assert.Equal(t, 0, stats["current_queue_depth"])
	assert.IsType(t, time.Duration(0), stats["avg_processing_time"])
}

func TestErrorMessagesNameThePackage(t *testing.T) {
	for _, err := range []error{ErrQueueFull, ErrEventBusShutdown, ErrInvalidPriority, ErrHandlerExited, ErrInvalidConfig} {
		assert.True(t, strings.HasPrefix(err.Error(), "eventbus: "), err.Error())
	}
	assert.Equal(t, "high", PriorityHigh.String())
	assert.Equal(t, "Priority(9)", Priority(9).String())
	assert.Equal(t, "DropPolicy(9)", DropPolicy(9).String())
	for p := DropOldest; p <= Block; p++ {
		got, err := ParseDropPolicy(p.String())
		require.NoError(t, err)
		assert.Equal(t, p, got)
	}
	_, err := ParseDropPolicy("drop-everything")
	assert.ErrorContains(t, err, fmt.Sprintf("%q", "drop-everything"))
}

// The replacement of a goroutine that called runtime.Goexit finishes its
// event without recording the event's wait a second time.
func TestGoexitRecordsTheWaitOnce(t *testing.T) {
	b := newBus(t, Config{Workers: 1, MonitoringEnabled: true})
	b.Subscribe(BuildEvent, func(Event) { runtime.Goexit() })
	b.Subscribe(BuildEvent, func(Event) {})
	b.Publish(Event{Type: BuildEvent})
	waitIdle(t, b)
	m := requireAccounted(t, b)
	assert.EqualValues(t, 1, m.EventsProcessed)
	assert.EqualValues(t, 1, m.Wait.Medium.Count)
}

// An OnDrop that publishes, and whose publish is dropped in turn, recurses;
// the bound on OnDrop calls in progress ends the recursion instead of the
// process, and the drops beyond it are still counted.
func TestOnDropThatPublishesCannotRecurseForever(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		trigger func(t *testing.T, b *EventBus)
	}{
		{"after shutdown", Config{Workers: 1}, func(_ *testing.T, b *EventBus) { b.Shutdown() }},
		{"full drop-newest queue", Config{Workers: 1, QueueSize: 1, BackpressureMode: DropNewest}, func(t *testing.T, b *EventBus) {
			holdWorker(t, b)
			b.Publish(Event{Type: LogLine}) // fills the queue
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b *EventBus
			var reported atomic.Int64
			cfg := tc.cfg
			cfg.OnDrop = func(ev Event, reason error) {
				reported.Add(1)
				b.Publish(Event{Type: LogLine}) // dropped again
			}
			b = newBus(t, cfg)
			b.Subscribe(LogLine, func(Event) {})
			tc.trigger(t, b)
			b.Publish(Event{Type: LogLine})
			m := b.Metrics()
			assert.EqualValues(t, maxDropReports, reported.Load())
			assert.EqualValues(t, 1, m.Drops.Unreported)
			assert.EqualValues(t, maxDropReports+1, m.EventsDropped, "every drop is counted")
		})
	}
}

// An event whose publisher passed the check for shutdown just before
// Shutdown began, and routes it only after Shutdown ended the
// subscriptions, is dropped with ErrEventBusShutdown: it must not count as
// processed for want of a subscriber. A filter holds the publisher in
// that window until the second subscription has ended.
func TestPublishRacingShutdownIsDroppedNotUnheard(t *testing.T) {
	var drops []error
	b, err := NewEventBus(Config{Workers: 1, OnDrop: func(_ Event, reason error) { drops = append(drops, reason) }})
	require.NoError(t, err)
	var handled atomic.Int64
	var late *Subscription
	shutdown := make(chan struct{})
	b.On(LogLine, func(Event) { handled.Add(1) }, WithFilter(func(Event) bool {
		go func() { defer close(shutdown); b.Shutdown() }()
		select {
		case <-late.Done():
		case <-time.After(testTimeout):
			t.Error("Shutdown did not end the subscription")
		}
		return false
	}))
	late = b.On(LogLine, func(Event) { handled.Add(1) })

	require.ErrorIs(t, b.PublishContext(context.Background(), Event{Type: LogLine}), ErrEventBusShutdown)
	<-shutdown
	m := requireAccounted(t, b)
	assert.EqualValues(t, 1, m.EventsDropped)
	assert.Zero(t, m.EventsProcessed)
	assert.Zero(t, handled.Load())
	require.Len(t, drops, 1)
	assert.ErrorIs(t, drops[0], ErrEventBusShutdown)
}
