package eventbus

import (
	"sync/atomic"
	"time"
)

// view is the work a worker took in one go: deliveries, run one after the
// other. It holds the deliveries of up to maxBatch events of one level
// taken from the queue, or a stolen part of another worker's view, or
// deliveries released from their lane, or deliveries of one subscription
// taken from its mailbox.
//
// Taking several events per lock acquisition is what lets a pool of
// workers keep up with fast handlers: with one event per acquisition, the
// queue's lock is taken twice per event and workers and publishers queue up
// on it. A view holds work back from other workers, and from a High
// event that arrives meanwhile, only for as long as it runs, so the number
// of events taken adapts: it doubles, up to maxBatch, while a view
// finishes within batchBudget, and falls back to one event as soon as one
// does not. Slow handlers thus run one event at a time; fast ones run up
// to maxBatch at a time, which delays a High event by at most a few
// batchBudgets.
//
// A view never strands work behind a busy worker while another is free:
// a view with deliveries left is in the queue's open list of its level,
// and a free worker takes half of what is left before it takes queued
// events of the same or a lower level (see queue.stealLocked). Each
// delivery is claimed before it runs, by its owner or by such a thief,
// with a compare-and-swap on claim, so each runs exactly once.
type view struct {
	// dl holds the deliveries. The owner writes it only under the queue's
	// lock, so that a thief can copy from it under the same lock.
	dl []delivery
	// claim packs next<<32 | end: dl[next:end] are not claimed yet. The
	// owner claims from next; a thief takes the upper half by lowering
	// end.
	claim atomic.Uint64
	i     int // index in dl of the delivery being run
	level int8
	low   bool     // the view holds a Low slot (see queue.lowCap)
	box   *mailbox // the mailbox whose slot the view holds, if any
	// A view with more than one delivery is listed in the queue's open
	// list of its level while it runs. Under the queue's lock.
	openPrev, openNext *view
	openLevel          int8 // -1 when not listed
	// target is the number of events or deliveries to take next time,
	// 1..maxBatch; began is the monotime when the worker began running
	// the view, 0 before.
	target int
	began  int64
}

const (
	// maxBatch is the most events a worker takes from the queue at once.
	maxBatch = 16
	// batchBudget is how long a view may run for the next one to grow.
	batchBudget = int64(20 * time.Microsecond)
)

// start makes dl the view's deliveries, none claimed yet. The queue's
// lock must be held.
func (v *view) start(level int) {
	v.i, v.began, v.level = 0, 0, int8(level)
	v.claim.Store(uint64(len(v.dl)))
}

// claimNext claims the view's next delivery for its owner and returns its
// index, or false when none is left (all run, or taken by a thief).
func (v *view) claimNext() (int, bool) {
	for {
		st := v.claim.Load()
		next, end := st>>32, st&(1<<32-1)
		if next >= end {
			return 0, false
		}
		if v.claim.CompareAndSwap(st, (next+1)<<32|end) {
			return int(next), true
		}
	}
}

// left returns how many deliveries are not claimed yet.
func (v *view) left() int {
	st := v.claim.Load()
	next, end := st>>32, st&(1<<32-1)
	if next >= end {
		return 0
	}
	return int(end - next)
}

// steal takes the upper half (at least one) of the view's unclaimed
// deliveries into dst and reports whether it took any. The queue's lock
// must be held: the owner writes dl only under it.
func (v *view) steal(dst *view) bool {
	for {
		st := v.claim.Load()
		next, end := st>>32, st&(1<<32-1)
		if next >= end {
			return false
		}
		mid := next + (end-next)/2
		if v.claim.CompareAndSwap(st, next<<32|mid) {
			dst.dl = append(dst.dl[:0], v.dl[mid:end]...)
			return true
		}
	}
}

// adapt sets the size of the next take from how long this view ran.
func (v *view) adapt(elapsed int64, limit int) {
	if elapsed > batchBudget {
		v.target = 1
	} else {
		v.target = min(max(2*v.target, 2), limit)
	}
}

// clear drops the references the view holds to old events. The queue's
// lock must be held.
func (v *view) clear() {
	clear(v.dl[:cap(v.dl)])
	v.dl = v.dl[:0]
}

// openList is a list of views that may have deliveries to steal, linked
// through the views.
type openList struct{ head, tail *view }

func (l *openList) push(v *view, level int) {
	v.openLevel = int8(level)
	v.openPrev, v.openNext = l.tail, nil
	if l.tail == nil {
		l.head = v
	} else {
		l.tail.openNext = v
	}
	l.tail = v
}

func (l *openList) remove(v *view) {
	if v.openPrev == nil {
		l.head = v.openNext
	} else {
		v.openPrev.openNext = v.openNext
	}
	if v.openNext == nil {
		l.tail = v.openPrev
	} else {
		v.openNext.openPrev = v.openPrev
	}
	v.openPrev, v.openNext, v.openLevel = nil, nil, -1
}
