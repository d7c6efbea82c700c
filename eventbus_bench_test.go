package eventbus

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// benchBus starts a bus for a benchmark with one no-op handler on LogLine.
func benchBus(b *testing.B, cfg Config) *EventBus {
	b.Helper()
	bus, err := NewEventBus(cfg)
	if err != nil {
		b.Fatal(err)
	}
	bus.Subscribe(LogLine, func(Event) {})
	b.Cleanup(bus.Shutdown)
	return bus
}

// finish waits for the bus to handle what the benchmark published and
// checks that nothing went missing.
func finish(b *testing.B, bus *EventBus) {
	b.Helper()
	if err := bus.WaitIdle(context.Background()); err != nil {
		b.Fatal(err)
	}
	m := bus.Metrics()
	if m.EventsPublished != m.EventsProcessed+m.EventsDropped {
		b.Fatalf("accounting: %+v", m)
	}
}

// publishAll publishes ev b.N times, timed, from one goroutine, and
// checks the accounting once the bus has handled them.
func publishAll(b *testing.B, bus *EventBus, ev Event) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bus.Publish(ev)
	}
	finish(b, bus)
}

// BenchmarkPublish measures the cost of one Publish, handling included:
// the Block policy makes publishers wait for the workers, so ns/op is the
// bus's sustained cost per event and allocs/op its allocations per event.
// "serial" has one publisher; "parallel" one per GOMAXPROCS (b.RunParallel).
func BenchmarkPublish(b *testing.B) {
	for _, mon := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.BackpressureMode = Block
		cfg.MonitoringEnabled = mon
		name := "monitoring=" + strconv.FormatBool(mon)
		b.Run(name+"/serial", func(b *testing.B) {
			bus := benchBus(b, cfg)
			publishAll(b, bus, Event{Type: LogLine})
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			bus := benchBus(b, cfg)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ev := Event{Type: LogLine}
				for pb.Next() {
					bus.Publish(ev)
				}
			})
			finish(b, bus)
		})
	}
}

// BenchmarkPublishPreset publishes events that already carry an ID and a
// Timestamp, as a bridge that forwards events does: no allocation is left.
func BenchmarkPublishPreset(b *testing.B) {
	cfg := DefaultConfig()
	cfg.BackpressureMode = Block
	bus := benchBus(b, cfg)
	publishAll(b, bus, Event{ID: "fixed", Type: LogLine, Timestamp: clockBase})
}

// BenchmarkPublishRetained measures what retention adds to a publish:
// "off" retains nothing; "other" retains a type other than the one
// published (each publish still reads its ID's sequence number); "same"
// retains the published type in a ring of 1,000 (a copy of the ID, and a
// place in the ring). The ring is full before the timer starts.
func BenchmarkPublishRetained(b *testing.B) {
	for _, c := range []struct {
		name   string
		retain map[EventType]int
	}{
		{"off", nil},
		{"other", map[EventType]int{BuildEvent: 1000}},
		{"same", map[EventType]int{LogLine: 1000}},
	} {
		b.Run(c.name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.BackpressureMode = Block
			cfg.Retain = c.retain
			bus := benchBus(b, cfg)
			for i := 0; i < 2000; i++ {
				bus.Publish(Event{Type: LogLine})
			}
			publishAll(b, bus, Event{Type: LogLine})
		})
	}
}

// BenchmarkPublishDrop measures a publish that the default policy refuses
// at once: the cost a flooding publisher pays when the queue is full.
func BenchmarkPublishDrop(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Workers, cfg.QueueSize = 1, 1
	bus, err := NewEventBus(cfg)
	if err != nil {
		b.Fatal(err)
	}
	block := make(chan struct{})
	bus.Subscribe(LogLine, func(Event) { <-block })
	bus.Publish(Event{Type: LogLine}) // holds the worker
	bus.Publish(Event{Type: LogLine}) // fills the queue
	ev := Event{ID: "x", Type: LogLine, Timestamp: clockBase}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bus.Publish(ev)
	}
	b.StopTimer()
	close(block)
	bus.Shutdown()
}

