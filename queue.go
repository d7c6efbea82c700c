package eventbus

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// queue is the bounded, prioritised hand-over between publishers and
// workers, and everything a free worker may take: queued events, the
// unclaimed deliveries of events other workers took (open views), the
// deliveries waiting in the mailboxes of subscriptions with a free slot,
// and deliveries that their ordered stream let go. One mutex guards it all;
// every critical section is a few list operations long and never calls
// user code.
type queue struct {
	mu   sync.Mutex
	work sync.Cond // signalled when work becomes runnable or the queue closes
	lv   levels    // queued events
	// open lists, per level, the views that may have deliveries to steal.
	open [numLevels]openList
	// ready lists, per level, the mailboxes with waiting deliveries and a
	// free slot, by their highest waiting level.
	ready [numLevels]mailboxList
	// released holds, per level, deliveries to subscriptions without a
	// mailbox whose ordered stream let them go.
	released [numLevels]fifo[delivery]
	lanes    lanes
	// halfFull is called, outside the lock, when a publish leaves the queue
	// more than half full; a dynamic pool's autoscaler listens. nil otherwise.
	halfFull func()
	// queued counts what takes room in the queue: events in lv, events
	// with deliveries waiting for their ordering key (see flight.parked),
	// and the deliveries that Block mailboxes set aside beyond their
	// buffer, of which there are aside.
	queued   int
	aside    int
	capacity int
	// held counts deliveries not on a worker yet: in mailboxes, lanes and
	// released. The workers exit at shutdown once nothing is queued or held.
	held     int
	policy   DropPolicy
	timeout  time.Duration
	waiters  [numLevels]waitList
	nwaiting int
	// runningLow counts the views of Low work that workers hold, which may
	// not exceed lowCap(): the other members are reserved for Medium and
	// High events. members counts the workers taking work (a stuck one
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
	// counts the events ever queued under each parity.
	epoch    uint8
	admitted [2]int64
	// admittedLv counts the events ever queued per level.
	admittedLv [numLevels]int64
	// replayGen changes, under the lock, whenever a replaying subscription
	// is added; see put.
	replayGen atomic.Uint64
	// boxes holds the mailboxes of the subscriptions that have not ended.
	boxes map[*mailbox]struct{}
	// timers fires when coalescing keys' windows end; timed counts the
	// deliveries waiting for their key's window, which the workers wait
	// for at shutdown.
	timers timers
	timed  int
	// flushing is set once a shutdown has drained all but the deliveries
	// waiting for their coalescing windows, which then go at once.
	flushing bool
	// replayed counts the replayed events handed to subscriptions, per
	// WaitIdle parity.
	replayed [2]int64
	// admitDrops collects deliveries that replaying subscriptions' buffers
	// dropped while events were admitted, for whoever holds the lock to
	// report after releasing it.
	admitDrops []delivery
	bus        *EventBus
}

// errRouteChanged makes a publisher route its event again (see put).
var errRouteChanged = errors.New("eventbus: subscriptions changed")

func newQueue(b *EventBus) *queue {
	cfg := &b.cfg
	q := &queue{
		capacity: cfg.QueueSize,
		policy:   cfg.BackpressureMode,
		timeout:  cfg.TimeoutDuration,
		boxes:    make(map[*mailbox]struct{}),
		bus:      b,
	}
	q.members, q.reserved = cfg.Workers, cfg.ReservedWorkers
	q.lv.limit = cfg.StarvationLimit
	q.work.L = &q.mu
	q.timers.armedAt = math.MaxInt64
	q.timers.fire = q.fireTimers
	return q
}

// admitLocked queues a new event. The lock must be held and there must be
// room.
func (q *queue) admitLocked(f *flight) {
	f.epoch = q.epoch
	q.admitted[q.epoch]++
	q.admittedLv[f.prio-1]++
	q.queued++
	q.lv.stamp(f)
	if r := q.bus.retain; r != nil {
		r.admitted(f)
	}
	if len(f.early) > 0 {
		q.handOverLocked(f)
	}
	q.lv.push(f)
	q.signalLocked(int(f.prio - 1))
}

