package eventbus

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// drain reads ch until it is closed and returns what it read.
func drain(t testing.TB, ch <-chan Event) []string {
	t.Helper()
	var ids []string
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return ids
			}
			ids = append(ids, ev.ID)
		case <-timeoutCh():
			t.Fatal("the channel was never closed")
		}
	}
}

func timeoutCh() <-chan struct{} {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	_ = cancel // released when the timer fires
	return ctx.Done()
}

func TestChanDeliversInOrderAndClosesWithItsContext(t *testing.T) {
	b := newBus(t, Config{Workers: 4, QueueSize: 100, BackpressureMode: Block})
	ctx, cancel := context.WithCancel(context.Background())
	ch := b.Chan(ctx, 64, Block, []EventType{LogLine, ProcessExited}, WithName("session"))
	for i := 0; i < 20; i++ {
		b.Publish(Event{ID: fmt.Sprint(i), Type: LogLine})
	}
	b.Publish(Event{ID: "other", Type: BuildEvent})
	waitIdle(t, b)
	m := b.Metrics()
	require.Len(t, m.Subscriptions, 1)
	assert.EqualValues(t, 20, m.Subscriptions[0].Delivered, "in the channel counts as delivered")
	cancel()
	got := drain(t, ch)
	want := make([]string, 20)
	for i := range want {
		want[i] = fmt.Sprint(i)
	}
	assert.Equal(t, want, got, "one publisher's order")
	assert.Empty(t, b.Metrics().Subscriptions, "a closed channel's subscription is gone")
	ended := b.Metrics().EndedSubscriptions
	require.Len(t, ended, 1)
	assert.EqualValues(t, 20, ended[0].Delivered)
}

// An absent reader never holds a worker under DropOldest or DropNewest:
// the other subscriptions are served and WaitIdle returns; the channel
// keeps the newest (DropOldest) or the oldest (DropNewest) events.
func TestChanWithAnAbsentReader(t *testing.T) {
	for _, c := range []struct {
		policy DropPolicy
		kept   []string
	}{
		{DropOldest, []string{"7", "8", "9"}},
		{DropNewest, []string{"0", "1", "2"}},
	} {
		t.Run(c.policy.String(), func(t *testing.T) {
			b := newBus(t, Config{Workers: 1, QueueSize: 100})
			var hook dropLog
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch := b.Chan(ctx, 3, c.policy, []EventType{LogLine}, WithOnDrop(hook.onDrop), WithName("chan"))
			var other atomic.Int64
			b.On(LogLine, func(Event) { other.Add(1) }, WithName("other"))
			for i := 0; i < 10; i++ {
				b.Publish(Event{ID: fmt.Sprint(i), Type: LogLine})
			}
			waitIdle(t, b) // one worker, and the reader never reads
			assert.EqualValues(t, 10, other.Load())
			ids, reasons := hook.snapshot()
			assert.Len(t, ids, 7)
			for _, r := range reasons {
				assert.ErrorIs(t, r, ErrQueueFull)
			}
			st := b.Metrics().Subscriptions[0]
			assert.Equal(t, SubscriptionStats{Name: "chan", Types: []EventType{LogLine}, Matched: 10, Delivered: 3, Dropped: 7}, st)
			cancel()
			assert.Equal(t, c.kept, drain(t, ch))
			requireAccounted(t, b)
		})
	}
}

