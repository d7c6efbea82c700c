package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/brummer-dev/eventbus"
)

// Result holds the figures of one run, by key (the Key constants).
type Result map[string]float64

// The keys of Result.
const (
	KeyEvents         = "events"           // events the scenario meant to publish
	KeyPublished      = "published"        // events actually published
	KeyDelivered      = "delivered"        // handler ran
	KeyDropped        = "dropped"          // the bus discarded them
	KeyAbandoned      = "abandoned"        // the harness gave up on them at a deadline
	KeyEventsPerSec   = "events_per_s"     // published / time until all were delivered
	KeyNsPerEvent     = "ns_per_event"     // time until all were delivered / published
	KeyNsPerPublish   = "ns_per_publish"   // time inside the publish loop / published
	KeyAllocsPerEvent = "allocs_per_event" // runtime.MemStats.Mallocs delta / published
	KeyWallMs         = "wall_ms"          // from the first publish until all were delivered
	KeyPublishMs      = "publish_ms"       // from the first publish until every publisher returned
	KeyHandlerMs      = "handler_ms"       // the blocking handler's observed mean time

	KeyPeakGoroutines = "peak_goroutines" // goroutines above the harness's own
	KeyPeakHeap       = "peak_heap_mib"   // HeapInuse
	KeyPeakStack      = "peak_stack_mib"  // StackInuse
	KeyHeapGrowth     = "heap_growth_mib" // peak HeapInuse - HeapInuse before the bus
	KeyMemGrowth      = "mem_growth_mib"  // the same for HeapInuse + StackInuse

	KeyHighPublished = "high_published"
	KeyHighDelivered = "high_delivered"
	KeyHighDropped   = "high_dropped"
	KeyHighAbandoned = "high_abandoned"
	KeyHighP50       = "high_p50_ms"
	KeyHighP99       = "high_p99_ms"
	KeyHighMax       = "high_max_ms"
	KeyHighLower     = "high_lower_bound" // 1 when the wait figures are lower bounds
	KeyLowPublished  = "low_published"
	KeyLowDelivered  = "low_delivered"
	KeyLowDropped    = "low_dropped"
	KeyLowAbandoned  = "low_abandoned"
	KeyLowTarget     = "low_target" // log lines the flood meant to publish
	KeyMaxPublishMs  = "max_publish_ms"
	KeySlowPublishes = "slow_publishes" // publishes that took over 1ms

	KeyEndDelivered     = "end_delivered" // at the end of the burst
	KeyEndDropped       = "end_dropped"
	KeyEndQueued        = "end_queued"
	KeyShutdownMs       = "shutdown_ms"
	KeyShutdownFinished = "shutdown_finished" // 1 when it finished within deadline + grace
	KeyShutdownCapMs    = "shutdown_cap_ms"

	KeyBusHighP99      = "bus_high_p99_ms" // the library's own Metrics
	KeyBusAvgHandler   = "bus_avg_handler_ms"
	KeyBusDropFull     = "bus_drop_queue_full"
	KeyBusDropShutdown = "bus_drop_shutdown"
)

// slowPublish is the publish time above which a publisher counts as
// blocked.
const slowPublish = time.Millisecond

// publishers runs n goroutines, each calling fn with its index, and waits
// for them.
func publishers(n int, fn func(p int)) {
	var wg sync.WaitGroup
	wg.Add(n)
	for p := range n {
		go func() {
			defer wg.Done()
			fn(p)
		}()
	}
	wg.Wait()
}

// share returns publisher p's share of total events among n publishers.
func share(total, n, p int) int {
	s := total / n
	if p < total%n {
		s++
	}
	return s
}

// Throughput: cfg.ThroughputPublishers publishers publish
// cfg.ThroughputEvents log lines as fast as they can to one no-op handler.
// The library uses the Block policy, so every implementation delivers
// every event and events/s compares like with like.
func Throughput(cfg Config, impl Impl) (Result, error) {
	return lossless(cfg, impl, cfg.ThroughputEvents, cfg.ThroughputPublishers, nil)
}

// PublishCost: one publisher publishes cfg.PublishEvents events to one
// no-op handler; ns/publish is the time the publisher spends in Publish.
// The library uses the Block policy, as in Throughput.
func PublishCost(cfg Config, impl Impl) (Result, error) {
	return lossless(cfg, impl, cfg.PublishEvents, 1, nil)
}

// IOBound: cfg.IOPublishers publishers publish cfg.IOEvents events to
// a handler that sleeps cfg.Handler. The library uses the Block policy.
func IOBound(cfg Config, impl Impl) (Result, error) {
	var hc handlerClock
	res, err := lossless(cfg, impl, cfg.IOEvents, cfg.IOPublishers, sleeper(cfg.Handler, &hc))
	if err == nil {
		res[KeyHandlerMs] = ms(hc.mean())
	}
	return res, err
}