// handOverLocked gives f, as it is admitted, to the replaying
// subscriptions it goes to, so that each gets its events in admission
// order. One that ended since the publish gets it at expansion like any
// other, as a delivery that is not matched. The queue holds f by one more
// count in f.remaining until a worker takes it, so that these deliveries
// cannot finish it while it is still queued.
func (q *queue) handOverLocked(f *flight) {
	for i := 0; i < len(f.early); {
		if f.early[i].closed.Load() {
			last := len(f.early) - 1
			f.early[i], f.early[last] = f.early[last], nil
			f.early = f.early[:last]
			f.nonEarly++
			continue
		}
		i++
	}
	if len(f.early) == 0 {
		return
	}
	f.remaining.Add(1)
	for _, s := range f.early {
		s.stats.shards[0].matched.Add(1)
		q.admitDrops = q.pushBoxLocked(delivery{f, s}, q.admitDrops)
	}
}

// signalLocked wakes a parked worker for new work at level i, if one may
// take it. The lock must be held.
func (q *queue) signalLocked(i int) {
	if q.idle > 0 && (i != lowLevel || q.lowAllowed()) {
		q.idle--
		q.work.Signal()
	}
}

// popResult says what a worker got from pop.
type popResult uint8

const (
	popWork     popResult = iota // work, in the worker's view
	popClosed                    // the queue is closed and empty: exit
	popRetire                    // the pool shrinks: leave it
	popDetached                  // the watchdog replaced the worker: leave
)

// lowCap is the number of workers that may run Low work at once: all
// members but the reserved ones, and at least one, however small a
// dynamic pool is.
func (q *queue) lowCap() int { return q.members - min(q.reserved, q.members-1) }

// lowAllowed reports whether a free worker may take Low work now.
func (q *queue) lowAllowed() bool { return q.runningLow < q.lowCap() }

// workLocked says which levels have work, and which of those a free
// worker may take now.
func (q *queue) workLocked(has, runnable *[numLevels]bool) (any bool) {
	lowOK := q.lowAllowed()
	for i := range has {
		has[i] = q.lv.depth(i) > 0 || q.open[i].head != nil || q.ready[i].head != nil || q.released[i].len() > 0
		runnable[i] = has[i] && (i != lowLevel || lowOK)
		any = any || has[i]
	}
	return any
}

// pop gives back what the worker's previous view held, then waits for work
// the worker may run and takes it into w.v: from the level a free worker
// must serve (see levels.choose), the unclaimed half of another worker's
// view first, then released deliveries, then a ready mailbox, then queued
// events. A worker asked to retire leaves between views, never with one
// in hand. Deliveries that a mailbox dropped on the way are left in
// w.drops for the worker to report outside the lock.
func (q *queue) pop(w *worker) popResult {
	v := &w.v
	q.mu.Lock()
	q.releaseLocked(v)
	// The watchdog marks a worker detached under q.mu, and only while the
	// worker is inside a handler call: looking here, under the lock, a
	// worker cannot miss the mark and go on taking work uncounted.
	if w.detached.Load() {
		q.wakeLocked()
		q.mu.Unlock()
		return popDetached
	}
	parked := false
	for {
		// A worker leaves only if the reserved capacity survives it: while
		// more workers run Low work than the smaller pool allows, the free
		// one stays and those leave as their views end.
		if q.retiring > 0 && !q.closed && q.members-1-q.runningLow >= min(q.reserved, q.members-1) {
			q.retiring--
			q.members--
			// Leaving may free the Low slot that work was waiting for.
			q.wakeLocked()
			q.mu.Unlock()
			return popRetire
		}
		var has, runnable [numLevels]bool
		anyWork := q.workLocked(&has, &runnable)
		if i, starved := q.lv.choose(&has, &runnable); i >= 0 {
			if n := q.takeLocked(w, i, starved, &has); n > 0 {
				q.lv.served(i, n, &has)
				break
			}
			continue // only views with nothing left to steal were listed
		}
		if q.closed && !anyWork && q.timed > 0 && !q.flushing {
			w.drops = append(w.drops, q.flushCoalescersLocked()...)
			continue
		}
		if q.closed && !anyWork && q.timed == 0 {
			// Workers may be parked although work is left (Low work
			// waiting for a Low slot): wake them all to exit.
			q.idle = 0
			q.work.Broadcast()
			q.mu.Unlock()
			return popClosed
		}
		if !parked {
			v.clear() // hold no reference to old events while idle
		}
		q.idle++
		parked = true
		q.work.Wait()
	}
	q.fillRoomLocked()
	w.drops = append(w.drops, q.admitDrops...)
	clear(q.admitDrops)
	q.admitDrops = q.admitDrops[:0]
	// More may be runnable than this worker takes.
	q.wakeLocked()
	q.mu.Unlock()
	return popWork
}

