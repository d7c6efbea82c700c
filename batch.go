package eventbus

import (
	"sync/atomic"
	"time"
)

// batch is the events a worker took from the queue in one go, and how many
// it will take next time.
//
// Taking several events per lock acquisition is what lets a pool of
// workers keep up with fast handlers: with one event per acquisition, the
// queue's lock is taken twice per event and workers and publishers queue up
// on it. A batch holds events back from other workers, and from a High
// event that arrives meanwhile, only for as long as the batch runs, so its
// size adapts: it doubles, up to maxBatch, while a batch finishes within
// batchBudget, and falls back to one event as soon as one does not. Slow
// handlers thus run one event at a time, exactly as without batches; fast
// ones run up to maxBatch at a time, which delays a High event by at most
// a few batchBudgets. A batch takes events of one level only, never more
// than the starvation limit allows, and leaves a share of the queue for
// parked workers.
//
// A batch never strands events behind a busy worker while another is free:
// a worker that finds nothing in the queue takes the unstarted rest of
// another worker's batch before it parks (see queue.stealLocked). Each job
// of a batch is claimed before it runs, by its owner or by such a thief,
// with a compare-and-swap on claim, so each runs exactly once.
type batch struct {
	jobs [maxBatch]job
	n    int // jobs taken
	i    int // index of the job being handled
	ran  int // jobs the owner ran, once the batch is done: jobs[:ran]
	// claim packs next<<32 | end: jobs[next:end] are not claimed yet. The
	// owner claims from next; a thief takes them all by setting end to
	// next.
	claim  atomic.Uint64
	low    bool  // the batch holds a Low slot (see queue.lowCap)
	target int   // jobs to take next time, 1..maxBatch
	used   int   // jobs[:used] may still hold old events
	began  int64 // monotime when the worker began running it; 0 before
	// A batch of more than one job is listed in the queue's open list of
	// its level while it runs, so that a free worker finds a rest to steal
	// without looking at every worker. Under the queue's lock.
	openPrev, openNext *batch
	openLevel          int8 // -1 when not listed
}

const (
	// maxBatch is the most events a worker takes at once.
	maxBatch = 16
	// batchBudget is how long a batch may run for the next one to grow.
	batchBudget = int64(20 * time.Microsecond)
)

// start makes jobs[:n] the batch, the first one claimed by its owner.
func (bt *batch) start(n int) {
	bt.n, bt.i, bt.ran, bt.began = n, 0, 0, 0
	bt.used = max(bt.used, n)
	bt.claim.Store(1<<32 | uint64(n))
}

// claimNext claims the batch's next job for its owner and returns its
// index, or false when none is left (all run, or taken by a thief).
func (bt *batch) claimNext() (int, bool) {
	if bt.n == 1 {
		return 0, false // nothing a thief could take: skip the atomics
	}
	for {
		st := bt.claim.Load()
		next, end := st>>32, st&(1<<32-1)
		if next >= end {
			return 0, false
		}
		if bt.claim.CompareAndSwap(st, (next+1)<<32|end) {
			return int(next), true
		}
	}
}

// stealable returns the index of the first unclaimed job, if any.
func (bt *batch) stealable() (int, bool) {
	st := bt.claim.Load()
	next, end := st>>32, st&(1<<32-1)
	return int(next), next < end
}

// steal takes the batch's unclaimed jobs from index next, if they are
// still unclaimed, and copies them into dst, which becomes a batch of its
// own. The queue's lock must be held: the owner writes its jobs only under
// it.
func (bt *batch) steal(next int, dst *batch) bool {
	st := bt.claim.Load()
	if int(st>>32) != next || st>>32 >= st&(1<<32-1) {
		return false
	}
	end := int(st & (1<<32 - 1))
	if !bt.claim.CompareAndSwap(st, uint64(next)<<32|uint64(next)) {
		return false
	}
	copy(dst.jobs[:], bt.jobs[next:end])
	dst.start(end - next)
	return true
}

// adapt sets the size of the next batch from how long this one ran.
func (bt *batch) adapt(elapsed int64, limit int) {
	if elapsed > batchBudget {
		bt.target = 1
	} else {
		bt.target = min(max(2*bt.target, 2), limit)
	}
}

// openList is a list of batches that may have jobs to steal, linked
// through the batches.
type openList struct{ head, tail *batch }

func (l *openList) push(bt *batch, level int) {
	bt.openLevel = int8(level)
	bt.openPrev, bt.openNext = l.tail, nil
	if l.tail == nil {
		l.head = bt
	} else {
		l.tail.openNext = bt
	}
	l.tail = bt
}

func (l *openList) remove(bt *batch) {
	if bt.openPrev == nil {
		l.head = bt.openNext
	} else {
		bt.openPrev.openNext = bt.openNext
	}
	if bt.openNext == nil {
		l.tail = bt.openPrev
	} else {
		bt.openNext.openPrev = bt.openPrev
	}
	bt.openPrev, bt.openNext, bt.openLevel = nil, nil, -1
}

// clear drops the references the batch holds to old events. The queue's
// lock must be held: the watchdog reads jobs under it.
func (bt *batch) clear() {
	clear(bt.jobs[:bt.used])
	bt.used = 0
}
