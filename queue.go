package eventbus

import (
	"sync"
	"time"
)

// job is one published event on its way to its handlers.
type job struct {
	ev Event
	// typed and all are the handlers, fixed when the event was published:
	// those of its type, then the OnAll ones.
	typed, all []*Subscription
	key        string // Config.OrderingKey of the event; "" when unordered
	// enqueued is the monotonic time of the publish in nanoseconds (see
	// monotime), or 0 when monitoring is off.
	enqueued int64
	seq      uint64 // queue order across levels, for DropOldest
	prio     Priority
	epoch    uint8 // WaitIdle generation parity; see EventBus.WaitIdle
}

// queue is the bounded, prioritised hand-over between publishers and
// workers. One mutex guards it; every critical section is a few ring
// operations long and never calls user code.
//
// Queued jobs are either runnable, in the rings of lv, or parked behind an
// earlier job of their ordered stream, in lanes. capacity bounds the two
// together.
type queue struct {
	mu    sync.Mutex
	work  sync.Cond // signalled when a job becomes runnable or the queue closes
	lv    levels
	lanes lanes
	// halfFull is called, outside the lock, when a publish leaves the queue
	// more than half full; a dynamic pool's scaler listens. nil otherwise.
	halfFull func()
	// open lists, per level, the batches that may have unstarted jobs a
	// free worker can steal (see stealLocked).
	open     [numLevels]openList
	queued   int // jobs runnable or parked
	capacity int
	policy   DropPolicy
	timeout  time.Duration
	waiters  [numLevels]waitList
	nwaiting int
	// runningLow counts the Low jobs that workers are running, which may
	// not exceed lowCap(): the other members are reserved for Medium and
	// High events. members counts the workers taking events (a stuck one
	// that was replaced no longer does), reserved is
	// Config.ReservedWorkers.
	runningLow int
	members    int
	reserved   int
	// idle is the number of workers parked on work that no Signal has
	// been sent for yet, so that a burst of pushes wakes each parked
	// worker once instead of signalling the same one again and again.
	idle   int
	closed bool
	// retiring is the number of workers asked to leave the pool at their
	// next pop, to shrink it.
	retiring int
	// epoch is the parity of the current WaitIdle generation; admitted
	// counts the jobs ever queued under each parity.
	epoch    uint8
	admitted [2]int64
}

func newQueue(cfg *Config) *queue {
	q := &queue{
		capacity: cfg.QueueSize,
		policy:   cfg.BackpressureMode,
		timeout:  cfg.TimeoutDuration,
	}
	q.members, q.reserved = cfg.Workers, cfg.ReservedWorkers
	q.lv.limit = cfg.StarvationLimit
	q.work.L = &q.mu
	return q
}

// admitLocked queues a new job: runnable, or parked behind an earlier job
// of its stream. The lock must be held and there must be room.
func (q *queue) admitLocked(j *job) {
	j.epoch = q.epoch
	q.admitted[q.epoch]++
	q.queued++
	q.lv.stamp(j)
	if j.key != "" && q.lanes.park(j) {
		return
	}
	q.runnableLocked(j)
}

// runnableLocked puts j in its ring and wakes a parked worker that may take
// it. The lock must be held.
func (q *queue) runnableLocked(j *job) {
	q.lv.push(j)
	if q.idle > 0 && (j.prio != PriorityLow || q.lowAllowed()) {
		q.idle--
		q.work.Signal()
	}
}

// popResult says what a worker got from pop.
type popResult uint8

const (
	popJob      popResult = iota // a job, in the worker's batch
	popClosed                    // the queue is closed and empty: exit
	popRetire                    // the pool shrinks: leave it
	popDetached                  // the watchdog replaced the worker: leave
)

// lowCap is the number of workers that may run Low events at once: all
// members but the reserved ones, and at least one, however small a
// dynamic pool is.
func (q *queue) lowCap() int { return q.members - min(q.reserved, q.members-1) }

// lowAllowed reports whether a free worker may take a Low job now.
func (q *queue) lowAllowed() bool { return q.runningLow < q.lowCap() }

