package bench

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brummer-dev/eventbus"
)

// run is one run of a scenario over one implementation.
type run struct {
	cfg   Config
	impl  Impl
	tally *Tally
	bus   Bus
	smp   *Sampler
	// harnessG is the number of goroutines the scenario started (its
	// publishers), which the goroutine figures leave out.
	harnessG int
	closed   bool
	// handlers is the number of handlers each event has (fan-out), 1
	// otherwise: the tally counts calls, the library's metrics events.
	handlers int64
}

// newRun starts the sampler and the bus.
func newRun(cfg Config, impl Impl, lossless bool) (*run, error) {
	r := &run{cfg: cfg, impl: impl, tally: &Tally{}, handlers: 1}
	r.smp = StartSampler(cfg.SampleEvery)
	bus, err := impl.New(Options{
		Workers:   cfg.Workers,
		QueueSize: cfg.QueueSize,
		Lossless:  lossless,
		OnDrop:    r.tally.OnDrop,
	})
	if err != nil {
		r.smp.Stop()
		return nil, fmt.Errorf("%s: %w", impl.Name, err)
	}
	r.bus = bus
	return r, nil
}

// shutdownResult says how a bus stopped.
type shutdownResult struct {
	// took is the time from Close to every event being accounted for, or
	// the cap (deadline + grace) when it did not finish.
	took     time.Duration
	finished bool
	// abandoned counts the events the harness gave up on at the cap.
	abandoned int64
}

// shutdown closes the bus with the given deadline and waits until every
// published event is accounted for, but no longer than deadline +
// cfg.Grace (time for handlers already running at the deadline to
// return). A bus that has not finished by then is abandoned: handlers that
// run from then on return at once and count as abandoned, and shutdown
// waits up to cfg.SettleTimeout for the rest to drain that way. The bus
// must then stop; if it does not, or the counts do not close, the run
// fails.
func (r *run) shutdown(published int64, deadline time.Duration) (shutdownResult, error) {
	var sr shutdownResult
	r.closed = true
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	_ = r.bus.Close(ctx) // a missed deadline shows in the counts below
	cancel()
	capAt := deadline + r.cfg.Grace
	if err := r.tally.settle(published, capAt-time.Since(t0)); err == nil {
		sr.took, sr.finished = time.Since(t0), true
	} else if errors.Is(err, ErrAccounting) && r.tally.accounted() > published {
		return sr, fmt.Errorf("%s: %w", r.impl.Name, err)
	} else {
		sr.took = capAt
		before := r.tally.Abandoned()
		r.tally.Abandon()
		if err := r.tally.settle(published, r.cfg.SettleTimeout); err != nil {
			return sr, fmt.Errorf("%s: after abandoning the run: %w", r.impl.Name, err)
		}
		sr.abandoned = r.tally.Abandoned() - before
	}
	ctx, cancel = context.WithTimeout(context.Background(), r.cfg.SettleTimeout)
	defer cancel()
	if err := r.bus.Close(ctx); err != nil {
		return sr, fmt.Errorf("%s: bus did not stop within %v after every event was accounted for: %w", r.impl.Name, r.cfg.SettleTimeout, err)
	}
	if v, ok := r.bus.(Verifier); ok {
		if err := v.Verify(published/r.handlers, r.tally.Handled()/r.handlers, r.tally.Dropped()); err != nil {
			return sr, fmt.Errorf("%s: %w", r.impl.Name, err)
		}
	}
	return sr, nil
}

// finish stops the sampler and adds the figures every scenario reports.
// The bus must have been shut down.
func (r *run) finish(res Result) {
	peak := r.smp.Stop()
	base := r.smp.Base
	res[KeyPeakGoroutines] = float64(max(peak.Goroutines-base.Goroutines-int64(r.harnessG), 0))
	res[KeyPeakHeap] = mib(peak.Heap)
	res[KeyPeakStack] = mib(peak.Stack)
	res[KeyHeapGrowth] = mib(peak.Heap) - mib(base.Heap)
	res[KeyMemGrowth] = mib(peak.Heap+peak.Stack) - mib(base.Heap+base.Stack)
	res[KeyDelivered] = float64(r.tally.Delivered())
	res[KeyDropped] = float64(r.tally.Dropped())
	res[KeyAbandoned] = float64(r.tally.Abandoned())
	if rep, ok := r.bus.(Reporter); ok {
		for k, v := range rep.Report() {
			res[k] = v
		}
	}
}

// abort is used when a run fails half-way: it abandons the run, closes the
// bus and stops the sampler, so that a failed run leaves nothing running.
func (r *run) abort() {
	r.tally.Abandon()
	if !r.closed {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.SettleTimeout)
		_ = r.bus.Close(ctx)
		cancel()
	}
	r.smp.Stop()
}

// durations collects time.Durations from many goroutines.
type durations struct {
	mu sync.Mutex
	d  []time.Duration
	// lower marks values that are only lower bounds (events abandoned at
	// a deadline, whose real wait was longer).
	lower int
}

func (s *durations) add(d time.Duration, lowerBound bool) {
	s.mu.Lock()
	s.d = append(s.d, d)
	if lowerBound {
		s.lower++
	}
	s.mu.Unlock()
}

// quantiles returns the p50, p99 and max of the values (0 when empty),
// and whether they are lower bounds only.
func (s *durations) quantiles() (p50, p99, maxd time.Duration, lower bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.d) == 0 {
		return 0, 0, 0, false
	}
	d := append([]time.Duration(nil), s.d...)
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return quantile(d, 0.50), quantile(d, 0.99), d[len(d)-1], s.lower > 0
}

// quantile returns the nearest-rank q-quantile of sorted d.
func quantile(d []time.Duration, q float64) time.Duration {
	rank := int(float64(len(d))*q+0.999999) - 1
	return d[min(max(rank, 0), len(d)-1)]
}

// handlerClock measures how long handlers really took.
type handlerClock struct {
	total, n, maxNs atomic.Int64
}

func (c *handlerClock) add(d time.Duration) {
	c.total.Add(int64(d))
	c.n.Add(1)
	for {
		m := c.maxNs.Load()
		if int64(d) <= m || c.maxNs.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

func (c *handlerClock) mean() time.Duration {
	n := c.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(c.total.Load() / n)
}

// sleeper returns the work of a handler blocked for d (time.Sleep), timed.
func sleeper(d time.Duration, c *handlerClock) func(eventbus.Event) {
	return func(eventbus.Event) {
		t0 := time.Now()
		time.Sleep(d)
		c.add(time.Since(t0))
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mib(b uint64) float64       { return float64(b) / (1 << 20) }