// poolEvent is the type the lossless scenarios publish. They measure the
// pool itself, which the peers have without priorities, so the library
// gets an event of the default (Medium) priority: a log line would run on
// all workers but the one the library reserves for higher priorities.
const poolEvent eventbus.EventType = "bench.event"

// lossless publishes events from npub publishers to one handler doing work
// and measures how long it takes until all are delivered.
func lossless(cfg Config, impl Impl, events, npub int, work func(eventbus.Event)) (Result, error) {
	r, err := newRun(cfg, impl, true)
	if err != nil {
		return nil, err
	}
	r.harnessG = npub
	r.bus.Subscribe(poolEvent, r.tally.Wrap(work))

	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	publishers(npub, func(p int) {
		ev := eventbus.Event{Type: poolEvent}
		for range share(events, npub, p) {
			r.bus.Publish(ev)
		}
	})
	pubDone := time.Since(start)
	if err := r.tally.settle(int64(events), cfg.SettleTimeout); err != nil {
		r.abort()
		return nil, fmt.Errorf("%s: %w", impl.Name, err)
	}
	wall := time.Since(start)
	runtime.ReadMemStats(&ms1)

	if _, err := r.shutdown(int64(events), cfg.ShutdownDeadline); err != nil {
		r.abort()
		return nil, err
	}
	n := float64(max(events, 1))
	res := Result{
		KeyEvents:         float64(events),
		KeyPublished:      float64(events),
		KeyEventsPerSec:   float64(events) / wall.Seconds(),
		KeyNsPerEvent:     float64(wall.Nanoseconds()) / n,
		KeyNsPerPublish:   float64(pubDone.Nanoseconds()) / n,
		KeyAllocsPerEvent: float64(ms1.Mallocs-ms0.Mallocs) / n,
		KeyWallMs:         ms(wall),
		KeyPublishMs:      ms(pubDone),
	}
	r.finish(res)
	return res, nil
}

// pubStats is what one flood or burst publisher saw.
type pubStats struct {
	published [numKinds]int64
	maxD      time.Duration
	slow      int64
}

func (s *pubStats) publish(bus Bus, ev eventbus.Event) {
	t0 := time.Now()
	ev.Timestamp = t0
	bus.Publish(ev)
	d := time.Since(t0)
	s.published[kindOf(ev.Type)]++
	if d > s.maxD {
		s.maxD = d
	}
	if d > slowPublish {
		s.slow++
	}
}

func mergePubStats(all []pubStats) (s pubStats) {
	for _, p := range all {
		for k := range p.published {
			s.published[k] += p.published[k]
		}
		s.maxD = max(s.maxD, p.maxD)
		s.slow += p.slow
	}
	return s
}

