package eventbus

import (
	"context"
	"strconv"
	"testing"
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
			ev := Event{Type: LogLine}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bus.Publish(ev)
			}
			finish(b, bus)
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
	ev := Event{ID: "fixed", Type: LogLine}
	ev.Timestamp = clockBase
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bus.Publish(ev)
	}
	finish(b, bus)
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
