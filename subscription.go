package eventbus

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Subscription is one handler registered with On, OnAll, OnTypes or Chan.
// Its methods are safe for concurrent use, including from inside its own
// handler.
type Subscription struct {
	bus     *EventBus
	handler Handler
	types   []EventType // nil for OnAll
	all     bool
	name    string
	filter  func(Event) bool
	onDrop  func(Event, error)
	// box is the mailbox of a subscription with a concurrency limit, or
	// that coalesces (co).
	box *mailbox
	co  *coalescer
	// ordered says whether Config.OrderingKey orders its deliveries: true
	// when it has one, for subscriptions whose deliveries may otherwise
	// run at once (no limit, or a limit above one). lanes lists its busy
	// ordered streams, under the queue's lock.
	ordered bool
	lanes   *lane

	closed atomic.Bool // ended: set under routes.mu and the queue's lock
	stats  subStats
	// done is closed once the subscription has ended and no call of its
	// handler runs; finished is then called once (a channel subscription
	// closes its channel).
	done     chan struct{}
	doneOnce sync.Once
	finished func()
	// retired is set once the figures are final and counted in the
	// totals of ended subscriptions.
	retired atomic.Bool
	stopCtx []func() bool // stop the callbacks of its contexts; under routes.mu
	// send, for a channel subscription, puts an event in its channel in
	// place of a handler call; an error means the event was dropped.
	send func(Event) error
	// ending, for a channel subscription, is closed as it ends, so that a
	// Block send waiting for the reader gives up at once.
	ending chan struct{}
	// replay says what a replaying subscription replays when it starts
	// (WithReplay, WithReplayAfter); such a subscription gets live events
	// at their admission, in admission order.
	replay *replaySpec
}

// replaySpec is what a replaying subscription replays: the latest n
// retained events, or those after the event whose ID is after.
type replaySpec struct {
	n     int
	after string
}

// Unsubscribe ends the subscription. After Unsubscribe returns, no call of
// the handler begins, also for events that were already queued: a worker
// that had already checked the subscription is inside the handler by then
// (Unsubscribe waits for that step, which runs no user code). Deliveries
// that were waiting for the subscription are dropped, counted in its
// Stats and passed to its WithOnDrop hook with ErrUnsubscribed; their
// events count as processed once their other deliveries are done. A call
// that had begun may still be running; Unsubscribe does not wait for it,
// so it is safe to call from inside the handler itself. Wait on Done to
// know when the handler has stopped running for good. Calling Unsubscribe
// again, or after the subscription ended otherwise (its context, the bus's
// Shutdown), ends nothing more, and returns under the same promise.
func (s *Subscription) Unsubscribe() { s.end() }

// Done returns a channel that is closed once the subscription has ended
// (Unsubscribe, its context, or the bus's Shutdown) and no call of its
// handler is running. A program whose handler sends on a channel can
// close that channel safely after Unsubscribe and <-Done(). Waiting on
// Done from inside the handler itself never returns.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Stats returns the subscription's figures. It reads a few counters and
// takes no lock; it keeps working after the subscription ended, and then
// gives its final figures once nothing is pending.
func (s *Subscription) Stats() SubscriptionStats {
	st := s.stats.read()
	st.Name, st.Types = s.name, slices.Clone(s.types)
	return st
}

// end ends the subscription, once.
func (s *Subscription) end() {
	b := s.bus
	t := &b.subs
	t.mu.Lock()
	if s.closed.Load() {
		t.mu.Unlock()
		// Ended already, perhaps by a call still under way (its context,
		// Shutdown): the promise of Unsubscribe holds for this call too.
		s.waitWindows()
		return
	}
	q := b.q
	// dropped are s's own waiting deliveries; full are those that other
	// subscriptions' buffers dropped as publishers took the room freed.
	var dropped, full []delivery
	q.mu.Lock()
	// Under the queue's lock, no worker taking events from the queue can
	// see the subscription open any more: nothing more is matched.
	s.closed.Store(true)
	if s.ending != nil {
		close(s.ending)
	}
	if m := s.box; m != nil {
		var aside int
		dropped, aside = m.drain(dropped)
		q.held -= len(dropped)
		q.queued -= aside
		q.aside -= aside
		q.relistLocked(m)
		delete(q.boxes, m)
		q.fillRoomLocked()
		full = append(full, q.takeAdmitDrops()...)
	}
	if s.co != nil {
		dropped = q.dropCoalescer(s, dropped)
	}
	n := len(dropped)
	dropped = q.lanes.dropSub(s, dropped)
	q.held -= len(dropped) - n
	for _, d := range dropped[n:] {
		if q.unparkLocked(d.f) {
			full = append(full, q.takeAdmitDrops()...)
		}
	}
	q.mu.Unlock()
	t.removeLocked(s)
	stops := s.stopCtx
	s.stopCtx = nil
	t.mu.Unlock()

	for _, stop := range stops {
		stop()
	}
	s.waitWindows()
	for _, d := range dropped {
		b.dropDelivery(nil, d, ErrUnsubscribed)
	}
	for _, d := range full {
		b.dropDelivery(nil, d, ErrQueueFull)
	}
	s.settle()
}

// waitWindows waits for the workers that checked the subscription before
// it ended to reach the handler call: a step that runs no user code.
func (s *Subscription) waitWindows() {
	for !s.stats.windowsClosed() {
		runtime.Gosched()
	}
}

// settle closes done once the subscription has ended and no call runs,
// and retires its figures once nothing is pending. Every goroutine that
// finishes a delivery of an ended subscription calls it after counting.
func (s *Subscription) settle() {
	if !s.closed.Load() {
		return
	}
	if s.stats.idle() {
		s.doneOnce.Do(func() {
			close(s.done)
			if s.finished != nil {
				s.finished()
			}
		})
	}
	// late is read first: a late delivery counts as matched before it
	// leaves late, so a zero here and then in pending means it is done.
	if s.stats.late.Load() == 0 && s.stats.pending() == 0 && s.retired.CompareAndSwap(false, true) {
		s.bus.subs.retire(s)
	}
}

// reportDrop passes a dropped delivery to the WithOnDrop hook, if any.
func (s *Subscription) reportDrop(ev Event, reason error) {
	if s.onDrop == nil {
		return
	}
	defer func() { _ = recover() }() // a failing hook must not take the caller down
	s.onDrop(ev, reason)
}
