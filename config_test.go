package eventbus

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzConfig checks that any Config gives either a clear error or a
// working bus: never a panic, a hang or a lost event.
func FuzzConfig(f *testing.F) {
	f.Add(0, 0, false, 0, false, int64(0), int64(0), int64(0), 0, int64(0), 0, 0, false, 2, false)
	f.Add(2, 1, true, 3, true, int64(time.Millisecond), int64(0), int64(time.Millisecond), 1, int64(time.Millisecond), 1, 1, true, 1, true)
	f.Add(-1, 5, true, 1, false, int64(-5), int64(-1), int64(0), -3, int64(0), -2, -1, false, 0, false)
	f.Add(3, 4, true, 9, true, int64(1), int64(time.Millisecond), int64(1), 0, int64(1), 2, 0, true, 4, true)
	f.Fuzz(func(t *testing.T, workers, queue int, prio bool, policy int, mon bool, window, timeout, shutdown int64,
		starvation int, handlerTimeout int64, reserved, maxStuck int, replace bool, override int, ordered bool) {
		if workers > 256 {
			workers %= 256 // larger pools only cost time; validation of the bound is a table test
		}
		var drops atomic.Int64
		cfg := Config{
			Workers: workers, QueueSize: queue % 4096, EnablePriority: prio, BackpressureMode: DropPolicy(policy),
			MonitoringEnabled: mon, MetricsWindow: time.Duration(window), TimeoutDuration: time.Duration(timeout % int64(time.Second)),
			ShutdownTimeout: time.Duration(shutdown % int64(time.Second)), StarvationLimit: starvation,
			HandlerTimeout: time.Duration(handlerTimeout), ReservedWorkers: reserved, MaxStuckWorkers: maxStuck,
			ReplaceStuckWorkers: replace, Priorities: map[EventType]Priority{LogLine: Priority(override)},
			OnDrop: func(Event, error) { drops.Add(1) },
		}
		if ordered {
			cfg.OrderingKey = OrderByProcessID
		}
		b, err := NewEventBus(cfg)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.Nil(t, b)
			return
		}
		var handled atomic.Int64
		b.Subscribe(LogLine, func(Event) { handled.Add(1) })
		b.Subscribe(ProcessExited, func(Event) { handled.Add(1) })
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for i := 0; i < 20; i++ {
			typ := LogLine
			if i%3 == 0 {
				typ = ProcessExited
			}
			_ = b.PublishContext(ctx, Event{Type: typ, ProcessID: "p"})
		}
		require.NoError(t, b.ShutdownContext(context.Background()))
		m := b.Metrics()
		require.EqualValues(t, 20, m.EventsPublished)
		require.Equal(t, m.EventsPublished, m.EventsProcessed+m.EventsDropped, "%+v", m)
		require.Equal(t, m.EventsProcessed, handled.Load())
		require.Equal(t, m.EventsDropped, drops.Load())
	})
}
