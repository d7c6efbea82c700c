package eventbus

import (
	"slices"
	"sync"
	"sync/atomic"
)

// worker is one slot of the pool. Its own fields are written only by the
// goroutine currently running the slot; the counts that Metrics and
// WaitIdle sum live in its tally shard, which it shares with few others.
type worker struct {
	// v holds the work the worker took. The worker writes its deliveries
	// only inside queue.pop, under the queue's lock, so that free workers
	// can take part of them under that lock while it runs.
	v view
	// drops holds deliveries that mailboxes dropped while the worker took
	// its work, to report after the queue's lock is released.
	drops []delivery
	// called says that the delivery at v.i was called and is not finished
	// yet (see runView); callStart is when its call began, for a
	// coalescing subscription.
	called    bool
	callStart int64
	// unmatched holds, while the worker expands events under the queue's
	// lock, one entry per delivery to a subscription that ended since the
	// publish.
	unmatched []*flight
	// id is the slot's number; it picks the tally shard and the shard of
	// every subscription's figures that the worker writes.
	id int
	// calls is odd while the worker is inside a handler call; the watchdog
	// reads it to find calls that last too long. Kept only with a watchdog,
	// like cur, the delivery of the call.
	calls atomic.Int64
	cur   current
	// detached is set by the watchdog when it replaced this worker: the
	// goroutine finishes its view and then leaves the pool.
	detached atomic.Bool
	// batches counts the views the worker took; the autoscaler reads it to
	// find workers with nothing to do, with busy.
	batches atomic.Int64
	busy    atomic.Bool
	shard   *tallyShard // where the worker counts its events, panics and waits
	pos     int         // index in pool.list, under pool.mu
	stats   workerStats

	wd       watchState // the watchdog's view of this worker, owned by it
	scale    scaleState // the autoscaler's view of this worker, owned by it
	prevBusy int64      // busy time at the monitor's last sample, under monitor.mu
	util     float64    // busy share of the monitor's last window, under monitor.mu

	_ [64]byte // keep the next worker's hot fields off this cache line
}

// current is the delivery a watched worker is calling, for the watchdog's
// report: a copy of the event, since the event's memory is recycled once
// its deliveries are done.
type current struct {
	mu  sync.Mutex
	ev  Event
	sub *Subscription
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
		w.v.openLevel = -1
		w.id = p.nextID
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
	done [2]atomic.Int64
	// doneLv counts the same events per level, for Metrics.
	doneLv [numLevels]atomic.Int64
	// replayDone counts replayed events finished, per WaitIdle parity.
	replayDone [2]atomic.Int64
	panics     atomic.Int64
	waits      waitCounts
	_          [64]byte // keep the next shard off this cache line
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

func (t *tally) processedByLevel() (n [numLevels]int64) {
	for i := range t.shards {
		for lv := range n {
			n[lv] += t.shards[i].doneLv[lv].Load()
		}
	}
	return n
}

func (t *tally) replayed(par int) int64 {
	var n int64
	for i := range t.shards {
		n += t.shards[i].replayDone[par].Load()
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
