package eventbus

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSizing measures how throughput and latency change with the
// worker count, for three kinds of handler:
//
//   - cpu: about 20µs of computation (a hash loop calibrated on the machine
//     at the start), 2,000 events per batch;
//   - io: 1ms blocked in time.Sleep, standing for a call that waits on a
//     disk or the network, 500 events per batch;
//   - mixed: 70% io and 30% cpu events, chosen by the event's sequence
//     number (seq%10 < 7 is io), 500 events per batch.
//
// Each iteration publishes one batch from sizingBenchPublishers goroutines
// to a bus with the Block policy (so nothing is dropped), waits for it with
// WaitIdle, and checks afterwards that every published event was processed.
// Besides ns/op (the time of one batch) it reports events/s and
// p99-latency-ms: the 99th percentile, over every event of every iteration,
// of the time from just before Publish to the end of the handler. Under
// Block a publisher waits for room, so that time includes the wait for the
// queue as well as the wait in it.
//
//	go test -run '^$' -bench Sizing -benchtime 3x .
func BenchmarkSizing(b *testing.B) {
	spin := sizingBenchCalibrate()
	b.Logf("cpu work: %d hash rounds ≈ %v", spin, sizingBenchCPUWork)
	cpu := func(int) { sizingBenchSink.Add(sizingBenchHash(spin)) }
	io := func(int) { time.Sleep(sizingBenchIOWork) }
	for _, p := range []sizingBenchProfile{
		{name: "cpu", batch: 2000, work: cpu},
		{name: "io", batch: 500, work: io},
		{name: "mixed", batch: 500, work: func(seq int) {
			if seq%10 < 7 {
				io(seq)
			} else {
				cpu(seq)
			}
		}},
	} {
		for _, workers := range []int{1, 2, 4, 5, 8, 10, 16, 32, 64} {
			b.Run(fmt.Sprintf("%s/workers=%d", p.name, workers), func(b *testing.B) {
				sizingBenchRun(b, p, workers)
			})
		}
	}
}

const (
	sizingBenchType       EventType = "bench.sizing"
	sizingBenchPublishers           = 4
	sizingBenchCPUWork              = 20 * time.Microsecond
	sizingBenchIOWork               = time.Millisecond
)

// sizingBenchProfile is one kind of handler: work(seq) is the work done
// for the event with sequence number seq, 0..batch-1.
type sizingBenchProfile struct {
	name  string
	batch int
	work  func(seq int)
}

// sizingBenchSink keeps the compiler from dropping the hash loop.
var sizingBenchSink atomic.Uint64

var (
	sizingBenchSpinOnce sync.Once
	sizingBenchSpin     int
)

// sizingBenchHash is the CPU work: n rounds of FNV-1a over the counter, a
// chain of dependent multiplications that touches no memory.
func sizingBenchHash(n int) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < n; i++ {
		h ^= uint64(i)
		h *= 1099511628211
	}
	return h
}

// sizingBenchCalibrate returns the number of sizingBenchHash rounds that
// take sizingBenchCPUWork on this machine, from the fastest of several
// timed runs (the others were slowed by something else). It measures once
// per process.
func sizingBenchCalibrate() int {
	sizingBenchSpinOnce.Do(func() {
		const rounds = 1 << 18
		best := time.Duration(math.MaxInt64)
		for i := 0; i < 15; i++ {
			start := time.Now()
			sizingBenchSink.Add(sizingBenchHash(rounds))
			best = min(best, time.Since(start))
		}
		best = max(best, time.Microsecond)
		sizingBenchSpin = max(int(int64(rounds)*int64(sizingBenchCPUWork)/int64(best)), 1)
	})
	return sizingBenchSpin
}

func sizingBenchRun(b *testing.B, p sizingBenchProfile, workers int) {
	cfg := DefaultConfig()
	cfg.Workers = workers
	cfg.QueueSize = workers * 10
	cfg.BackpressureMode = Block
	bus, err := NewEventBus(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Shutdown()

	// The events are built once; each publish sends a copy with its own
	// Timestamp. Handlers only read Data.
	events := make([]Event, p.batch)
	for i := range events {
		events[i] = Event{Type: sizingBenchType, Data: map[string]interface{}{"seq": i}}
	}
	// latency[iteration*batch+seq] is the latency of that event, written by
	// the one handler invocation of the event and read after WaitIdle.
	latency := make([]time.Duration, b.N*p.batch)
	var base atomic.Int64 // iteration*batch of the current iteration
	bus.On(sizingBenchType, func(ev Event) {
		seq := ev.Data["seq"].(int)
		p.work(seq)
		latency[base.Load()+int64(seq)] = time.Since(ev.Timestamp)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		base.Store(int64(i * p.batch))
		var wg sync.WaitGroup
		for pub := 0; pub < sizingBenchPublishers; pub++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for seq := pub; seq < p.batch; seq += sizingBenchPublishers {
					ev := events[seq]
					ev.Timestamp = time.Now()
					bus.Publish(ev)
				}
			}()
		}
		wg.Wait()
		if err := bus.WaitIdle(ctx); err != nil {
			b.Fatalf("WaitIdle: %v", err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()

	m := bus.Metrics()
	want := int64(b.N * p.batch)
	if m.EventsPublished != want || m.EventsProcessed != want || m.EventsDropped != 0 {
		b.Fatalf("published %d, processed %d, dropped %d; want %d published and processed, none dropped",
			m.EventsPublished, m.EventsProcessed, m.EventsDropped, want)
	}
	b.ReportMetric(float64(want)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(sizingBenchP99(latency))/float64(time.Millisecond), "p99-latency-ms")
}

// sizingBenchP99 returns the 99th percentile of d (nearest rank). It sorts
// d.
func sizingBenchP99(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	rank := int(math.Ceil(0.99*float64(len(d)))) - 1
	return d[min(max(rank, 0), len(d)-1)]
}
