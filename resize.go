package eventbus

import (
	"fmt"
	"sync"
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

// poolSize owns the pool's size: Resize and the autoscaler both go
// through it, one at a time.
type poolSize struct {
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
// workers to leave, and a busy one leaves only after the deliveries it
// took, so no call is ever interrupted and the pool may take a moment to
// reach n. Both cost time in proportion to the change. It is safe
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
	s := &b.size
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
func (s *poolSize) fill(m *MetricsSnapshot) {
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