// BenchmarkOrdering compares the cost per event with ordering off and on:
// 64 keys (a dev server's processes), and one key (everything serialised).
// Four publishers, a no-op handler, the Block policy so nothing is dropped.
func BenchmarkOrdering(b *testing.B) {
	for _, c := range []struct {
		name string
		keys int
	}{{"off", 0}, {"keys=64", 64}, {"keys=1", 1}} {
		b.Run(c.name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.BackpressureMode = Block
			cfg.MonitoringEnabled = false
			if c.keys > 0 {
				cfg.OrderingKey = OrderByProcessID
			}
			bus := benchBus(b, cfg)
			keys := make([]string, max(c.keys, 1))
			for i := range keys {
				keys[i] = "proc-" + strconv.Itoa(i)
			}
			b.ReportAllocs()
			b.SetParallelism(2) // 4 publishers on this 2-CPU machine
			b.ResetTimer()
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := keys[next.Add(1)%int64(len(keys))]
					bus.Publish(Event{Type: LogLine, ProcessID: k})
				}
			})
			finish(b, bus)
		})
	}
}

// BenchmarkReservedWorkers measures what keeping one worker from Low events
// costs them when only Low events are queued: 5 workers, handlers blocked
// 1 ms (I/O-bound), 500 Low events per op, reported as events/s.
func BenchmarkReservedWorkers(b *testing.B) {
	for _, reserved := range []int{-1, 1} {
		b.Run("reserved="+strconv.Itoa(max(reserved, 0)), func(b *testing.B) {
			cfg := Config{Workers: 5, QueueSize: 500, EnablePriority: true,
				BackpressureMode: Block, ReservedWorkers: reserved}
			bus, err := NewEventBus(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(bus.Shutdown)
			bus.Subscribe(LogLine, func(Event) { time.Sleep(time.Millisecond) })
			const batch = 500
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				for j := 0; j < batch; j++ {
					bus.Publish(Event{Type: LogLine})
				}
				if err := bus.WaitIdle(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkFanOut publishes to 8 no-op subscriptions per event, handling
// included (Block policy), from one publisher per CPU, and reports handler
// calls per second: with all eight healthy, and with one of them stuck
// behind WithConcurrency(1) and a small DropOldest buffer, whose
// deliveries then wait or are dropped without holding anyone up. ns/op is
// per event.
func BenchmarkFanOut(b *testing.B) {
	for _, stuck := range []bool{false, true} {
		b.Run("stuck="+strconv.FormatBool(stuck), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.BackpressureMode = Block
			bus, err := NewEventBus(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer bus.Shutdown()
			release := make(chan struct{})
			defer close(release)
			healthy := 8
			if stuck {
				healthy = 7
				bus.On(LogLine, func(Event) { <-release }, WithConcurrency(1), WithBuffer(16, DropOldest))
			}
			var calls atomic.Int64
			done := make(chan struct{})
			want := int64(b.N * healthy)
			for i := 0; i < healthy; i++ {
				bus.On(LogLine, func(Event) {
					if calls.Add(1) == want {
						close(done)
					}
				})
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				ev := Event{Type: LogLine}
				for pb.Next() {
					bus.Publish(ev)
				}
			})
			<-done // the healthy subscriptions got every event
			b.ReportMetric(float64(want)/time.Since(start).Seconds(), "calls/s")
		})
	}
}

// BenchmarkPublishFanOut measures the publish path alone for an event with
// 8 subscriptions: the workers are all held, so a publish only routes the
// event and queues it. It does not depend on how the subscriptions fare:
// with one of them stuck (its buffer full), a publish costs the same. (The
// queue grows to hold every event here, so each one takes a new flight;
// on a bus whose events get handled, flights are reused and publishing
// allocates nothing.)
func BenchmarkPublishFanOut(b *testing.B) {
	for _, stuck := range []bool{false, true} {
		b.Run("stuck="+strconv.FormatBool(stuck), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.QueueSize = b.N + 1
			bus, err := NewEventBus(cfg)
			if err != nil {
				b.Fatal(err)
			}
			release := make(chan struct{})
			started := make(chan struct{}, cfg.Workers)
			bus.On("hold", func(Event) { started <- struct{}{}; <-release })
			first := 0
			if stuck {
				first = 1
				bus.On(LogLine, func(Event) { <-release }, WithConcurrency(1), WithBuffer(16, DropOldest))
			}
			for i := first; i < 8; i++ {
				bus.On(LogLine, func(Event) {})
			}
			if stuck {
				for i := 0; i < 20; i++ { // the stuck one's buffer is full
					bus.Publish(Event{Type: LogLine})
				}
			}
			for i := first; i < cfg.Workers; i++ { // the stuck one holds a worker
				_ = bus.PublishWithBackpressure(Event{Type: "hold"}, PriorityHigh)
				<-started
			}
			ev := Event{Type: LogLine}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bus.Publish(ev)
			}
			b.StopTimer()
			close(release)
			bus.Shutdown()
		})
	}
}
