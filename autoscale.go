package eventbus

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// autoscaler sizes a dynamic pool by its queue depth and its workers'
// idleness, both figures the bus keeps anyway: the queue's count and each
// worker's processed counter. It looks once per ScaleInterval.
type autoscaler struct {
	bus    *EventBus
	cancel context.CancelFunc
	done   chan struct{}
	// poke wakes the autoscaler when a publish finds the queue more than half
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

// nudge tells the autoscaler the queue is more than half full. It is called by
// publishers and costs them one atomic load while a poke is pending.
func (s *autoscaler) nudge() {
	if !s.pending.Load() && s.pending.CompareAndSwap(false, true) {
		s.poke <- struct{}{} // buffered: pending guarantees room
	}
}

// scaleState is the autoscaler's view of one worker, touched only by it.
type scaleState struct {
	seen      int64 // the worker's processed count at the last look
	idleSince int64 // monotime since which that count has not moved
}

func newAutoscaler(b *EventBus) *autoscaler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &autoscaler{bus: b, cancel: cancel, done: make(chan struct{}), poke: make(chan struct{}, 1)}
	go s.run(ctx)
	return s
}

func (s *autoscaler) run(ctx context.Context) {
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

func (s *autoscaler) stop() {
	s.cancel()
	<-s.done
}

// look applies the rule documented at Config.ScaleInterval.
func (s *autoscaler) look(now int64) {
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

	b.size.mu.Lock()
	size := b.size.size
	b.size.mu.Unlock()

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
