package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/brummer-dev/eventbus/internal/loadgen"
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
	KeyCallsPerSec    = "calls_per_s"      // handler calls / time until all were made (fan-out)

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

// publishTo returns the generator's Publish for bus. The Bus interface
// takes no context: a run stops its publishers through the generator's.
func publishTo(bus Bus) loadgen.Publish {
	return func(_ context.Context, ev eventbus.Event) { bus.Publish(ev) }
}

// Throughput: cfg.ThroughputPublishers publishers publish
// cfg.ThroughputEvents log lines as fast as they can to one no-op handler.
// The library uses the Block policy, so every implementation delivers
// every event and events/s compares like with like.
func Throughput(cfg Config, impl Impl) (Result, error) {
	return lossless(cfg, impl, cfg.ThroughputEvents, cfg.ThroughputPublishers, nil)
}

// FanOut: cfg.ThroughputPublishers publishers publish cfg.FanOutEvents
// events as fast as they can to cfg.FanOutHandlers no-op handlers of their
// type; the figure is handler calls per second. The library uses the Block
// policy, as in Throughput.
func FanOut(cfg Config, impl Impl) (Result, error) {
	r, err := newRun(cfg, impl, true)
	if err != nil {
		return nil, err
	}
	r.handlers = int64(cfg.FanOutHandlers)
	for range cfg.FanOutHandlers {
		r.bus.Subscribe(poolEvent, r.tally.Wrap(nil))
	}
	events := cfg.FanOutEvents
	calls := int64(events) * int64(cfg.FanOutHandlers)
	gen := loadgen.New(loadgen.Burst{Events: events, Publishers: cfg.ThroughputPublishers, Type: loadgen.Only(poolEvent)}, publishTo(r.bus), false)
	r.harnessG = gen.Publishers()

	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	tot := gen.Run(context.Background(), nil)
	if err := r.tally.settle(calls, cfg.SettleTimeout); err != nil {
		r.abort()
		return nil, fmt.Errorf("%s: %w", impl.Name, err)
	}
	wall := time.Since(tot.Started)
	runtime.ReadMemStats(&ms1)
	if _, err := r.shutdown(calls, cfg.ShutdownDeadline); err != nil {
		r.abort()
		return nil, err
	}
	n := float64(max(events, 1))
	res := Result{
		// Every call is accounted for as a delivery of its own.
		KeyEvents:         float64(events),
		KeyPublished:      float64(calls),
		KeyCallsPerSec:    float64(calls) / wall.Seconds(),
		KeyEventsPerSec:   float64(events) / wall.Seconds(),
		KeyNsPerEvent:     float64(wall.Nanoseconds()) / n,
		KeyNsPerPublish:   float64(tot.Took.Nanoseconds()) / n,
		KeyAllocsPerEvent: float64(ms1.Mallocs-ms0.Mallocs) / n,
		KeyWallMs:         ms(wall),
		KeyPublishMs:      ms(tot.Took),
	}
	r.finish(res)
	return res, nil
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
// and measures how long it takes until all are delivered. The publishers
// neither stamp nor time their events: the scenarios measure the publish
// path, which two clock reads per event would weigh on.
func lossless(cfg Config, impl Impl, events, npub int, work func(eventbus.Event)) (Result, error) {
	r, err := newRun(cfg, impl, true)
	if err != nil {
		return nil, err
	}
	r.bus.Subscribe(poolEvent, r.tally.Wrap(work))
	gen := loadgen.New(loadgen.Burst{Events: events, Publishers: npub, Type: loadgen.Only(poolEvent)}, publishTo(r.bus), false)
	r.harnessG = gen.Publishers()

	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	tot := gen.Run(context.Background(), nil)
	if err := r.tally.settle(int64(events), cfg.SettleTimeout); err != nil {
		r.abort()
		return nil, fmt.Errorf("%s: %w", impl.Name, err)
	}
	wall := time.Since(tot.Started)
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
		KeyNsPerPublish:   float64(tot.Took.Nanoseconds()) / n,
		KeyAllocsPerEvent: float64(ms1.Mallocs-ms0.Mallocs) / n,
		KeyWallMs:         ms(wall),
		KeyPublishMs:      ms(tot.Took),
	}
	r.finish(res)
	return res, nil
}