// pop gives back what the worker's previous batch held (if giveLow, its
// Low slot), then waits for work the worker may run and
// takes a batch of it into w.bt: the head of the level a free worker must
// serve, and with it up to bt.target-1 more jobs of that level while
// handlers are fast (see batch). A worker asked to retire leaves between
// batches, never with one in hand. parked says whether the worker had to
// wait. The slots it frees go straight to the highest-priority waiting
// publishers, if any.
func (q *queue) pop(w *worker, giveLow bool) (got popResult, parked bool) {
	bt := &w.bt
	q.mu.Lock()
	q.releaseLocked(bt, giveLow)
	// The watchdog marks a worker detached under q.mu, and only while the
	// worker is inside a handler call: looking here, under the lock, a
	// worker cannot miss the mark and go on taking events uncounted.
	if w.detached.Load() {
		q.wakeLocked() // its streams may have made work runnable
		q.mu.Unlock()
		return popDetached, false
	}
	var i int
	for {
		// A worker leaves only if the reserved capacity survives it: while
		// more workers run Low events than the smaller pool allows, the
		// free one stays and those leave as their events end.
		if q.retiring > 0 && !q.closed && q.members-1-q.runningLow >= min(q.reserved, q.members-1) {
			q.retiring--
			q.members--
			q.mu.Unlock()
			return popRetire, parked
		}
		if i = q.lv.next(q.lowAllowed()); i >= 0 {
			break
		}
		if q.stealLocked(bt) {
			q.mu.Unlock()
			return popJob, parked
		}
		if q.closed && q.queued == 0 {
			// Workers may be parked although the queue was not empty
			// (Low events waiting for a Low slot): wake them all to exit.
			q.idle = 0
			q.work.Broadcast()
			q.mu.Unlock()
			return popClosed, parked
		}
		if !parked {
			bt.clear() // hold no reference to old events while idle
		}
		q.idle++
		parked = true
		q.work.Wait()
	}
	// Take one job, plus more of the same level if handlers are fast, but
	// leave a share for workers that are parked.
	k := max(1, min(bt.target, q.lv.depth(i)/(q.idle+1)))
	bt.start(q.lv.popBatch(i, bt.jobs[:k]))
	q.queued -= bt.n
	bt.low = i == lowLevel
	if bt.low {
		q.runningLow++
	}
	if bt.n > 1 {
		q.open[i].push(bt, i)
	}
	for k := 0; k < bt.n && q.nwaiting > 0; k++ {
		q.handOffLocked()
	}
	// More may be runnable than this worker takes: a released stream or
	// Low slot can make work for a worker that is parked.
	q.wakeLocked()
	q.mu.Unlock()
	return popJob, parked
}

// wakeLocked wakes a parked worker if there is work it may take. The lock
// must be held.
func (q *queue) wakeLocked() {
	if q.idle > 0 && q.lv.next(q.lowAllowed()) >= 0 {
		q.idle--
		q.work.Signal()
	}
}

// join counts n workers that start taking events. Members more may raise
// lowCap, making queued Low jobs runnable for a worker that is parked,
// possibly a new one itself, which may have looked before it counted.
func (q *queue) join(n int) {
	if n == 0 {
		return
	}
	q.mu.Lock()
	q.members += n
	q.wakeLocked()
	q.mu.Unlock()
}

// retire asks n workers to leave the pool between events. It wakes up to
// n parked workers, the idle ones, to leave first; busy ones leave at
// their next pop. Waking only as many as must leave keeps a large pool's
// shrink proportional to the change.
func (q *queue) retire(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.retiring += n
	for k := 0; k < n && q.idle > 0; k++ {
		q.idle--
		q.work.Signal()
	}
}

// unretire withdraws up to n requests to leave that no worker has taken
// yet, and returns how many it withdrew.
func (q *queue) unretire(n int) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := min(n, q.retiring)
	q.retiring -= k
	return k
}

// releaseLocked takes a finished batch off the open list and, if giveLow,
// gives back its Low slot.
func (q *queue) releaseLocked(bt *batch, giveLow bool) {
	if giveLow {
		q.runningLow--
	}
	if bt.openLevel >= 0 {
		q.open[bt.openLevel].remove(bt)
	}
	bt.n, bt.ran = 0, 0
}

// stealLocked takes into bt the unstarted rest of the batch of a worker
// that is busy with an earlier event of it, for a worker that found
// nothing in the queue: the highest level such a rest holds, as a free
// worker takes from the queue. It reports whether it took anything. It
// looks only at the open lists, and drops from them the batches it finds
// with nothing left, so a steal costs O(1) amortised however large the
// pool.
func (q *queue) stealLocked(bt *batch) bool {
	for lv := numLevels - 1; lv >= 0; lv-- {
		if lv == lowLevel && !q.lowAllowed() {
			continue
		}
		l := &q.open[lv]
		for v := l.head; v != nil; {
			next := v.openNext
			if v == bt {
				v = next
				continue
			}
			from, ok := v.stealable()
			if !ok {
				// Nothing left to steal: the owner claimed it all.
				l.remove(v)
				v = next
				continue
			}
			if !v.steal(from, bt) {
				continue // the owner claimed a job meanwhile: look again
			}
			bt.low = lv == lowLevel
			if bt.low {
				q.runningLow++
			}
			if bt.n > 1 {
				l.push(bt, lv)
			}
			return true
		}
	}
	return false
}

