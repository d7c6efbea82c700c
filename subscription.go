package eventbus

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Subscription is one handler registered with On or OnAll. Its methods are
// safe for concurrent use, including from inside its own handler.
type Subscription struct {
	bus     *EventBus
	handler Handler
	typ     EventType
	all     bool // registered with OnAll
	active  atomic.Bool
	listed  bool // in its route's list; under routes.mu
	// gate counts, in steps of 2, the workers between their check that the
	// subscription is active and the call of its handler; bit 0 is set by
	// Unsubscribe, which then waits for that count to reach zero.
	gate atomic.Int64
	once sync.Once
	done chan struct{}
}

// enter reports whether a worker may call the handler. When it returns
// true, the worker must call leave right before the call.
func (s *Subscription) enter() bool {
	if s.gate.Add(2)&1 != 0 {
		s.gate.Add(-2)
		return false
	}
	return true
}

// leave ends the step between enter and the handler call.
func (s *Subscription) leave() { s.gate.Add(-2) }

// close makes enter fail from now on, and waits for the workers that
// entered before to reach the handler call. That step runs no user code,
// so the wait is short and safe from inside the handler itself.
func (s *Subscription) close() {
	for s.gate.Or(1)>>1 != 0 {
		for s.gate.Load()>>1 != 0 {
			runtime.Gosched()
		}
		return
	}
}

// Unsubscribe removes the handler. After Unsubscribe returns, no call of
// the handler begins, also for events that were already queued: a worker
// that had already checked the subscription is inside the handler by
// then (Unsubscribe waits for that step, which runs no user code). A call
// that had begun may still be running; Unsubscribe does not wait for it,
// so it is safe to call from inside the handler itself. Wait on Done to
// know when the handler has stopped running for good. Calling Unsubscribe
// again does nothing.
func (s *Subscription) Unsubscribe() {
	if !s.active.CompareAndSwap(true, false) {
		return
	}
	s.close()
	s.bus.subs.remove(s)
	s.releaseIfIdle()
}

// Done returns a channel that is closed once the subscription is
// unsubscribed and no invocation of its handler is running. A program whose
// handler sends on a channel can close that channel safely after
// Unsubscribe and <-Done(). Waiting on Done from inside the handler itself
// never returns.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// releaseIfIdle closes done if the subscription is inactive and no worker
// is running its handler. Workers call it after each invocation of an
// inactive subscription, so the last one to finish closes done.
func (s *Subscription) releaseIfIdle() {
	if s.active.Load() || s.bus.pool.running(s) {
		return
	}
	s.once.Do(func() { close(s.done) })
}