// Flood: loadgen's flood, the traffic of a busy development server, for
// cfg.FloodDuration: log lines (low priority) at cfg.FloodFactor times the
// capacity of the pool, with process and error events (high) and build
// events (medium) mixed in; the handler sleeps cfg.Handler. The library
// runs its DefaultConfig (DropLowPri, no publisher wait). The figures: the
// wait of the high-priority events from publish to handler start, what
// became of the log lines, and how long publishers spent inside Publish.
func Flood(cfg Config, impl Impl) (Result, error) {
	r, err := newRun(cfg, impl, false)
	if err != nil {
		return nil, err
	}
	const high = loadgen.Levels - 1
	const low = 0
	var hc handlerClock
	var waits durations
	h := func(ev eventbus.Event) {
		start := time.Now()
		l := loadgen.Level(ev.Type)
		abandoned := r.tally.abort.Load()
		if l == high {
			waits.add(start.Sub(ev.Timestamp), abandoned)
		}
		if abandoned {
			r.tally.abandoned[l].Add(1)
			return
		}
		time.Sleep(cfg.Handler)
		hc.add(time.Since(start))
		r.tally.delivered[l].Add(1)
	}
	for _, t := range loadgen.FloodTypes {
		r.bus.Subscribe(t, h)
	}
	gen := loadgen.New(loadgen.Flood{Duration: cfg.FloodDuration, LogRate: cfg.FloodRate()}, publishTo(r.bus), true)
	r.harnessG = gen.Publishers()
	tot := gen.Run(context.Background(), nil)
	published := tot.All()

	sr, err := r.shutdown(published, cfg.FloodDrain)
	if err != nil {
		r.abort()
		return nil, err
	}
	if err := r.tally.Check(published, &tot.Published); err != nil {
		r.abort()
		return nil, fmt.Errorf("%s: %w", impl.Name, err)
	}
	p50, p99, maxW, lower := waits.quantiles()
	t := r.tally
	res := Result{
		KeyEvents:           float64(published),
		KeyPublished:        float64(published),
		KeyPublishMs:        ms(tot.Took),
		KeyHandlerMs:        ms(hc.mean()),
		KeyHighPublished:    float64(tot.Published[high]),
		KeyHighDelivered:    float64(t.delivered[high].Load()),
		KeyHighDropped:      float64(t.dropped[high].Load()),
		KeyHighAbandoned:    float64(t.abandoned[high].Load()),
		KeyHighP50:          ms(p50),
		KeyHighP99:          ms(p99),
		KeyHighMax:          ms(maxW),
		KeyHighLower:        b2f(lower),
		KeyLowTarget:        cfg.FloodRate() * cfg.FloodDuration.Seconds(),
		KeyLowPublished:     float64(tot.Published[low]),
		KeyLowDelivered:     float64(t.delivered[low].Load()),
		KeyLowDropped:       float64(t.dropped[low].Load()),
		KeyLowAbandoned:     float64(t.abandoned[low].Load()),
		KeyMaxPublishMs:     ms(tot.Longest),
		KeySlowPublishes:    float64(tot.Slow),
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
	burst := loadgen.Burst{Events: events, Publishers: cfg.BurstPublishers, Type: loadgen.Only(eventbus.LogLine)}
	gen := loadgen.New(burst, publishTo(r.bus), true)
	r.harnessG = gen.Publishers()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.BurstWindow)
	defer cancel()
	tot := gen.Run(ctx, nil)
	published := tot.All()
	endDelivered, endDropped := r.tally.Delivered(), r.tally.Dropped()

	sr, err := r.shutdown(published, cfg.ShutdownDeadline)
	if err != nil {
		r.abort()
		return nil, err
	}
	res := Result{
		KeyEvents:           float64(events),
		KeyPublished:        float64(published),
		KeyPublishMs:        ms(tot.Took),
		KeyHandlerMs:        ms(hc.mean()),
		KeyEndDelivered:     float64(endDelivered),
		KeyEndDropped:       float64(endDropped),
		KeyEndQueued:        float64(published - endDelivered - endDropped),
		KeyMaxPublishMs:     ms(tot.Longest),
		KeySlowPublishes:    float64(tot.Slow),
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
