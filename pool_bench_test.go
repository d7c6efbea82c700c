package eventbus

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

// largePoolSizes are the worker counts of the large-pool benchmarks: from
// a pool sized for CPU-bound handlers to WorkerLimit, for handlers that
// mostly wait.
var largePoolSizes = []int{64, 256, 512, 1024, WorkerLimit}

// BenchmarkLargePools publishes b.N events into 1 ms handlers (time.Sleep,
// as for a handler waiting on I/O) from 8 publishers under Block, on pools
// of 64 to WorkerLimit workers, and reports events/s. With handlers that wait,
// throughput should grow with the pool until the CPUs are busy with
// dispatch, then stay flat: a pool must never get slower as it grows.
// Run it with -benchtime 200000x for the README's figures.
func BenchmarkLargePools(b *testing.B) {
	for _, n := range largePoolSizes {
		b.Run("workers="+strconv.Itoa(n), func(b *testing.B) {
			bus, err := NewEventBus(Config{Workers: n, BackpressureMode: Block, EnablePriority: true})
			if err != nil {
				b.Fatal(err)
			}
			defer bus.Shutdown()
			bus.Subscribe("io", func(Event) { time.Sleep(time.Millisecond) })
			waitParked(b, bus, n) // starting the goroutines is not what is measured
			const publishers = 8
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for p := 0; p < publishers; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ev := Event{Type: "io"}
					for i := p; i < b.N; i += publishers {
						bus.Publish(ev)
					}
				}()
			}
			wg.Wait()
			finish(b, bus)
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkLargePoolOps times what a program does to a large pool besides
// publishing: starting it, reading its Metrics, and shrinking it to one
// worker. Each is O(workers) at most, never worse.
func BenchmarkLargePoolOps(b *testing.B) {
	for _, n := range largePoolSizes {
		cfg := Config{Workers: n, MonitoringEnabled: true, EnablePriority: true}
		b.Run("op=start/workers="+strconv.Itoa(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				bus, err := NewEventBus(cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				bus.Shutdown()
				b.StartTimer()
			}
		})
		b.Run("op=metrics/workers="+strconv.Itoa(n), func(b *testing.B) {
			bus, err := NewEventBus(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer bus.Shutdown()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_ = bus.Metrics()
			}
		})
		b.Run("op=resize1/workers="+strconv.Itoa(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				bus, err := NewEventBus(cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := bus.Resize(1); err != nil {
					b.Fatal(err)
				}
				// Shrinking is done when the workers asked to leave have
				// left: wait for it, within the timed part.
				deadline := time.Now().Add(time.Minute)
				for bus.pool.live.Load() > 1 && time.Now().Before(deadline) {
					time.Sleep(50 * time.Microsecond)
				}
				b.StopTimer()
				bus.Shutdown()
				b.StartTimer()
			}
		})
	}
}

// waitParked waits until n workers of bus are parked, waiting for work.
func waitParked(b *testing.B, bus *EventBus, n int) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		bus.q.mu.Lock()
		idle := bus.q.idle
		bus.q.mu.Unlock()
		if idle >= n {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
	b.Fatalf("%d workers did not park within a minute", n)
}