// Under Block a full channel holds one worker, waiting for room, until
// the reader makes room or the context ends; nothing else waits on it.
func TestChanBlockWaitsForTheReader(t *testing.T) {
	b := newBus(t, Config{Workers: 2, QueueSize: 100})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var hook dropLog
	ch := b.Chan(ctx, 1, Block, []EventType{"x"}, WithOnDrop(hook.onDrop), WithName("chan"))
	var other atomic.Int64
	b.On("y", func(Event) { other.Add(1) }, WithName("other"))
	for i := 0; i < 3; i++ {
		b.Publish(Event{ID: fmt.Sprint(i), Type: "x"})
	}
	for i := 0; i < 50; i++ {
		b.Publish(Event{Type: "y"})
	}
	require.Eventually(t, func() bool { return other.Load() == 50 }, testTimeout, 100e3, "the other worker serves everyone else")
	assert.Equal(t, "0", (<-ch).ID) // room: the waiting send goes through
	assert.Equal(t, "1", (<-ch).ID)
	assert.Equal(t, "2", (<-ch).ID)
	// Now a send waits for a reader that is gone.
	b.Publish(Event{ID: "3", Type: "x"})
	b.Publish(Event{ID: "4", Type: "x"})
	require.Eventually(t, func() bool { return len(ch) == 1 && b.Metrics().Subscriptions[0].Running == 1 }, testTimeout, 100e3)
	cancel()
	assert.Equal(t, []string{"3"}, drain(t, ch))
	ids, reasons := hook.snapshot()
	assert.Equal(t, []string{"4"}, ids)
	assert.ErrorIs(t, reasons[0], ErrUnsubscribed)
	waitIdle(t, b)
	requireAccounted(t, b)
}

// A Block send waiting for an absent reader gives up as soon as the
// subscription ends through a WithContext context, not only through
// Chan's own: the worker is free again and WaitIdle returns.
func TestChanBlockGivesUpWhenAnyContextEnds(t *testing.T) {
	b := newBus(t, Config{Workers: 2, QueueSize: 8})
	subCtx, cancelSub := context.WithCancel(context.Background())
	defer cancelSub()
	var hook dropLog
	ch := b.Chan(context.Background(), 1, Block, []EventType{"x"}, WithContext(subCtx), WithOnDrop(hook.onDrop))
	b.Publish(Event{ID: "1", Type: "x"}) // fills the channel
	b.Publish(Event{ID: "2", Type: "x"}) // its send waits
	require.Eventually(t, func() bool { return b.Metrics().Subscriptions[0].Running == 1 }, testTimeout, 100e3)
	cancelSub()
	waitIdle(t, b)
	assert.Equal(t, []string{"1"}, drain(t, ch))
	ids, reasons := hook.snapshot()
	assert.Equal(t, []string{"2"}, ids)
	assert.Equal(t, []error{ErrUnsubscribed}, reasons)
	requireAccounted(t, b)
}

// Shutdown closes every channel; a Block send that has no reader gives up
// at the shutdown deadline.
func TestShutdownClosesEveryChannel(t *testing.T) {
	b, err := NewEventBus(Config{Workers: 2})
	require.NoError(t, err)
	var chans []<-chan Event
	for i := 0; i < 100; i++ {
		chans = append(chans, b.Chan(context.Background(), 1, Block, nil))
	}
	b.Publish(Event{Type: "x"})
	b.Publish(Event{Type: "x"}) // the second one waits for room in every channel
	ctx, cancel := context.WithTimeout(context.Background(), 50e6)
	defer cancel()
	_ = b.ShutdownContext(ctx)
	for _, ch := range chans {
		assert.Len(t, drain(t, ch), 1)
	}
	require.NoError(t, b.ShutdownContext(context.Background()))
	assert.Empty(t, b.Metrics().Subscriptions)
	// A channel subscribed after Shutdown is closed at once.
	assert.Empty(t, drain(t, b.Chan(context.Background(), 1, DropOldest, nil)))
}