// Flood: log lines (low priority) arrive at cfg.FloodFactor times the
// capacity of the pool, from cfg.FloodPublishers publishers woken by
// tickers, and one process.exited (high priority) every
// cfg.FloodHighEvery, for cfg.FloodDuration; the handler sleeps
// cfg.Handler. The library runs its DefaultConfig (DropLowPri, no
// publisher wait). The figures: the wait of the high events from publish
// to handler start, what became of the low ones, and how long publishers
// spent inside Publish.
func Flood(cfg Config, impl Impl) (Result, error) {
	r, err := newRun(cfg, impl, false)
	if err != nil {
		return nil, err
	}
	var hc handlerClock
	var waits durations
	h := func(ev eventbus.Event) {
		start := time.Now()
		k := kindOf(ev.Type)
		abandoned := r.tally.abort.Load()
		if k == kindHigh {
			waits.add(start.Sub(ev.Timestamp), abandoned)
		}
		if abandoned {
			r.tally.abandoned[k].Add(1)
			return
		}
		time.Sleep(cfg.Handler)
		hc.add(time.Since(start))
		r.tally.delivered[k].Add(1)
	}
	r.bus.Subscribe(eventbus.LogLine, h)
	r.bus.Subscribe(eventbus.ProcessExited, h)

	npub := cfg.FloodPublishers + 1 // the last one publishes the high events
	r.harnessG = npub
	perTick := cfg.FloodRate() * cfg.FloodTick.Seconds() / float64(cfg.FloodPublishers)
	stats := make([]pubStats, npub)
	stop := make(chan struct{})
	time.AfterFunc(cfg.FloodDuration, func() { close(stop) })
	start := time.Now()
	publishers(npub, func(p int) {
		st := &stats[p]
		if p == cfg.FloodPublishers {
			t := time.NewTicker(cfg.FloodHighEvery)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					st.publish(r.bus, eventbus.Event{Type: eventbus.ProcessExited})
				}
			}
		}
		t := time.NewTicker(cfg.FloodTick)
		defer t.Stop()
		carry := 0.0
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				carry += perTick
				for ; carry >= 1; carry-- {
					st.publish(r.bus, eventbus.Event{Type: eventbus.LogLine})
				}
			}
		}
	})
	pubDone := time.Since(start)
	ps := mergePubStats(stats)
	published := ps.published[kindLow] + ps.published[kindHigh]

	sr, err := r.shutdown(published, cfg.FloodDrain)
	if err != nil {
		r.abort()
		return nil, err
	}
	if err := r.tally.Check(published, &ps.published); err != nil {
		r.abort()
		return nil, fmt.Errorf("%s: %w", impl.Name, err)
	}
	p50, p99, maxW, lower := waits.quantiles()
	t := r.tally
	res := Result{
		KeyEvents:           float64(published),
		KeyPublished:        float64(published),
		KeyPublishMs:        ms(pubDone),
		KeyHandlerMs:        ms(hc.mean()),
		KeyHighPublished:    float64(ps.published[kindHigh]),
		KeyHighDelivered:    float64(t.delivered[kindHigh].Load()),
		KeyHighDropped:      float64(t.dropped[kindHigh].Load()),
		KeyHighAbandoned:    float64(t.abandoned[kindHigh].Load()),
		KeyHighP50:          ms(p50),
		KeyHighP99:          ms(p99),
		KeyHighMax:          ms(maxW),
		KeyHighLower:        b2f(lower),
		KeyLowTarget:        cfg.FloodRate() * cfg.FloodDuration.Seconds(),
		KeyLowPublished:     float64(ps.published[kindLow]),
		KeyLowDelivered:     float64(t.delivered[kindLow].Load()),
		KeyLowDropped:       float64(t.dropped[kindLow].Load()),
		KeyLowAbandoned:     float64(t.abandoned[kindLow].Load()),
		KeyMaxPublishMs:     ms(ps.maxD),
		KeySlowPublishes:    float64(ps.slow),
		KeyShutdownMs:       ms(sr.took),
		KeyShutdownFinished: b2f(sr.finished),
		KeyShutdownCapMs:    ms(cfg.FloodDrain + cfg.Grace),
	}
	r.finish(res)
	return res, nil
}

// Burst: cfg.BurstPublishers publishers publish the burst (log lines) as
// fast as they can, for cfg.BurstWindow at most, into a handler that
// sleeps cfg.Handler; then the bus is closed with cfg.ShutdownDeadline.
// The library runs its DefaultConfig. The figures: goroutines and memory
// at their peak, what was delivered, dropped or still queued when the
// publishers were done, and how long the bus took to stop.
func Burst(cfg Config, impl Impl) (Result, error) {
	r, err := newRun(cfg, impl, false)
	if err != nil {
		return nil, err
	}
	var hc handlerClock
	r.bus.Subscribe(eventbus.LogLine, r.tally.Wrap(sleeper(cfg.Handler, &hc)))
	events := cfg.burstEvents(impl)
	npub := cfg.BurstPublishers
	r.harnessG = npub
	stats := make([]pubStats, npub)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.BurstWindow)
	defer cancel()
	start := time.Now()
	publishers(npub, func(p int) {
		st := &stats[p]
		done := ctx.Done()
		n := share(events, npub, p)
		for i := range n {
			if i&63 == 0 {
				select {
				case <-done:
					return
				default:
				}
			}
			st.publish(r.bus, eventbus.Event{Type: eventbus.LogLine})
		}
	})
	pubDone := time.Since(start)
	ps := mergePubStats(stats)
	published := ps.published[kindLow]
	endDelivered, endDropped := r.tally.Delivered(), r.tally.Dropped()

	sr, err := r.shutdown(published, cfg.ShutdownDeadline)
	if err != nil {
		r.abort()
		return nil, err
	}
	res := Result{
		KeyEvents:           float64(events),
		KeyPublished:        float64(published),
		KeyPublishMs:        ms(pubDone),
		KeyHandlerMs:        ms(hc.mean()),
		KeyEndDelivered:     float64(endDelivered),
		KeyEndDropped:       float64(endDropped),
		KeyEndQueued:        float64(published - endDelivered - endDropped),
		KeyMaxPublishMs:     ms(ps.maxD),
		KeySlowPublishes:    float64(ps.slow),
		KeyShutdownMs:       ms(sr.took),
		KeyShutdownFinished: b2f(sr.finished),
		KeyShutdownCapMs:    ms(cfg.ShutdownDeadline + cfg.Grace),
	}
	r.finish(res)
	return res, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