// takeAdmitDrops returns the deliveries dropped at admission (see
// admitDrops). The lock must be held.
func (q *queue) takeAdmitDrops() []delivery {
	if len(q.admitDrops) == 0 {
		return nil
	}
	d := q.admitDrops
	q.admitDrops = nil
	return d
}

// takeLocked takes work of level i into the worker's view and returns the
// number of dispatches it counts for (events taken from the queue, or one),
// or 0 when level i had nothing after all. A starvation turn takes one
// event or delivery.
func (q *queue) takeLocked(w *worker, i int, starved bool, has *[numLevels]bool) int {
	v := &w.v
	limit := max(v.target, 1)
	if starved {
		limit = 1
	}
	n := 0
	switch {
	case q.stealLocked(v, i):
		n = 1
	case q.released[i].len() > 0:
		v.dl = v.dl[:0]
		for len(v.dl) < limit && q.released[i].len() > 0 {
			v.dl = append(v.dl, q.released[i].pop())
		}
		q.held -= len(v.dl)
		n = 1
	case q.ready[i].head != nil:
		// One delivery: the others keep waiting in the mailbox, where its
		// buffer's policy still applies to them.
		m := q.ready[i].head
		v.dl = growTo(v.dl, 1)
		k, unAside := m.take(v.dl)
		v.dl = v.dl[:k]
		q.held -= k
		q.queued -= unAside
		q.aside -= unAside
		m.running++
		v.box = m
		q.relistLocked(m)
		if m.sub.co != nil {
			d := v.dl[0]
			v.dl[0] = q.takenLocked(w, d, d.f.coalesceKeyOf(d.s))
			q.releaseUnmatched(w)
		}
		n = 1
	case q.lv.depth(i) > 0:
		// Take one event, plus more of the same level if handlers are
		// fast, but leave a share for workers that are parked.
		k := max(1, min(limit, q.lv.batchLimit(i, has), q.lv.depth(i)/(q.idle+1)))
		v.dl = v.dl[:0]
		q.expandLocked(w, i, k)
		q.queued -= k
		n = k
	default:
		return 0
	}
	v.start(i)
	v.low = i == lowLevel
	if v.low {
		q.runningLow++
	}
	if len(v.dl) > 1 && v.box == nil {
		q.open[i].push(v, i)
	}
	return n
}

func growTo(dl []delivery, n int) []delivery {
	if cap(dl) < n {
		return make([]delivery, n)
	}
	return dl[:n]
}

// expandLocked takes k events of level i from the queue and turns them
// into deliveries: into the worker's view for subscriptions without a
// mailbox, into their mailbox for the others, behind the busy delivery of
// their ordered stream when there is one. It counts each delivery as
// matched by its subscription, and records the events' waits.
func (q *queue) expandLocked(w *worker, i, k int) {
	v := &w.v
	b := q.bus
	var now int64
	if b.mon != nil {
		now = monotime()
	}
	var run *flight // the first event of a run sharing one route
	runLen := 0
	coalesced := int64(0) // the time, once a coalescing subscription needs it
	for n := 0; n < k; n++ {
		f := q.lv.pop(i)
		if b.mon != nil {
			w.shard.waits.record(f, now)
		}
		// Events of one type share their route: count them as matched
		// once per run, not once per event.
		alone := !f.skip.empty() || len(f.early) > 0 // counted on its own
		if run != nil && (alone || !sameRoute(run, f)) {
			b.countMatched(w, run, runLen)
			run = nil
		}
		if run == nil {
			run, runLen = f, 0
		}
		runLen++
		if len(f.early) > 0 {
			// The queue's count (see handOverLocked), released once the
			// event is no longer looked at.
			w.unmatched = append(w.unmatched, f)
		}
		for p, np := 0, f.nsubs(); p < np; p++ {
			if f.skip.has(p) {
				continue
			}
			d := delivery{f, f.sub(p)}
			switch {
			case len(f.early) > 0 && f.isEarly(d.s):
				// Handed over at admission.
			case d.s.closed.Load():
				// Ended since the publish: no delivery, not matched.
				w.unmatched = append(w.unmatched, f)
			case d.s.co != nil:
				if coalesced == 0 {
					coalesced = monotime()
				}
				q.coalesceLocked(w, d, f.coalesceKeyOf(d.s), coalesced)
			case d.s.ordered && f.key != "" && q.lanes.park(d):
				// Waiting for its key, the event still takes room in
				// the queue, for the drop policy to pick from and for
				// Block publishers to wait on.
				q.held++
				if f.parked == 0 {
					q.queued++
				}
				f.parked++
			case d.s.box != nil:
				w.drops = q.pushBoxLocked(d, w.drops)
			default:
				v.dl = append(v.dl, d)
			}
		}
		if alone {
			b.countMatched(w, run, runLen)
			run = nil
		}
	}
	if run != nil {
		b.countMatched(w, run, runLen)
	}
	// Only now, with the events no longer looked at: the last of these may
	// finish its event, which recycles it.
	q.releaseUnmatched(w)
}

