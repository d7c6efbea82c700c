package eventbus

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkDynamicSizing runs one bursty load (quiet, a burst of 5,000
// events into a 1 ms handler from 8 publishers, quiet again) on a static
// pool of MinWorkers, a static pool of MaxWorkers and a dynamic pool
// between them, and reports per run: the p99 wait of the burst's events
// (publish to handler start, blocked time included), the time the burst
// took, and the goroutines of the process averaged over the whole run.
func BenchmarkDynamicSizing(b *testing.B) {
	const (
		minW, maxW = 2, 64
		burst      = 5_000
		quietAfter = 600 * time.Millisecond
	)
	pools := []struct {
		name string
		cfg  Config
	}{
		{"static-min", Config{Workers: minW}},
		{"static-max", Config{Workers: maxW}},
		{"dynamic", Config{MinWorkers: minW, MaxWorkers: maxW,
			ScaleInterval: 2 * time.Millisecond, IdleTimeout: 100 * time.Millisecond}},
	}
	for _, p := range pools {
		b.Run(p.name, func(b *testing.B) {
			var p99, burstTime, goroutines float64
			for i := 0; i < b.N; i++ {
				cfg := p.cfg
				cfg.QueueSize = 1000
				cfg.BackpressureMode = Block
				r := runBurst(b, cfg, burst, quietAfter)
				p99 += r.p99.Seconds() * 1000
				burstTime += r.burst.Seconds() * 1000
				goroutines += r.avgGoroutines
			}
			n := float64(b.N)
			b.ReportMetric(p99/n, "burst-p99-ms")
			b.ReportMetric(burstTime/n, "burst-ms")
			b.ReportMetric(goroutines/n, "avg-goroutines")
		})
	}
}

type burstResult struct {
	p99           time.Duration
	burst         time.Duration
	avgGoroutines float64
}

func runBurst(b *testing.B, cfg Config, events int, quietAfter time.Duration) burstResult {
	bus, err := NewEventBus(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Shutdown()
	// Each handler notes its event's wait exactly; the bus's own histogram
	// is only exact to a factor of two.
	waits := make([]time.Duration, events)
	var n atomic.Int64
	bus.Subscribe(BuildEvent, func(ev Event) {
		waits[n.Add(1)-1] = time.Since(ev.Timestamp)
		time.Sleep(time.Millisecond)
	})

	// Sample the goroutine count every millisecond over the whole run.
	var samples, sum int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				samples++
				sum += int64(runtime.NumGoroutine())
			}
		}
	}()
	quiet := time.NewTimer(quietAfter / 3)
	<-quiet.C

	start := time.Now()
	var wg sync.WaitGroup
	for p := 0; p < 8; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < events/8; i++ {
				bus.Publish(Event{Type: BuildEvent})
			}
		}()
	}
	wg.Wait()
	if err := bus.WaitIdle(context.Background()); err != nil {
		b.Fatal(err)
	}
	burst := time.Since(start)
	got := waits[:n.Load()]
	slices.Sort(got)
	p99 := got[len(got)*99/100]

	quiet.Reset(quietAfter)
	<-quiet.C
	close(stop)
	<-sampled
	return burstResult{p99: p99, burst: burst, avgGoroutines: float64(sum) / float64(max(samples, 1))}
}
