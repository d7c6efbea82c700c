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
	rerouted             // a replaying subscription came: route f again
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
	// as the event was admitted, or that the policy dropped: a delivery
	// set aside by a Block buffer, or the first parked of them, those of
	// an event waiting for its ordering key (see EventBus.dropParked).
	drops  []delivery
	parked int
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
	a.drops = append(a.drops, q.takeAdmitDrops()...)
	q.mu.Unlock()
	return a
}

// waitForRoom parks the publisher in the wait list of its level. It is
// called with the lock held and returns with it released when done is true;
// when done is false the wait timed out, the lock is held, and the queue is
// still full.
func (q *queue) waitForRoom(ctx context.Context, f *flight) (a admission, done bool) {
	var timeout <-chan time.Time
	if q.policy != Block {
		// A publisher routed again (see rerouteWaitersLocked) waits out
		// what is left of its first wait, not a whole new one. f is read
		// before the lock is released: once admitted, it is a worker's.
		now := monotime()
		if f.waitUntil == 0 {
			f.waitUntil = now + int64(q.timeout)
		}
		t := time.NewTimer(time.Duration(max(f.waitUntil-now, 0)))
		defer t.Stop()
		timeout = t.C
	}
	w := &waiter{f: f, ready: make(chan struct{}, 1)}
	q.waiters[f.prio-1].pushBack(w)
	q.nwaiting++
	q.mu.Unlock()

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
	case rerouted:
		q.mu.Unlock()
		return admission{err: errRouteChanged}, true
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
// event is dropped: the new one (returned as the error) or one that waits
// (see waitingLocked), with the new one queued in its place.
func (q *queue) applyPolicyLocked(f *flight) admission {
	if q.aside == 0 && q.lanes.parkedTotal() == 0 {
		// Only the priority queues hold anything: the common case.
		victim := -1
		switch q.policy {
		case DropOldest:
			victim = q.lv.oldest()
		case DropLowPri:
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
	var v waitingOne
	switch q.policy {
	case DropOldest, DropLowPri:
		v = q.waitingLocked(q.policy)
	}
	// Under DropLowPri the new event is the newest of its level, so it
	// loses to anything of its level or above.
	if v.kind == noneWaiting || (q.policy == DropLowPri && v.level > int(f.prio-1)) {
		return admission{err: ErrQueueFull}
	}
	var a admission
	switch v.kind {
	case queuedEvent:
		a.evicted = q.lv.pop(v.level)
		q.queued--
	case parkedEvent:
		a.drops = q.unparkAllLocked(v.f, v.level)
		a.parked = len(a.drops)
	case asideDelivery:
		a.drops = append(a.drops, q.dropAsideLocked(v.box, v.boxLevel))
	}
	q.admitLocked(f)
	return a
}

// waitingOne is one of the things a full queue's policy picks from.
type waitingOne struct {
	kind     int
	level    int
	seq      uint64
	f        *flight  // parkedEvent
	box      *mailbox // asideDelivery
	boxLevel int      // asideDelivery: the mailbox FIFO it is at the front of
}

const (
	noneWaiting = iota
	queuedEvent
	parkedEvent   // its deliveries wait for their ordering key
	asideDelivery // set aside by a Block buffer
)

// before reports whether the policy p drops w before o: DropOldest the one
// admitted first, DropLowPri the lowest level, then the one admitted first.
func (w waitingOne) before(o waitingOne, p DropPolicy) bool {
	if o.kind == noneWaiting {
		return true
	}
	if p == DropLowPri && w.level != o.level {
		return w.level < o.level
	}
	return w.seq < o.seq
}

// waitingLocked returns what the policy p drops first among everything
// QueueSize counts: the queued events, the events whose deliveries wait
// for their ordering key (each such delivery is at the front of its
// stream, since the streams are in admission order), and the deliveries
// that Block buffers set aside. The streams and buffers are looked at only
// while some wait there, so the common case costs three comparisons.
func (q *queue) waitingLocked(p DropPolicy) waitingOne {
	var best waitingOne
	offer := func(w waitingOne) {
		if w.before(best, p) {
			best = w
		}
	}
	for i := 0; i < numLevels; i++ {
		if q.lv.depth(i) > 0 {
			offer(waitingOne{kind: queuedEvent, level: i, seq: q.lv.rings[i].front().seq})
		}
	}
	if q.lanes.parkedTotal() > 0 {
		for _, ln := range q.lanes.m {
			if ln.pending.len() > 0 {
				g := ln.pending.front().f
				offer(waitingOne{kind: parkedEvent, level: int(ln.k.level), seq: g.seq, f: g})
			}
		}
	}
	if q.aside > 0 {
		for m := range q.boxes {
			if m.aside() == 0 {
				continue
			}
			for i := range m.levels {
				if m.inOrder && i > 0 {
					break // levels[1] holds replayed deliveries, never dropped
				}
				if m.levels[i].len() > 0 {
					d := m.levels[i].front()
					offer(waitingOne{kind: asideDelivery, level: int(d.f.prio - 1), seq: d.f.seq, box: m, boxLevel: i})
				}
			}
		}
	}
	return best
}

// unparkAllLocked takes every delivery of g that waits for its ordering
// key at level out of its stream, for the policy to drop, and returns
// them; g then no longer counts as queued.
func (q *queue) unparkAllLocked(g *flight, level int) []delivery {
	var out []delivery
	for _, ln := range q.lanes.m {
		if int(ln.k.level) == level && ln.pending.len() > 0 && ln.pending.front().f == g {
			out = append(out, ln.pending.pop())
			q.lanes.parked[level]--
			q.held--
		}
	}
	g.parked -= int32(len(out))
	if g.parked == 0 {
		q.queued--
	}
	g.mark(flightSqueezed)
	return out
}

// dropAsideLocked takes the delivery at the front of m's FIFO i out, for
// the policy to drop: m then holds one delivery fewer beyond its buffer.
func (q *queue) dropAsideLocked(m *mailbox, i int) delivery {
	before := m.aside()
	d := m.levels[i].pop()
	m.waiting--
	q.held--
	gone := before - m.aside()
	q.queued -= gone
	q.aside -= gone
	q.relistLocked(m)
	d.f.mark(flightSqueezed)
	return d
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
func (q *queue) refuseWaitersLocked() { q.endWaitsLocked(refused) }

// rerouteWaitersLocked sends every waiting publisher back to route its
// event again, when a replaying subscription is added: a waiting event
// was routed before the subscription existed and is not retained yet, so
// it would reach the subscription neither as a replay nor live. It is
// called with the lock held.
func (q *queue) rerouteWaitersLocked() { q.endWaitsLocked(rerouted) }

func (q *queue) endWaitsLocked(state waiterState) {
	for i := range q.waiters {
		for w := q.waiters[i].head; w != nil; w = q.waiters[i].head {
			q.waiters[i].remove(w)
			w.state = state
			w.ready <- struct{}{}
		}
	}
	q.nwaiting = 0
}
