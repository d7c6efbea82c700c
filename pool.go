package eventbus

import (
	"errors"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
)

// ErrHandlerExited is what Config.OnPanic receives as the recovered value
// when a handler called runtime.Goexit. The goroutine it ran on ends; a
// fresh worker takes its place and carries on with the event's next handler.
var ErrHandlerExited = errors.New("eventbus: handler called runtime.Goexit")

// worker is one slot of the pool. Its own fields are written only by the
// goroutine currently running the slot; the counts that Metrics and
// WaitIdle sum live in its tally shard, which it shares with few others.
type worker struct {
	// bt holds the events the worker took. The worker writes its jobs only
	// inside queue.pop, under the queue's lock, so the watchdog can read
	// them under that lock while the worker is stuck in a handler.
	bt batch
	// curIdx is the index in cur() of the handler being run, so that
	// a replacement can carry on after a handler called runtime.Goexit.
	curIdx int
	// running is the subscription whose handler this worker runs now, so
	// that Subscription.Done can tell when a handler has stopped for good.
	running atomic.Pointer[Subscription]
	// calls is odd while the worker is inside a handler call; the watchdog
	// reads it to find calls that last too long. Kept only with a watchdog.
	calls atomic.Int64
	// lowHeld is the sequence number of the first job of the Low batch
	// whose slot (see queue.lowCap) this worker holds, or 0. The worker and the watchdog
	// take it with an atomic swap, so the slot is given back exactly once.
	lowHeld atomic.Uint64
	// detached is set by the watchdog when it replaced this worker: the
	// goroutine finishes its event and then leaves the pool.
	detached atomic.Bool
	// batches counts the batches the worker took; the scaler reads it to
	// find workers with nothing to do.
	batches atomic.Int64
	shard   *tallyShard // where the worker counts its events, panics and waits
	pos     int         // index in pool.list, under pool.mu
	stats   workerStats

	wd       watchState // the watchdog's view of this worker, owned by it
	scale    scaleState // the scaler's view of this worker, owned by it
	prevBusy int64      // busy time at the monitor's last sample, under monitor.mu
	util     float64    // busy share of the monitor's last window, under monitor.mu

	_ [64]byte // keep the next worker's hot fields off this cache line
}

// pool is the set of worker slots. A slot's goroutine is replaced when a
// handler calls runtime.Goexit (same slot) or when the watchdog declares it
// stuck (new slot). Adding or removing a slot costs O(1) under mu, which
// only slot changes and the first reader after a change take: the
// workers never do. Readers get a copy of the list that is made once per
// change, so that a pool of tens of thousands of workers starts, shrinks
// and reports its figures in time proportional to its size, never to its
// square.
type pool struct {
	mu     sync.Mutex
	list   []*worker                 // the slots, in no order; under mu
	view   atomic.Pointer[[]*worker] // a copy of list for readers; nil after a change
	nextID int                       // slots ever added, under mu
	tally  tally
	// live counts the goroutines running a worker slot; it changes under
	// mu, so that no worker starts after the last one has stopped the pool.
	live    atomic.Int32
	stopped chan struct{} // closed when the last worker goroutine exits
}

// enter counts a new worker goroutine, unless the pool has stopped.
func (p *pool) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.stopped:
		return false
	default:
	}
	p.live.Add(1)
	return true
}

// leave uncounts a worker goroutine; the last one out stops the pool. Only
// a shutdown lets the count reach zero: a worker that is replaced, by the
// watchdog or after runtime.Goexit, counts its replacement in before it
// may leave, and resizing never goes below one.
func (p *pool) leave() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.live.Add(-1) == 0 {
		close(p.stopped)
	}
}

