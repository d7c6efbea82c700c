package events

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// eventPublisher is the interface Brummer declares over its bus.
type eventPublisher interface {
	Publish(Event)
	Subscribe(EventType, Handler)
	Shutdown()
}

var _ eventPublisher = (*EventBus)(nil)

func waitIdle(t *testing.T, b *EventBus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, b.WaitIdle(ctx))
}

func TestPublishFillsIDAndTimestamp(t *testing.T) {
	b := NewEventBus()
	defer b.Shutdown()
	got := make(chan Event, 1)
	b.Subscribe(ProcessStarted, func(e Event) { got <- e })
	b.Publish(Event{Type: ProcessStarted, ProcessID: "p1"})
	e := <-got
	assert.NotEmpty(t, e.ID)
	assert.False(t, e.Timestamp.IsZero())
}

func TestSeveralHandlersSeeDataUnchanged(t *testing.T) {
	b := NewEventBus()
	defer b.Shutdown()
	var wg sync.WaitGroup
	wg.Add(3)
	for i := 0; i < 3; i++ {
		b.Subscribe(EventType("system.message"), func(e Event) {
			defer wg.Done()
			assert.Equal(t, "hello", e.Data["message"])
		})
	}
	b.Publish(Event{Type: EventType("system.message"), Data: map[string]interface{}{"message": "hello"}})
	wg.Wait()
}

func TestHundredPublishersTwoHandlers(t *testing.T) {
	b := NewEventBus()
	defer b.Shutdown()
	base := runtime.NumGoroutine()
	var n1, n2 atomic.Int64
	b.Subscribe(LogLine, func(Event) { time.Sleep(time.Microsecond); n1.Add(1) })
	b.Subscribe(LogLine, func(Event) { time.Sleep(time.Microsecond); n2.Add(1) })
	var wg sync.WaitGroup
	for p := 0; p < 100; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				b.Publish(Event{Type: LogLine})
			}
		}()
	}
	wg.Wait()
	// Only the publishers themselves were added; they have returned. (The
	// slack: runtime.NumGoroutine may overcount by a few batches of 32
	// while goroutines exit on other Ps; a goroutine per event would add
	// thousands.)
	assert.LessOrEqual(t, runtime.NumGoroutine(), base+100+64)
	waitIdle(t, b)
	assert.EqualValues(t, 10000, n1.Load())
	assert.EqualValues(t, 10000, n2.Load())
	assert.Zero(t, b.Metrics().EventsDropped)
}

func TestTenBusesLeaveNoGoroutines(t *testing.T) {
	for i := 0; i < 10; i++ {
		b := NewEventBus()
		b.Subscribe(LogLine, func(Event) {})
		b.Publish(Event{Type: LogLine})
		b.Shutdown()
	}
}

func TestSmallBufferBurstIsLossless(t *testing.T) {
	b := NewEventBusWithConfig(2, 5)
	defer b.Shutdown()
	var n atomic.Int64
	b.Subscribe(BuildEvent, func(Event) { time.Sleep(10 * time.Millisecond); n.Add(1) })
	for i := 0; i < 50; i++ {
		b.Publish(Event{Type: BuildEvent})
	}
	waitIdle(t, b)
	assert.EqualValues(t, 50, n.Load())
}
