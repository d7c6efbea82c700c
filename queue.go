package eventbus

import (
	"sync"
	"time"
)

// job is one published event on its way to its handlers.
type job struct {
	ev   Event
	subs []*Subscription // the handlers, fixed when the event was published
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
type queue struct {
	mu       sync.Mutex
	work     sync.Cond // signalled when a job is queued or the queue closes
	lv       levels
	capacity int
	policy   DropPolicy
	timeout  time.Duration
	waiters  [numLevels]waitList
	nwaiting int
	// idle is the number of workers parked on work that no Signal has
	// been sent for yet, so that a burst of pushes wakes each parked
	// worker once instead of signalling the same one again and again.
	idle   int
	closed bool
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
	q.lv.limit = cfg.StarvationLimit
	q.work.L = &q.mu
	return q
}

// pushLocked queues *j and wakes a parked worker if there is one. The lock
// must be held.
func (q *queue) pushLocked(j *job) {
	j.epoch = q.epoch
	q.admitted[q.epoch]++
	q.lv.push(j)
	if q.idle > 0 {
		q.idle--
		q.work.Signal()
	}
}

// pop waits for a job and moves it into *dst. It returns ok false once
// the queue is closed and empty: the worker must then exit. parked says
// whether the worker had to wait for the job. The slot it frees goes
// straight to the highest-priority waiting publisher, if any.
func (q *queue) pop(dst *job) (ok, parked bool) {
	q.mu.Lock()
	for q.lv.size == 0 {
		if q.closed {
			q.mu.Unlock()
			return false, parked
		}
		q.idle++
		parked = true
		q.work.Wait()
	}
	q.lv.popNextInto(dst)
	if q.nwaiting > 0 {
		q.handOffLocked()
	}
	q.mu.Unlock()
	return true, parked
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
	out := make([]job, q.lv.size)
	for i := range out {
		q.lv.popFrom(q.lv.oldest(), &out[i])
	}
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
		depth[i] = q.lv.depth(i)
	}
	return depth, q.admitted[0] + q.admitted[1], q.nwaiting
}
