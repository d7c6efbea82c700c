package eventbus

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// workerStats is one worker's share of the monitoring figures. Only the
// goroutine running the worker writes it, each figure with one atomic
// store to a cache line no other worker writes, so recording costs no lock
// and no contended write. It is updated once per batch (see batch) with
// two clock reads. (The waits, counted per event, go to the worker's tally
// shard.)
type workerStats struct {
	// busyWord encodes the worker's busy time so that the sampler can read
	// it, including a batch in progress, with one load: when idle it is
	// the total busy nanoseconds (>= 0); inside a batch that began at t0
	// it is busy - t0 - 1 (< 0), so the busy time at T is word + 1 + T.
	busyWord atomic.Int64
	busy     int64 // total busy nanoseconds, owned by the worker
	ema      ema
}

// beginBatch records that the worker is busy from start on.
func (s *workerStats) beginBatch(start int64) {
	s.busyWord.Store(s.busy - start - 1)
}

// endBatch records a view of n handler calls that ran from start to now:
// each call counts in the moving average with the view's mean time.
func (s *workerStats) endBatch(start, now int64, n int) {
	d := now - start
	s.ema.addN(float64(d)/float64(max(n, 1)), n)
	s.busy += d
	s.busyWord.Store(s.busy)
}

// busyAt returns the worker's total busy time at monotime now.
func (s *workerStats) busyAt(now int64) int64 {
	w := s.busyWord.Load()
	if w >= 0 {
		return w
	}
	return w + 1 + now
}

// ema is an exponential moving average with alpha 0.1 whose value can be
// read from any goroutine while one goroutine adds to it. The first value
// added is taken as is.
type ema struct {
	bits atomic.Uint64 // math.Float64bits of the average; 0 before any value
	v    float64       // the writer's copy
	set  bool
}

const emaAlpha = 0.1

func (e *ema) add(x float64) {
	if e.set {
		e.v = e.v*(1-emaAlpha) + x*emaAlpha
	} else {
		e.v, e.set = x, true
	}
	e.bits.Store(math.Float64bits(e.v))
}

// addN adds x n times, in one step.
func (e *ema) addN(x float64, n int) {
	if n <= 0 {
		return
	}
	if !e.set {
		e.add(x)
		n--
	}
	var keep float64 // (1-alpha)^n
	if n < len(emaKeep) {
		keep = emaKeep[n]
	} else {
		keep = math.Pow(1-emaAlpha, float64(n))
	}
	e.v = e.v*keep + x*(1-keep)
	e.bits.Store(math.Float64bits(e.v))
}

// emaKeep[n] is (1-alpha)^n, the weight the average keeps over n values,
// for the n of most views.
var emaKeep = func() (k [8 * maxBatch]float64) {
	k[0] = 1
	for n := 1; n < len(k); n++ {
		k[n] = k[n-1] * (1 - emaAlpha)
	}
	return k
}()

// value returns the average and whether any value was added.
func (e *ema) value() (float64, bool) {
	b := e.bits.Load()
	return math.Float64frombits(b), b != 0
}

// monitor runs the sampler that turns the workers' busy time into
// utilization and keeps the queue depth history. Its own state is guarded
// by mu, which only the sampler and Metrics take.
type monitor struct {
	bus     *EventBus
	sampler *ticker

	mu      sync.Mutex // guards the fields below and the workers' util and prevBusy
	prevT   int64
	history [MetricsHistory]DepthSample
	nhist   int // samples taken, of which the last MetricsHistory are kept
}

func newMonitor(b *EventBus) *monitor {
	m := &monitor{bus: b, prevT: monotime()}
	m.sampler = every(b.cfg.MetricsWindow, m.sample)
	return m
}

// stopped reports whether the bus has shut down and its workers exited.
func (m *monitor) stopped() bool {
	select {
	case <-m.bus.pool.stopped:
		return true
	default:
		return false
	}
}

// stop ends the sampler and waits for it.
func (m *monitor) stop() { m.sampler.stop() }

// sample closes a window: utilization per worker over it, and one depth
// sample.
func (m *monitor) sample() { m.sampleAt(monotime(), time.Now()) }

// sampleAt closes the window that ends at monotime now (wall is the same
// moment on the wall clock, for the depth sample).
func (m *monitor) sampleAt(now int64, wall time.Time) {
	depth, _, _ := m.bus.q.counts()
	m.mu.Lock()
	defer m.mu.Unlock()
	span := float64(now - m.prevT)
	for _, w := range m.bus.pool.slots() {
		busy := w.stats.busyAt(now)
		if span > 0 {
			w.util = share(busy-w.prevBusy, span)
		}
		w.prevBusy = busy
	}
	m.prevT = now
	m.history[m.nhist%MetricsHistory] = DepthSample{
		Time:  wall,
		Depth: PriorityCounts{Low: int64(depth[0]), Medium: int64(depth[1]), High: int64(depth[2])},
	}
	m.nhist++
}

// fill adds the monitoring figures to a snapshot.
func (m *monitor) fill(s *MetricsSnapshot) {
	var sum float64
	var n int
	s.waits = m.bus.pool.tally.waitTotals()
	slots := m.bus.pool.slots()
	for _, w := range slots {
		if v, ok := w.stats.ema.value(); ok {
			sum += v
			n++
		}
	}
	if n > 0 {
		s.AvgProcessingTime = time.Duration(sum / float64(n))
	}
	s.Wait = s.waits.stats()

	m.mu.Lock()
	defer m.mu.Unlock()
	s.WorkerUtilization = make([]float64, len(slots))
	switch {
	case m.stopped():
		// A stopped pool is not busy, whatever its last window said.
	case m.nhist == 0:
		// No window has closed yet: report the one in progress rather
		// than zeros that read as an idle pool.
		now := monotime()
		if span := float64(now - m.prevT); span > 0 {
			for i, w := range slots {
				s.WorkerUtilization[i] = share(w.stats.busyAt(now)-w.prevBusy, span)
			}
		}
	default:
		for i, w := range slots {
			s.WorkerUtilization[i] = w.util
		}
	}
	kept := min(m.nhist, MetricsHistory)
	s.QueueDepthHistory = make([]DepthSample, 0, kept)
	for i := m.nhist - kept; i < m.nhist; i++ {
		s.QueueDepthHistory = append(s.QueueDepthHistory, m.history[i%MetricsHistory])
	}
}

// share returns busy/span clamped to 0..1.
func share(busy int64, span float64) float64 {
	return min(max(float64(busy)/span, 0), 1)
}