// slots returns the current slots; the caller must not modify the slice.
func (p *pool) slots() []*worker {
	if v := p.view.Load(); v != nil {
		return *v
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if v := p.view.Load(); v != nil {
		return *v
	}
	v := slices.Clone(p.list)
	p.view.Store(&v)
	return v
}

// add appends n new slots and returns them.
func (p *pool) add(n int) []*worker {
	ws := make([]worker, n)
	out := make([]*worker, n)
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range ws {
		w := &ws[i]
		w.bt.openLevel = -1
		w.shard = p.tally.shard(p.nextID)
		p.nextID++
		w.pos = len(p.list)
		p.list = append(p.list, w)
		out[i] = w
	}
	p.view.Store(nil)
	return out
}

// retire removes the slot of a worker that left the pool. Its counts stay
// in its tally shard.
func (p *pool) retire(w *worker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	last := p.list[len(p.list)-1]
	p.list[w.pos], last.pos = last, w.pos
	p.list[len(p.list)-1] = nil
	p.list = p.list[:len(p.list)-1]
	p.view.Store(nil)
}

// running reports whether some worker is running s's handler now.
func (p *pool) running(s *Subscription) bool {
	for _, w := range p.slots() {
		if w.running.Load() == s {
			return true
		}
	}
	return false
}

// processed returns the events finished under WaitIdle parity par, or under
// both parities when par is -1.
func (p *pool) processed(par int) int64 { return p.tally.processed(par) }

// tally holds the counts that WaitIdle and Metrics sum over the pool:
// finished events per WaitIdle parity, panics, and the wait histograms.
// Worker i counts into shard i mod len(shards): with a few more shards
// than CPUs, workers running at the same moment rarely share a cache line,
// and a sum reads a few shards instead of every worker.
type tally struct {
	shards []tallyShard
}

type tallyShard struct {
	done   [2]atomic.Int64
	panics atomic.Int64
	waits  waitCounts
	_      [64]byte // keep the next shard off this cache line
}

// init makes the shards: four per CPU, a power of two from 4 to 64.
func (t *tally) init(cpus int) {
	n := 4
	for n < 4*cpus && n < 64 {
		n *= 2
	}
	t.shards = make([]tallyShard, n)
}

func (t *tally) shard(id int) *tallyShard { return &t.shards[id&(len(t.shards)-1)] }

func (t *tally) processed(par int) int64 {
	var n int64
	for i := range t.shards {
		for k := 0; k < 2; k++ {
			if par == -1 || par == k {
				n += t.shards[i].done[k].Load()
			}
		}
	}
	return n
}

func (t *tally) panics() int64 {
	var n int64
	for i := range t.shards {
		n += t.shards[i].panics.Load()
	}
	return n
}

func (t *tally) waitTotals() waitTotals {
	var w waitTotals
	for i := range t.shards {
		w.add(&t.shards[i].waits)
	}
	return w
}

// startWorker runs slot w on a new goroutine. resume means the slot's
// previous goroutine ended inside a handler of w.cur, which the new one
// must finish first. It reports false, starting nothing, once the pool has
// stopped.
func (b *EventBus) startWorker(w *worker, resume bool) bool {
	if !b.pool.enter() {
		return false
	}
	go b.runWorker(w, resume)
	return true
}

// addWorkers starts up to n workers in new slots, fewer once the pool has
// stopped, and returns how many it started.
func (b *EventBus) addWorkers(n int) int {
	started := 0
	for _, w := range b.pool.add(n) {
		if !b.startWorker(w, false) {
			b.pool.retire(w)
			continue
		}
		started++
	}
	b.q.join(started)
	return started
}

// bump adds one to a counter that only one goroutine writes (a worker's
// own): a load and a plain store instead of a locked add, while readers on
// other goroutines still read it atomically.
func bump(c *atomic.Int64) { c.Store(c.Load() + 1) }

// cur returns the event being handled.
func (w *worker) cur() *job { return &w.bt.jobs[w.bt.i] }

func (b *EventBus) runWorker(w *worker, resume bool) {
	exited := true
	defer func() {
		if exited {
			if r := recover(); r != nil {
				panic(r) // not a handler's: those are recovered in invoke
			}
			// A handler called runtime.Goexit, which no one can stop:
			// this goroutine ends here. A replacement keeps the pool at
			// full strength and finishes the batch.
			b.afterInvoke(w, w.cur().sub(w.curIdx))
			b.startWorker(w, true)
		}
		b.pool.leave()
	}()
	giveLow := false
	if resume {
		giveLow = b.runBatch(w, w.curIdx+1)
	}
	for {
		switch got, _ := b.q.pop(w, giveLow); got {
		case popClosed:
			exited = false
			return
		case popRetire:
			// The pool shrinks: this worker is idle and leaves.
			b.pool.retire(w)
			exited = false
			return
		case popDetached:
			// The watchdog replaced this worker while it was stuck; its
			// handler has returned and pop took back its streams.
			b.pool.retire(w)
			b.wd.workerLeft()
			exited = false
			return
		}
		if w.bt.low {
			w.lowHeld.Store(w.bt.jobs[0].seq)
		}
		bump(&w.batches)
		giveLow = b.runBatch(w, 0)
	}
}

// runBatch handles the worker's batch from its current job on, starting
// that job at handler index from, and sizes the next batch. A replacement
// goroutine resumes the batch of one whose handler called runtime.Goexit:
// the batch is then timed from when it began, and the current job's wait,
// recorded already, is not recorded again. It reports whether the worker
// must give back the batch's Low slot: the watchdog may have done so
// already.
func (b *EventBus) runBatch(w *worker, from int) (giveLow bool) {
	bt := &w.bt
	timed := b.mon != nil || b.batchLimit > 1
	resumed := bt.began != 0
	if timed && !resumed {
		bt.began = monotime()
		if b.mon != nil {
			w.stats.beginBatch(bt.began)
		}
	}
	start := bt.began
	for {
		j := &bt.jobs[bt.i]
		if b.mon != nil && !resumed {
			w.shard.waits.record(j, start)
		}
		resumed = false
		b.dispatch(w, j, from)
		if j.key != "" {
			b.q.releaseStream(j)
		}
		from = 0
		next, ok := bt.claimNext()
		if !ok {
			break
		}
		b.handled(w, j)
		bt.i = next
	}
	bt.ran = bt.i + 1 // a thief took the rest, if any
	if timed {
		now := monotime()
		if b.mon != nil {
			w.stats.endBatch(start, now, bt.ran)
		}
		bt.adapt(now-start, b.batchLimit)
	}
	// The batch's last event counts as handled only now, after its timing
	// is recorded, so that Metrics read after WaitIdle includes it.
	b.handled(w, &bt.jobs[bt.i])
	return bt.low && w.lowHeld.CompareAndSwap(bt.jobs[0].seq, 0)
}

// handled counts j as processed, after its handlers have run.
func (b *EventBus) handled(w *worker, j *job) {
	w.shard.done[j.epoch].Add(1)
	b.notifyIdle()
}

// dispatch runs the handlers of j from index from on; runBatch counts the
// event as processed.
func (b *EventBus) dispatch(w *worker, j *job, from int) {
	for i := from; i < j.nsubs(); i++ {
		s := j.sub(i)
		w.curIdx = i
		// Publish which handler runs before checking that it is still
		// subscribed: Unsubscribe clears active before it looks at
		// running, so one of the two sides always sees the other.
		w.running.Store(s)
		if s.enter() {
			b.invoke(w, s, j)
		}
		b.afterInvoke(w, s)
	}
}

func (b *EventBus) afterInvoke(w *worker, s *Subscription) {
	w.running.Store(nil)
	if !s.active.Load() {
		s.releaseIfIdle()
	}
}

// invoke runs one handler and contains whatever it does: a panic is
// recovered and reported; runtime.Goexit is reported and then let through.
func (b *EventBus) invoke(w *worker, s *Subscription, j *job) {
	watched := b.wd != nil
	if watched {
		bump(&w.calls) // odd: inside a call
	}
	returned := false
	defer func() {
		if watched {
			bump(&w.calls)
		}
		if !returned {
			b.handlerFailed(w, j, recover())
		}
	}()
	s.leave()
	s.handler(j.ev)
	returned = true
}

// handlerFailed counts a handler that did not return normally and passes
// it to Config.OnPanic. recovered is nil when the handler called
// runtime.Goexit: a panic, even panic(nil), recovers as a non-nil value.
func (b *EventBus) handlerFailed(w *worker, j *job, recovered any) {
	w.shard.panics.Add(1)
	if recovered == nil {
		recovered = ErrHandlerExited
	}
	if b.cfg.OnPanic == nil {
		return
	}
	stack := debug.Stack()
	defer func() { _ = recover() }() // a failing hook must not take the worker down
	b.cfg.OnPanic(j.ev, recovered, stack)
}
