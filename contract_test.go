package eventbus

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests restate what Brummer's own tests expect of its bus, through
// the three methods it compiles against.

func TestBrummerManyPublishersTwoSlowHandlers(t *testing.T) {
	const publishers, each = 100, 100
	cfg := DefaultConfig()
	cfg.BackpressureMode = Block // Brummer's wrapper asks for a lossless bus
	b := newBus(t, cfg)
	var h1, h2 atomic.Int64
	b.Subscribe(LogLine, func(Event) { time.Sleep(time.Microsecond); h1.Add(1) })
	b.Subscribe(LogLine, func(Event) { time.Sleep(time.Microsecond); h2.Add(1) })

	base := runtime.NumGoroutine()
	var peak atomic.Int64
	var wg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				b.Publish(Event{Type: LogLine, Data: map[string]interface{}{"line": i}})
				if i%20 == 0 {
					n := int64(runtime.NumGoroutine())
					for cur := peak.Load(); n > cur && !peak.CompareAndSwap(cur, n); cur = peak.Load() {
					}
				}
			}
		}()
	}
	wg.Wait()
	waitIdle(t, b)
	assert.EqualValues(t, publishers*each, h1.Load())
	assert.EqualValues(t, publishers*each, h2.Load())
	// The publishers themselves are goroutines of the test; the bus adds
	// none beyond its workers and sampler, whatever the load.
	assert.LessOrEqual(t, peak.Load(), int64(base+publishers+goroutineCountSlack))
	requireAccounted(t, b)
}

func TestBrummerSmallBufferBurstIsLossless(t *testing.T) {
	b := newBus(t, Config{Workers: 2, QueueSize: 5, BackpressureMode: Block})
	var handled atomic.Int64
	b.Subscribe(ProcessStarted, func(Event) { time.Sleep(10 * time.Millisecond); handled.Add(1) })
	for i := 0; i < 50; i++ {
		b.Publish(Event{Type: ProcessStarted})
	}
	waitIdle(t, b)
	assert.EqualValues(t, 50, handled.Load())
	m := requireAccounted(t, b)
	assert.Zero(t, m.EventsDropped)
}

func TestBrummerHandlerPanicOnClosedChannel(t *testing.T) {
	// An MCP session's handler sends on a channel the session closed; the
	// panic is contained and the other sessions keep receiving.
	var panics atomic.Int32
	b := newBus(t, Config{Workers: 2, OnPanic: func(Event, any, []byte) { panics.Add(1) }})
	closed := make(chan Event)
	close(closed)
	b.Subscribe(LogLine, func(ev Event) { closed <- ev })
	live := make(chan Event, 10)
	b.Subscribe(LogLine, func(ev Event) { live <- ev })
	for i := 0; i < 10; i++ {
		b.Publish(Event{Type: LogLine})
	}
	waitIdle(t, b)
	assert.Len(t, live, 10)
	assert.EqualValues(t, 10, panics.Load())
}

// The design research's load table, as counts and goroutine bounds rather
// than wall-clock times: every event is accounted for, and the bus never
// runs more goroutines than its workers and its sampler.
func TestLoadTable(t *testing.T) {
	cases := []struct {
		name                  string
		workers, queue        int
		events, publishers    int
		policy                DropPolicy
		wantAllHandled        bool
		handlerSleepsEveryNth int
	}{
		{"Small", 2, 20, 1000, 10, Block, true, 0},
		{"Medium", 4, 40, 10000, 50, Block, true, 0},
		{"Heavy", 8, 80, 100000, 100, DropLowPri, false, 0},
		{"Burst", 4, 200, 50000, 500, DropLowPri, false, 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			events := c.events
			if raceEnabled && events > 20000 {
				events = 20000
			}
			base := runtime.NumGoroutine()
			b := newBus(t, Config{Workers: c.workers, QueueSize: c.queue, BackpressureMode: c.policy,
				EnablePriority: true, MonitoringEnabled: true})
			var handled atomic.Int64
			b.Subscribe(LogLine, func(Event) {
				if n := handled.Add(1); c.handlerSleepsEveryNth > 0 && n%int64(c.handlerSleepsEveryNth) == 0 {
					time.Sleep(time.Millisecond)
				}
			})
			var wg sync.WaitGroup
			var peak atomic.Int64
			per := events / c.publishers
			for p := 0; p < c.publishers; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < per; i++ {
						b.Publish(Event{Type: LogLine})
					}
					n := int64(runtime.NumGoroutine())
					for cur := peak.Load(); n > cur && !peak.CompareAndSwap(cur, n); cur = peak.Load() {
					}
				}()
			}
			wg.Wait()
			waitIdle(t, b)
			m := requireAccounted(t, b)
			require.EqualValues(t, per*c.publishers, m.EventsPublished)
			assert.Equal(t, handled.Load(), m.EventsProcessed)
			if c.wantAllHandled {
				assert.Zero(t, m.EventsDropped)
			}
			assert.LessOrEqual(t, peak.Load(), int64(base+c.publishers+c.workers+1+goroutineCountSlack))
			b.Shutdown()
			assert.Zero(t, b.pool.live.Load(), "Shutdown stops every worker")
		})
	}
}