// releaseUnmatched finishes the deliveries in w.unmatched: to
// subscriptions that ended since the publish, or replaced by a later
// event of their coalescing key. Their events were never cut by a
// shutdown, so finishing them calls no user code, and the lock may be
// held.
func (q *queue) releaseUnmatched(w *worker) {
	for i, f := range w.unmatched {
		q.bus.release(w, f)
		w.unmatched[i] = nil
	}
	w.unmatched = w.unmatched[:0]
}

func sameRoute(a, b *flight) bool {
	return len(a.typed) == len(b.typed) && len(a.all) == len(b.all) &&
		(len(a.typed) == 0 || &a.typed[0] == &b.typed[0]) &&
		(len(a.all) == 0 || &a.all[0] == &b.all[0])
}

// pushBoxLocked puts d in its subscription's mailbox, under the buffer's
// policy, and returns drops with the delivery the policy dropped, if any,
// appended.
func (q *queue) pushBoxLocked(d delivery, drops []delivery) []delivery {
	m := d.s.box
	before := m.waiting
	dropped, drop, aside := m.push(d)
	q.held += m.waiting - before
	if aside {
		q.queued++
		q.aside++
	}
	if drop {
		drops = append(drops, dropped)
	}
	q.relistLocked(m)
	return drops
}

// relistLocked puts m in the ready list of its highest waiting level while
// it has deliveries waiting and a free slot, and takes it out otherwise.
func (q *queue) relistLocked(m *mailbox) {
	if m.readyLevel >= 0 {
		q.ready[m.readyLevel].remove(m)
	}
	if m.ready() {
		lv := m.head()
		q.ready[lv].push(m, lv)
		q.signalLocked(lv)
	}
}

// wakeLocked wakes a parked worker if there is work it may take. The lock
// must be held.
func (q *queue) wakeLocked() {
	if q.idle == 0 {
		return
	}
	var has, runnable [numLevels]bool
	q.workLocked(&has, &runnable)
	for i := range runnable {
		if runnable[i] {
			q.idle--
			q.work.Signal()
			return
		}
	}
}

// fillRoomLocked admits waiting publishers while there is room.
func (q *queue) fillRoomLocked() {
	for q.nwaiting > 0 && q.queued < q.capacity {
		q.handOffLocked()
	}
}

// join counts n workers that start taking work. Members more may raise
// lowCap, making Low work runnable for a worker that is parked, possibly a
// new one itself, which may have looked before it counted.
func (q *queue) join(n int) {
	if n == 0 {
		return
	}
	q.mu.Lock()
	q.members += n
	q.wakeLocked()
	q.mu.Unlock()
}

// retire asks n workers to leave the pool between views. It wakes up to n
// parked workers, the idle ones, to leave first; busy ones leave at their
// next pop. Waking only as many as must leave keeps a large pool's shrink
// proportional to the change.
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

// releaseLocked gives back what a finished view held: its place in the
// open list, its Low slot, its mailbox slot.
func (q *queue) releaseLocked(v *view) {
	if v.openLevel >= 0 {
		q.open[v.openLevel].remove(v)
	}
	if v.low {
		v.low = false
		q.runningLow--
	}
	if m := v.box; m != nil {
		v.box = nil
		m.running--
		q.relistLocked(m)
	}
}