// releaseStream ends j's turn in its ordered stream as soon as j's
// handlers have run, so that the stream's next event may start on any
// free worker even while this worker goes on to a handler that blocks.
func (q *queue) releaseStream(j *job) {
	q.mu.Lock()
	q.releaseStreamLocked(j)
	q.mu.Unlock()
}

// releaseStreamLocked makes the next parked job of j's stream runnable, or
// forgets the stream.
func (q *queue) releaseStreamLocked(j *job) {
	var next job
	if q.lanes.release(j, &next) {
		q.runnableLocked(&next)
	}
}

// releaseLow gives back the Low slot of a worker declared stuck, at once,
// so that its replacement may run Low events; the worker gives back its
// streams at its next pop, when its handler returns.
func (q *queue) releaseLow() {
	q.mu.Lock()
	q.runningLow--
	q.wakeLocked() // the freed slot may make work runnable
	q.mu.Unlock()
}

// evictLocked removes the job of level i that was queued first into *dst,
// whether it is runnable or parked behind an earlier job of its stream.
// The level must hold a job. A runnable job's stream moves on to its next
// event, so a drop never stalls a key.
func (q *queue) evictLocked(i int, dst *job) {
	q.queued--
	parked, ok := q.lanes.oldestParkedSeq(i)
	if q.lv.depth(i) > 0 && (!ok || q.lv.rings[i].front().seq < parked) {
		q.lv.popFrom(i, dst)
		if dst.key != "" {
			q.releaseStreamLocked(dst)
		}
		return
	}
	q.lanes.oldestParked(i, dst)
}

// depthLocked returns the jobs queued at level i, runnable or parked.
func (q *queue) depthLocked(i int) int { return q.lv.depth(i) + q.lanes.parked[i] }

// oldestLocked returns the level of the job that was queued first,
// runnable or parked. The queue must not be empty.
func (q *queue) oldestLocked() int {
	best, bestSeq := -1, uint64(0)
	for i := 0; i < numLevels; i++ {
		seq, ok := q.lanes.oldestParkedSeq(i)
		if q.lv.depth(i) > 0 && (!ok || q.lv.rings[i].front().seq < seq) {
			seq, ok = q.lv.rings[i].front().seq, true
		}
		if ok && (best < 0 || seq < bestSeq) {
			best, bestSeq = i, seq
		}
	}
	return best
}

// lowestLocked returns the lowest level that holds a job. The queue must
// not be empty.
func (q *queue) lowestLocked() int {
	for i := 0; i < numLevels; i++ {
		if q.depthLocked(i) > 0 {
			return i
		}
	}
	return numLevels - 1
}

// close stops intake: later puts fail with ErrEventBusShutdown, waiting
// publishers are refused, and parked workers wake to drain what is queued
// and then exit.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.refuseWaitersLocked()
	q.idle = 0
	q.work.Broadcast()
	q.mu.Unlock()
}

// removeAll empties the queue and returns what it held, for a shutdown
// whose deadline passed.
func (q *queue) removeAll() []job {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]job, 0, q.queued)
	for i := 0; i < numLevels; i++ {
		for q.lv.depth(i) > 0 {
			var j job
			q.lv.popFrom(i, &j)
			out = append(out, j)
		}
	}
	out = q.lanes.removeAll(out)
	q.queued = 0
	q.idle = 0
	q.work.Broadcast() // parked workers exit now that nothing is left
	return out
}

// nextEpoch starts a new WaitIdle generation and returns the parity of the
// one it ended with the number of jobs ever queued under that parity.
func (q *queue) nextEpoch() (parity uint8, admitted int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	parity = q.epoch
	q.epoch ^= 1
	return parity, q.admitted[parity]
}

// epochParity returns the parity of the current WaitIdle generation.
func (q *queue) epochParity() uint8 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.epoch
}

// admittedIn returns the number of jobs ever queued under parity p.
func (q *queue) admittedIn(p uint8) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.admitted[p]
}

// counts returns the number of queued jobs per level, Low first, the
// number of jobs ever queued, and the number of waiting publishers.
func (q *queue) counts() (depth [numLevels]int, admitted int64, waiting int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range depth {
		depth[i] = q.depthLocked(i)
	}
	return depth, q.admitted[0] + q.admitted[1], q.nwaiting
}

// nsubs returns the number of handlers of j.
func (j *job) nsubs() int { return len(j.typed) + len(j.all) }

// sub returns j's i-th handler: typed ones first, then OnAll ones.
func (j *job) sub(i int) *Subscription {
	if i < len(j.typed) {
		return j.typed[i]
	}
	return j.all[i-len(j.typed)]
}
