package eventbus

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ResizeEvent records one change of the pool's size.
type ResizeEvent struct {
	Time   time.Time `json:"time"`
	From   int       `json:"from"`
	To     int       `json:"to"`
	Reason string    `json:"reason"`
}

// resizeHistory is the number of ResizeEvents a snapshot keeps.
const resizeHistory = 32

// sizer owns the pool's size: Resize and the automatic scaler both go
// through it, one at a time.
type sizer struct {
	mu      sync.Mutex
	size    int // workers asked for: started and not asked to leave
	ups     int64
	downs   int64
	history [resizeHistory]ResizeEvent
	n       int // events recorded, of which the last resizeHistory are kept
}

// Resize sets the number of workers. A dynamic pool (Config.MaxWorkers set)
// accepts MinWorkers..MaxWorkers, and keeps scaling itself from the new
// size; a static pool accepts 1..WorkerLimit and keeps the new size. Any
// other n gives an error wrapping ErrInvalidSize, and after shutdown
// ErrEventBusShutdown. Growing starts workers at once; shrinking asks idle
// workers to leave, and a busy one leaves only after its event, so no event
// is ever interrupted and the pool may take a moment to reach n. It is safe
// at any time, concurrently with publishing, Resize and Shutdown.
func (b *EventBus) Resize(n int) error {
	lo, hi := 1, WorkerLimit
	if b.cfg.MaxWorkers > 0 {
		lo, hi = b.cfg.MinWorkers, b.cfg.MaxWorkers
	}
	if n < lo || n > hi {
		return fmt.Errorf("%w: %d workers; this pool takes %d..%d", ErrInvalidSize, n, lo, hi)
	}
	return b.resize(n, "Resize")
}

func (b *EventBus) resize(n int, reason string) error {
	s := &b.sizer
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.closing.Load() {
		return ErrEventBusShutdown
	}
	from := s.size
	switch {
	case n > from:
		// Workers still asked to leave can stay instead of new ones.
		s.size += b.q.unretire(n - from)
		s.size += b.addWorkers(n - s.size)
		s.ups++
	case n < from:
		b.q.retire(from - n)
		s.size = n
		s.downs++
	default:
		return nil
	}
	s.history[s.n%resizeHistory] = ResizeEvent{Time: time.Now(), From: from, To: s.size, Reason: reason}
	s.n++
	return nil
}

// fill adds the pool size figures to a snapshot.
func (s *sizer) fill(m *MetricsSnapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m.Workers = s.size
	m.ScaleUps, m.ScaleDowns = s.ups, s.downs
	kept := min(s.n, resizeHistory)
	m.Resizes = make([]ResizeEvent, 0, kept)
	for i := s.n - kept; i < s.n; i++ {
		m.Resizes = append(m.Resizes, s.history[i%resizeHistory])
	}
}

// scaler sizes a dynamic pool by its queue depth and its workers'
// idleness, both figures the bus keeps anyway: the queue's count and each
// worker's processed counter. It looks once per ScaleInterval.
type scaler struct {
	bus    *EventBus
	cancel context.CancelFunc
	done   chan struct{}
	// poke wakes the scaler when a publish finds the queue more than half
	// full, so that the interval is timed from the moment it happened
	// rather than from the next tick; pending keeps publishers from
	// sending more than one poke at a time.
	poke    chan struct{}
	pending atomic.Bool

	full       bool  // the queue was more than half full at the last look
	fullSince  int64 // monotime since which it has been
	lastGrow   int64 // monotime of the last growth
	lastShrink int64
}

// nudge tells the scaler the queue is more than half full. It is called by
// publishers and costs them one atomic load while a poke is pending.
func (s *scaler) nudge() {
	if !s.pending.Load() && s.pending.CompareAndSwap(false, true) {
		s.poke <- struct{}{} // buffered: pending guarantees room
	}
}

// scaleState is the scaler's view of one worker, touched only by it.
type scaleState struct {
	seen      int64 // the worker's processed count at the last look
	idleSince int64 // monotime since which that count has not moved
}

func newScaler(b *EventBus) *scaler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &scaler{bus: b, cancel: cancel, done: make(chan struct{}), poke: make(chan struct{}, 1)}
	go s.run(ctx)
	return s
}

func (s *scaler) run(ctx context.Context) {
	defer close(s.done)
	// The ticker only finds idle workers: growth is driven by pokes and
	// by the due timer, so a short ScaleInterval costs no wake-ups while
	// the bus is quiet.
	interval := s.bus.cfg.ScaleInterval
	t := time.NewTicker(max(interval, s.bus.cfg.IdleTimeout/4))
	defer t.Stop()
	due := time.NewTimer(interval) // the next look while the queue is busy
	defer due.Stop()
	armed := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-due.C:
			armed = false
		case <-s.poke:
			s.pending.Store(false)
		}
		s.look(monotime())
		if s.full && !armed {
			due.Reset(interval)
			armed = true
		}
	}
}

func (s *scaler) stop() {
	s.cancel()
	<-s.done
}

// look applies the rule documented at Config.ScaleInterval.
func (s *scaler) look(now int64) {
	b := s.bus
	cfg := &b.cfg
	depth, _, _ := b.q.counts()
	queued := depth[0] + depth[1] + depth[2]

	// Idle workers: processed count unchanged and no handler running for
	// IdleTimeout.
	idle := 0
	for _, w := range b.pool.slots() {
		st := &w.scale
		n := w.batches.Load()
		if n != st.seen || w.busy.Load() || st.idleSince == 0 {
			st.seen, st.idleSince = n, now
			continue
		}
		if now-st.idleSince >= int64(cfg.IdleTimeout) {
			idle++
		}
	}

	b.sizer.mu.Lock()
	size := b.sizer.size
	b.sizer.mu.Unlock()

	if full := queued > cfg.QueueSize/2; full != s.full {
		s.full, s.fullSince = full, now
	}
	switch {
	case s.full && now-s.fullSince >= int64(cfg.ScaleInterval) && size < cfg.MaxWorkers &&
		now-s.lastShrink >= int64(cfg.ScaleInterval):
		// A queue at capacity drops or blocks publishers: answer with the
		// whole pool rather than ramp up through several intervals.
		to := min(2*size, cfg.MaxWorkers)
		if queued >= cfg.QueueSize {
			to = cfg.MaxWorkers
		}
		if b.resize(to, fmt.Sprintf("queue more than half full (%d of %d) for %v", queued, cfg.QueueSize, cfg.ScaleInterval)) == nil {
			s.lastGrow = now
			s.fullSince = now // the next growth needs another full interval
		}
	case queued < max(cfg.QueueSize/10, 1) && idle > 0 && size > cfg.MinWorkers &&
		now-s.lastGrow >= int64(cfg.IdleTimeout):
		to := max(size-idle, cfg.MinWorkers)
		if b.resize(to, fmt.Sprintf("%d workers idle for %v, queue under a tenth full", idle, cfg.IdleTimeout)) == nil {
			s.lastShrink = now
			for _, w := range b.pool.slots() {
				w.scale.idleSince = now // the survivors start a new idle period
			}
		}
	}
}