// stealLocked takes into v half of what is left of another worker's view
// of level i, and reports whether it took anything. It looks only at the
// open list, and drops from it the views it finds with nothing left, so a
// steal costs O(1) amortised however large the pool.
func (q *queue) stealLocked(v *view, i int) bool {
	l := &q.open[i]
	for o := l.head; o != nil; {
		next := o.openNext
		if o != v && o.steal(v) {
			if o.left() == 0 {
				l.remove(o)
			}
			return true
		}
		if o != v {
			l.remove(o) // nothing left: the owner claimed it all
		}
		o = next
	}
	return false
}

// releaseStream ends d's turn in its ordered stream, so that the stream's
// next delivery may start on any free worker even while this worker goes
// on to a handler that blocks. A next delivery that its mailbox drops goes
// to drops, which the caller reports.
func (q *queue) releaseStream(d delivery, drops []delivery) []delivery {
	q.mu.Lock()
	defer q.mu.Unlock()
	next, ok := q.lanes.release(d)
	if !ok {
		return drops
	}
	if q.unparkLocked(next.f) {
		drops = append(drops, q.takeAdmitDrops()...)
	}
	if next.s.box != nil {
		q.held--
		return q.pushBoxLocked(next, drops)
	}
	lv := int(next.f.prio - 1)
	q.released[lv].push(next)
	q.signalLocked(lv)
	return drops
}

// unparkLocked notes that one of f's deliveries left its ordered stream.
// When it was the last one, f no longer takes room in the queue: waiting
// publishers take the room, and unparkLocked reports true (their
// admission may have left drops in admitDrops).
func (q *queue) unparkLocked(f *flight) bool {
	f.parked--
	if f.parked > 0 {
		return false
	}
	q.queued--
	q.fillRoomLocked()
	return true
}

// close stops intake: later puts fail with ErrEventBusShutdown, waiting
// publishers are refused, and parked workers wake to drain what is left
// (see pop for the deliveries that wait for coalescing windows) and then
// exit.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.refuseWaitersLocked()
	q.idle = 0
	q.work.Broadcast()
	q.mu.Unlock()
}

// stopTimers stops the coalescing timer once the bus has stopped.
func (q *queue) stopTimers() {
	q.mu.Lock()
	q.timers.stop()
	q.mu.Unlock()
}

// removeAll empties the queue for a shutdown whose deadline passed: it
// returns the queued events, and the deliveries held or left unclaimed in
// views, which the caller drops.
func (q *queue) removeAll(views []*worker) (events []*flight, dls []delivery) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := 0; i < numLevels; i++ {
		for q.lv.depth(i) > 0 {
			events = append(events, q.lv.pop(i))
		}
		for q.released[i].len() > 0 {
			dls = append(dls, q.released[i].pop())
		}
		for m := q.ready[i].head; m != nil; m = q.ready[i].head {
			q.ready[i].remove(m)
		}
		for o := q.open[i].head; o != nil; o = q.open[i].head {
			q.open[i].remove(o)
		}
	}
	for _, w := range views {
		var rest view
		for w.v.steal(&rest) {
			dls = append(dls, rest.dl...)
		}
	}
	dls = q.lanes.removeAll(dls)
	for m := range q.boxes {
		dls, _ = m.drain(dls) // queued is reset below
		if m.sub.co != nil {
			dls = q.dropCoalescer(m.sub, dls)
		}
	}
	q.timers.stop()
	q.queued, q.held, q.aside = 0, 0, 0
	q.idle = 0
	q.work.Broadcast() // parked workers exit now that nothing is left
	return events, dls
}

// nextEpoch starts a new WaitIdle generation and returns the parity of the
// one it ended with the number of events ever queued, and of replayed
// events, under that parity.
func (q *queue) nextEpoch() (parity uint8, admitted, replayed int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	parity = q.epoch
	q.epoch ^= 1
	return parity, q.admitted[parity], q.replayed[parity]
}

// epochParity returns the parity of the current WaitIdle generation.
func (q *queue) epochParity() uint8 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.epoch
}

// admittedIn returns the number of events ever queued, and of replayed
// events, under parity p.
func (q *queue) admittedIn(p uint8) (admitted, replayed int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.admitted[p], q.replayed[p]
}

// counts returns the number of queued events per level, Low first, the
// number of events ever queued per level, and the number of waiting
// publishers.
func (q *queue) counts() (depth [numLevels]int, admitted [numLevels]int64, waiting int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range depth {
		depth[i] = q.lv.depth(i)
	}
	return depth, q.admittedLv, q.nwaiting
}
