package eventbus

import (
	"context"
	"time"
)

// Admission: how a published event enters the queue. An event that finds
// room is queued at once. Otherwise the publisher waits, under Block or
// for up to Config.TimeoutDuration, in the list of its priority level, and
// a worker that frees a slot hands it to the highest-priority waiter; a
// wait that ends without room leaves the choice to the drop policy.

// waiter is a publisher waiting for room in a full queue. It sits in the
// list of its priority level until a worker hands it a slot, its wait ends,
// or the bus shuts down.
type waiter struct {
	f          *flight
	ready      chan struct{} // receives one value when state leaves waiting
	state      waiterState
	prev, next *waiter
}

type waiterState uint8

const (
	waiting  waiterState = iota
	admitted             // a worker moved f into the queue
	refused              // the bus shut down first
)

// waitList is a FIFO of waiters, linked through the waiters themselves so
// that one that gives up can leave from the middle.
type waitList struct{ head, tail *waiter }

func (l *waitList) pushBack(w *waiter) {
	w.prev, w.next = l.tail, nil
	if l.tail == nil {
		l.head = w
	} else {
		l.tail.next = w
	}
	l.tail = w
}

func (l *waitList) remove(w *waiter) {
	if w.prev == nil {
		l.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		l.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next = nil, nil
}

// admission is what became of a publish: the error for the publisher (nil
// when the new event was queued) and, when the policy evicted a queued
// event to make room, that event.
type admission struct {
	err     error
	evicted *flight
	// drops are deliveries that replaying subscriptions' buffers dropped
	// as the event was admitted.
	drops []delivery
}

// put queues f, waiting and applying the drop policy as the Config says;
// a wait also ends with ctx (Publish and PublishWithBackpressure pass
// context.Background(), which never ends). gen is the replay generation
// the publisher saw before it looked up f's subscriptions: if a replaying
// subscription was added since, put returns errRouteChanged without
// queueing f, and the publisher routes f again. The caller reports the
// drops that the returned admission describes, after put has released the
// lock.
func (q *queue) put(ctx context.Context, f *flight, gen uint64) admission {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return admission{err: ErrEventBusShutdown}
	}
	if gen != q.replayGen.Load() {
		q.mu.Unlock()
		return admission{err: errRouteChanged}
	}
	if q.queued < q.capacity {
		q.admitLocked(f)
		busy := q.queued > q.capacity/2
		drops := q.takeAdmitDrops()
		q.mu.Unlock()
		if busy && q.halfFull != nil {
			q.halfFull()
		}
		return admission{drops: drops}
	}
	if q.halfFull != nil {
		q.halfFull()
	}
	if q.policy == Block || q.timeout > 0 {
		if a, done := q.waitForRoom(ctx, f); done {
			return a
		}
		// The wait ended without room and the lock is held again: the
		// policy decides.
	}
	a := q.applyPolicyLocked(f)
	a.drops = q.takeAdmitDrops()
	q.mu.Unlock()
	return a
}

// waitForRoom parks the publisher in the wait list of its level. It is
// called with the lock held and returns with it released when done is true;
// when done is false the wait timed out, the lock is held, and the queue is
// still full.
func (q *queue) waitForRoom(ctx context.Context, f *flight) (a admission, done bool) {
	w := &waiter{f: f, ready: make(chan struct{}, 1)}
	q.waiters[f.prio-1].pushBack(w)
	q.nwaiting++
	q.mu.Unlock()

	var timeout <-chan time.Time
	if q.policy != Block {
		t := time.NewTimer(q.timeout)
		defer t.Stop()
		timeout = t.C
	}
	var ctxErr error
	select {
	case <-w.ready:
	case <-timeout:
	case <-ctx.Done():
		ctxErr = ctx.Err()
	}

	q.mu.Lock()
	switch w.state {
	case admitted:
		// The worker that admitted f reports what that dropped.
		q.mu.Unlock()
		return admission{}, true
	case refused:
		q.mu.Unlock()
		return admission{err: ErrEventBusShutdown}, true
	}
	q.waiters[f.prio-1].remove(w)
	q.nwaiting--
	if ctxErr != nil {
		q.mu.Unlock()
		return admission{err: ctxErr}, true
	}
	return admission{}, false
}

// applyPolicyLocked decides, with the lock held and the queue full, which
// event is dropped: the new one (returned as the error) or a queued one
// (returned as evicted, with the new one queued in its place).
func (q *queue) applyPolicyLocked(f *flight) admission {
	victim := -1
	switch q.policy {
	case DropOldest:
		victim = q.lv.oldest()
	case DropLowPri:
		// The new event is the newest of its level, so it loses only to
		// a strictly higher lowest level.
		if low := q.lv.lowest(); low >= 0 && low <= int(f.prio-1) {
			victim = low
		}
	}
	if victim < 0 {
		return admission{err: ErrQueueFull}
	}
	a := admission{evicted: q.lv.pop(victim)}
	q.queued--
	q.admitLocked(f)
	return a
}

// handOffLocked gives the slot that a worker just freed to the waiting
// publisher with the highest priority, first come first served among
// equals. It is called with the lock held.
func (q *queue) handOffLocked() {
	for i := numLevels - 1; i >= 0; i-- {
		w := q.waiters[i].head
		if w == nil {
			continue
		}
		q.waiters[i].remove(w)
		q.nwaiting--
		q.admitLocked(w.f)
		w.f = nil
		w.state = admitted
		w.ready <- struct{}{}
		return
	}
}

// refuseWaitersLocked ends every wait at shutdown. It is called with the
// lock held.
func (q *queue) refuseWaitersLocked() {
	for i := range q.waiters {
		for w := q.waiters[i].head; w != nil; w = q.waiters[i].head {
			q.waiters[i].remove(w)
			w.state = refused
			w.ready <- struct{}{}
		}
	}
	q.nwaiting = 0
}