// Thousands of channel subscriptions come and go while publishers flood:
// each channel is closed exactly once (its range loop ends), nothing
// panics, and the subscription list is back to empty.
func TestManyChannelsCancelledUnderLoad(t *testing.T) {
	sessions := 3000
	if raceEnabled || testing.Short() {
		sessions = 800
	}
	b := newBus(t, Config{Workers: 4, QueueSize: 256})
	b.On(LogLine, func(Event) {}, WithName("tui"))
	stop := make(chan struct{})
	var pubs sync.WaitGroup
	for p := 0; p < 3; p++ {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				typ := LogLine
				if i%50 == 0 {
					typ = ProcessExited
				}
				b.Publish(Event{Type: typ, ProcessID: fmt.Sprint(i % 7)})
			}
		}()
	}
	var closed atomic.Int64
	var readers sync.WaitGroup
	for i := 0; i < sessions; i++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			ctx, cancel := context.WithCancel(context.Background())
			policy := []DropPolicy{DropOldest, DropNewest, Block}[i%3]
			ch := b.Chan(ctx, 1+i%8, policy, []EventType{LogLine, ProcessStarted, ProcessExited},
				WithName("session"), WithFilter(func(ev Event) bool { return ev.ProcessID != "3" }))
			for n := rand.IntN(20); n > 0; n-- {
				if _, ok := <-ch; !ok {
					break
				}
			}
			cancel()
			for range ch { // ends once the bus closes it
			}
			closed.Add(1)
		}()
	}
	readers.Wait()
	close(stop)
	pubs.Wait()
	waitQuiet(t, b)
	assert.EqualValues(t, sessions, closed.Load())
	m := b.Metrics()
	require.Len(t, m.Subscriptions, 1, "only the TUI is left")
	var total SubscriptionStats
	for _, st := range m.EndedSubscriptions {
		checkIdentity(t, st)
		total.add(&st)
	}
	assert.Zero(t, total.Pending)
	requireAccounted(t, b)
}

// WithContext ends an On subscription as Unsubscribe would.
func TestWithContextEndsTheSubscription(t *testing.T) {
	b := newBus(t, Config{Workers: 2})
	ctx, cancel := context.WithCancel(context.Background())
	var r recorder
	s := b.On("x", r.handle, WithContext(ctx))
	b.Publish(Event{ID: "before", Type: "x"})
	waitIdle(t, b)
	cancel()
	receive(t, s.Done())
	b.Publish(Event{ID: "after", Type: "x"})
	waitIdle(t, b)
	assert.Equal(t, []string{"before"}, r.ids())
	assert.Empty(t, b.Metrics().Subscriptions)

	// A context that is already done ends the subscription at once.
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	s = b.On("x", r.handle, WithContext(done))
	receive(t, s.Done())
}

func TestChanRejectsBadArguments(t *testing.T) {
	b := newBus(t, Config{Workers: 1})
	var none context.Context
	for name, call := range map[string]func(){
		"nil Context":     func() { b.Chan(none, 1, Block, nil) },
		"size 0":          func() { b.Chan(context.Background(), 0, Block, nil) },
		"policy":          func() { b.Chan(context.Background(), 1, DropLowPri, nil) },
		"WithConcurrency": func() { b.Chan(context.Background(), 1, Block, nil, WithConcurrency(2)) },
		"WithBuffer":      func() { b.Chan(context.Background(), 1, Block, nil, WithBuffer(2, Block)) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				r := recover()
				require.NotNil(t, r)
				assert.Contains(t, fmt.Sprint(r), name)
			}()
			call()
		})
	}
}

// BenchmarkChanChurn measures one session's life as Brummer's MCP server
// lives it: subscribe a channel to three types, get one event, cancel,
// read to the close; beside 100 other subscriptions. 20,000 cycles take
// 20,000 × ns/op.
func BenchmarkChanChurn(b *testing.B) {
	bus, err := NewEventBus(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Shutdown()
	for i := 0; i < 100; i++ {
		bus.On(EventType(fmt.Sprint("other.", i%20)), func(Event) {})
	}
	types := []EventType{LogLine, ProcessStarted, ProcessExited}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		ch := bus.Chan(ctx, 16, DropOldest, types)
		bus.Publish(Event{Type: ProcessStarted})
		<-ch
		cancel()
		for range ch {
		}
	}
}
