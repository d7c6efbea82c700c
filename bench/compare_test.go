package bench

import (
	"flag"
	"testing"
)

// The benchmarks run the scenarios of cmd/compare in this process, one
// sub-benchmark per implementation (BenchmarkThroughput/impl=ants, ...),
// so that benchstat can compare runs. Throughput and Publish publish b.N
// events; the other scenarios are fixed-size runs, b.N of them, and report
// the median of their figures. The sizes can be changed with these flags,
// for example
//
//	go test -bench Burst -cmp.burst 100000 -cmp.burst-window 2s
var (
	flagIOEvents   = flag.Int("cmp.io-events", DefaultConfig().IOEvents, "BenchmarkIOBound: events per run")
	flagFloodDur   = flag.Duration("cmp.flood-duration", DefaultConfig().FloodDuration, "BenchmarkFlood: duration of a run")
	flagFloodFact  = flag.Float64("cmp.flood-factor", DefaultConfig().FloodFactor, "BenchmarkFlood: log-line rate as a multiple of the pool's capacity")
	flagBurst      = flag.Int("cmp.burst", DefaultConfig().BurstEvents, "BenchmarkBurst: events per run")
	flagBurstUnb   = flag.Int("cmp.burst-unbounded", DefaultConfig().BurstEventsUnbounded, "BenchmarkBurst: events for naive, asaskevich and brummer-today (0: same)")
	flagBurstWin   = flag.Duration("cmp.burst-window", DefaultConfig().BurstWindow, "BenchmarkBurst: publishers stop after this long")
	flagShutdownDL = flag.Duration("cmp.shutdown-deadline", DefaultConfig().ShutdownDeadline, "BenchmarkBurst: deadline given to Close")
)

func benchConfig() Config {
	c := DefaultConfig()
	c.IOEvents = *flagIOEvents
	c.FloodDuration = *flagFloodDur
	c.FloodFactor = *flagFloodFact
	c.BurstEvents = *flagBurst
	c.BurstEventsUnbounded = *flagBurstUnb
	c.BurstWindow = *flagBurstWin
	c.ShutdownDeadline = *flagShutdownDL
	return c
}

// metric is a Result key reported under a benchmark unit.
type metric struct{ key, unit string }

// eachImpl runs fn as a sub-benchmark per implementation.
func eachImpl(b *testing.B, fn func(b *testing.B, im Impl)) {
	for _, im := range Impls {
		b.Run("impl="+im.Name, func(b *testing.B) { fn(b, im) })
	}
}

func report(b *testing.B, res Result, ms []metric) {
	for _, m := range ms {
		if v, ok := res[m.key]; ok {
			b.ReportMetric(v, m.unit)
		}
	}
}

// BenchmarkThroughput: 4 publishers, one no-op handler, b.N events; ns/op
// and allocs/op are per event, measured from the first publish until the
// last delivery (setup excluded).
func BenchmarkThroughput(b *testing.B) {
	eachImpl(b, func(b *testing.B, im Impl) {
		cfg := DefaultConfig()
		cfg.ThroughputEvents = b.N
		b.ReportAllocs()
		res, err := Throughput(cfg, im)
		if err != nil {
			b.Fatal(err)
		}
		report(b, res, []metric{
			{KeyNsPerEvent, "ns/op"},
			{KeyAllocsPerEvent, "allocs/op"},
			{KeyEventsPerSec, "events/s"},
			{KeyPeakGoroutines, "peak-goroutines"},
		})
	})
}

// BenchmarkFanOut: 4 publishers, 8 no-op handlers per event, b.N events;
// ns/op is per event, calls/s counts handler calls.
func BenchmarkFanOut(b *testing.B) {
	eachImpl(b, func(b *testing.B, im Impl) {
		cfg := DefaultConfig()
		cfg.FanOutEvents = b.N
		b.ReportAllocs()
		res, err := FanOut(cfg, im)
		if err != nil {
			b.Fatal(err)
		}
		report(b, res, []metric{
			{KeyNsPerEvent, "ns/op"},
			{KeyAllocsPerEvent, "allocs/op"},
			{KeyCallsPerSec, "calls/s"},
		})
	})
}

// BenchmarkPublish: one publisher, one no-op handler, b.N events; ns/op is
// the time inside Publish per event.
func BenchmarkPublish(b *testing.B) {
	eachImpl(b, func(b *testing.B, im Impl) {
		cfg := DefaultConfig()
		cfg.PublishEvents = b.N
		b.ReportAllocs()
		res, err := PublishCost(cfg, im)
		if err != nil {
			b.Fatal(err)
		}
		report(b, res, []metric{
			{KeyNsPerPublish, "ns/op"},
			{KeyAllocsPerEvent, "allocs/op"},
			{KeyNsPerEvent, "ns/delivered-event"},
			{KeyPeakGoroutines, "peak-goroutines"},
		})
	})
}

// runs runs a fixed-size scenario b.N times and reports the median.
func runs(b *testing.B, run func(Config, Impl) (Result, error), ms []metric) {
	eachImpl(b, func(b *testing.B, im Impl) {
		cfg := benchConfig()
		var all []Result
		for range b.N {
			res, err := run(cfg, im)
			if err != nil {
				b.Fatal(err)
			}
			all = append(all, res)
		}
		report(b, Median(all), ms)
	})
}

// BenchmarkIOBound: 8 publishers, a handler that sleeps 1ms; one op is a
// run of -cmp.io-events events.
func BenchmarkIOBound(b *testing.B) {
	runs(b, IOBound, []metric{
		{KeyWallMs, "wall-ms"},
		{KeyHandlerMs, "handler-ms"},
		{KeyPeakGoroutines, "peak-goroutines"},
		{KeyPeakHeap, "peak-heap-MiB"},
		{KeyMemGrowth, "mem-growth-MiB"},
	})
}

// BenchmarkFlood: the priority flood; one op is a run of
// -cmp.flood-duration.
func BenchmarkFlood(b *testing.B) {
	runs(b, Flood, []metric{
		{KeyHighP50, "p50-wait-ms"},
		{KeyHighP99, "p99-wait-ms"},
		{KeyHighMax, "max-wait-ms"},
		{KeyHighLower, "wait-is-lower-bound"},
		{KeyHandlerMs, "handler-ms"},
		{KeyLowPublished, "low-published"},
		{KeyLowDropped, "low-dropped"},
		{KeyAbandoned, "unfinished"},
		{KeyMaxPublishMs, "max-publish-ms"},
		{KeyPeakGoroutines, "peak-goroutines"},
	})
}

// BenchmarkBurst: the burst and the shutdown after it; one op is a run.
func BenchmarkBurst(b *testing.B) {
	runs(b, Burst, []metric{
		{KeyPublished, "published"},
		{KeyEndQueued, "end-queued"},
		{KeyDropped, "dropped"},
		{KeyAbandoned, "unfinished"},
		{KeyPeakGoroutines, "peak-goroutines"},
		{KeyPeakHeap, "peak-heap-MiB"},
		{KeyMemGrowth, "mem-growth-MiB"},
		{KeyShutdownMs, "shutdown-ms"},
		{KeyShutdownFinished, "shutdown-finished"},
	})
}
