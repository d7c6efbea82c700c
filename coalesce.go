package eventbus

import (
	"container/heap"
	"math"
	"strings"
	"time"
)

// WithCoalesce makes the subscription deliver, per key, the latest state
// at most once per window: a UI or a notifier gets what changed, never a
// backlog, and never misses the last update of a burst. key gives an
// event's key (nil: one key for the whole subscription; OrderByProcessID
// works); it runs in the publisher, like a filter, and a panic in it
// refuses the event for this subscription and goes to Config.OnPanic.
//
// For each key:
//   - calls are at least window apart, start to start, and never overlap;
//   - an event replaces the waiting delivery of the same key and event type
//     (latest wins; a subscription over several types never loses one
//     type's last event to another's); the replaced one counts as
//     Coalesced in the subscription's figures, and its event counts as
//     processed once its other deliveries are done;
//   - the first event after a quiet window is delivered at once (leading
//     edge), and the latest event of every burst is always delivered
//     (trailing edge), within window plus handler time after the bus
//     handed it to the subscription, also when the bus is otherwise idle.
//
// With window 0 there is no rate limit: only latest-wins while a delivery
// of the key waits or runs, so a slow subscriber always catches up to the
// newest state. WaitIdle waits for trailing deliveries. Shutdown delivers
// them within its deadline: once everything else is drained, without
// waiting for their window to end (the one exception to the spacing of
// calls); Unsubscribe drops them (counted as Dropped). A key costs memory only while it has a delivery waiting or
// a window open, and the bus keeps one timer for all keys of all
// subscriptions, stopped at Shutdown. Different keys are delivered concurrently, up to
// WithConcurrency if set; OrderingKey does not apply. Any non-negative
// window is accepted, up to the largest time.Duration, which never ends
// (the waiting state then goes out at Shutdown). A negative window panics
// at subscribe time.
func WithCoalesce(window time.Duration, key func(Event) string) SubscribeOption {
	return SubscribeOption{func(s *subSettings) {
		if window < 0 {
			optionPanic("WithCoalesce(%v): the window must not be negative", window)
		}
		s.coalesce, s.coalesceWindow, s.coalesceKey = true, window, key
	}}
}

// coalescer holds the per-key state of a coalescing subscription. It is
// not safe for concurrent use; the queue's mutex guards it.
type coalescer struct {
	window int64
	key    func(Event) string
	keys   map[string]*coalesceKey
	peak   int
}

// coalesceKey is one key of a coalescing subscription.
type coalesceKey struct {
	name string
	sub  *Subscription
	// waiting holds the latest waiting delivery of each event type.
	waiting []delivery
	// busy is set while a delivery of the key is in the mailbox or
	// running: the key's next delivery waits for it.
	busy bool
	// lastStart is the monotime when the key's last call began, 0 before
	// any.
	lastStart int64
	due       int64 // when the key's timer fires
	timerIdx  int   // index in the bus's timer heap, -1 when not armed
}

// coalesceKeyOf returns the key f has for the coalescing subscription s,
// as computed in the publisher.
func (f *flight) coalesceKeyOf(s *Subscription) string {
	for _, k := range f.ckeys {
		if k.sub == s {
			return k.key
		}
	}
	return ""
}

// coalesceKeyFor computes ev's key for s in the publisher: false when the
// key function panicked, which refuses the event.
func (b *EventBus) coalesceKeyFor(s *Subscription, ev *Event) (key string, ok bool) {
	if s.co.key == nil {
		return "", true
	}
	defer func() {
		if r := recover(); r != nil {
			b.pool.tally.shards[0].panics.Add(1)
			b.reportPanic(*ev, r)
			ok = false
		}
	}()
	return s.co.key(*ev), true
}

// coalesceLocked hands d, a delivery to a coalescing subscription with
// key name, to its key: it replaces the waiting delivery of its type, if
// any (appended to w.unmatched, to be finished after the lock, and counted
// as coalesced), and goes to the mailbox at once when the key's window is
// over. The lock must be held.
func (q *queue) coalesceLocked(w *worker, d delivery, name string, now int64) {
	co := d.s.co
	k := co.keys[name]
	if k == nil {
		if co.keys == nil {
			co.keys = make(map[string]*coalesceKey)
		}
		// The key outlives the event: keep a copy of our own.
		k = &coalesceKey{name: strings.Clone(name), sub: d.s, timerIdx: -1}
		co.keys[k.name] = k
		co.peak = max(co.peak, len(co.keys))
	}
	for i, old := range k.waiting {
		if old.f.ev.Type == d.f.ev.Type {
			if old.f.seq > d.f.seq { // the waiting one is newer
				old, d = d, old
			}
			k.waiting[i] = d
			d.s.stats.shard(w.id).coalesced.Add(1)
			w.unmatched = append(w.unmatched, old.f)
			return // the key is scheduled already
		}
	}
	k.waiting = append(k.waiting, d)
	q.timed++
	w.drops = q.scheduleLocked(k, now, w.drops)
}

// scheduleLocked moves the key's next waiting delivery to the mailbox if
// the key is free and its window is over, and otherwise arms its timer:
// for the end of the window while deliveries wait, or to forget the key
// once its window has closed. A delivery the mailbox drops is appended to
// drops.
func (q *queue) scheduleLocked(k *coalesceKey, now int64, drops []delivery) []delivery {
	if k.busy {
		return drops
	}
	co := k.sub.co
	// Once a shutdown has drained everything else, windows no longer hold
	// deliveries back: each key's last state goes out before the workers
	// stop (see flushCoalescersLocked).
	end := k.windowEnd()
	open := !q.flushing && k.lastStart != 0 && now < end
	switch {
	case len(k.waiting) > 0 && !open:
		q.timers.disarm(k)
		d := k.next()
		q.timed--
		k.busy = true
		drops = q.pushBoxLocked(d, drops)
	case open:
		q.timers.arm(k, end, now)
	default:
		// Nothing waits and the window has closed: the key costs nothing
		// any more.
		q.timers.disarm(k)
		delete(co.keys, k.name)
		if len(co.keys) == 0 && co.peak > 1024 {
			co.keys, co.peak = nil, 0 // let a map grown by a burst go
		}
	}
	return drops
}

// windowEnd returns when the key's window ends, in monotime: its last
// call's start plus the window, or math.MaxInt64 for a window so long that
// the sum overflows (a window that never ends; WithCoalesce accepts any
// non-negative duration).
func (k *coalesceKey) windowEnd() int64 {
	w := k.sub.co.window
	if k.lastStart > math.MaxInt64-w {
		return math.MaxInt64
	}
	return k.lastStart + w
}

// next removes and returns the waiting delivery to run next: the highest
// level first, then the one admitted first.
func (k *coalesceKey) next() delivery {
	best := 0
	for i, d := range k.waiting[1:] {
		b := k.waiting[best]
		if d.f.prio > b.f.prio || (d.f.prio == b.f.prio && d.f.seq < b.f.seq) {
			best = i + 1
		}
	}
	d := k.waiting[best]
	last := len(k.waiting) - 1
	k.waiting[best] = k.waiting[last]
	k.waiting[last] = delivery{}
	k.waiting = k.waiting[:last]
	return d
}

// takenLocked is called when a worker takes d from the mailbox of a
// coalescing subscription: if a later event of the same type has come for
// the key meanwhile, it is delivered instead (latest wins), and d counts as
// coalesced. It returns the delivery to run. The lock must be held.
func (q *queue) takenLocked(w *worker, d delivery, name string) delivery {
	k := d.s.co.keys[name]
	if k == nil {
		return d
	}
	for i, later := range k.waiting {
		if later.f.ev.Type == d.f.ev.Type && later.f.seq > d.f.seq {
			k.waiting[i] = k.waiting[len(k.waiting)-1]
			k.waiting[len(k.waiting)-1] = delivery{}
			k.waiting = k.waiting[:len(k.waiting)-1]
			q.timed--
			d.s.stats.shard(w.id).coalesced.Add(1)
			w.unmatched = append(w.unmatched, d.f)
			return later
		}
	}
	return d
}

// coalesceDone frees d's key once d is finished (called or dropped);
// started is the monotime its call began, or 0 if it was not called.
// Deliveries that the mailbox dropped on the way are returned.
func (q *queue) coalesceDone(d delivery, started int64) []delivery {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := d.s.co.keys[d.f.coalesceKeyOf(d.s)]
	if k == nil || !k.busy {
		return nil // the subscription ended and forgot its keys
	}
	k.busy = false
	if started != 0 {
		k.lastStart = started
	}
	return q.scheduleLocked(k, monotime(), nil)
}

// dropCoalescer forgets every key of s, appending their waiting
// deliveries to out, for a subscription that ended or a shutdown.
func (q *queue) dropCoalescer(s *Subscription, out []delivery) []delivery {
	for _, k := range s.co.keys {
		out = append(out, k.waiting...)
		q.timed -= len(k.waiting)
		k.waiting = nil
		q.timers.disarm(k)
	}
	s.co.keys, s.co.peak = nil, 0
	if q.closed && q.timed == 0 {
		q.idle = 0
		q.work.Broadcast() // workers kept for trailing deliveries may exit
	}
	return out
}

// timers is the bus's one timer for the windows of every coalescing key:
// a min-heap of keys by due time, and a time.Timer for the earliest. The
// queue's mutex guards it; the timer's function takes that lock.
type timers struct {
	keys    timerHeap
	t       *time.Timer
	armedAt int64 // due time the timer is set for; math.MaxInt64 when not set
	fire    func()
	stopped bool
}

func (ts *timers) arm(k *coalesceKey, due, now int64) {
	k.due = due
	if k.timerIdx >= 0 {
		heap.Fix(&ts.keys, k.timerIdx)
	} else {
		heap.Push(&ts.keys, k)
	}
	ts.reset(now)
}

func (ts *timers) disarm(k *coalesceKey) {
	if k.timerIdx >= 0 {
		heap.Remove(&ts.keys, k.timerIdx)
	}
}

// reset sets the timer for the earliest due key, if it is not set for it
// already.
func (ts *timers) reset(now int64) {
	if ts.stopped || len(ts.keys) == 0 {
		return
	}
	due := ts.keys[0].due
	if due >= ts.armedAt {
		return // set for earlier; it re-arms when it fires
	}
	ts.armedAt = due
	d := time.Duration(max(due-now, 0))
	if ts.t == nil {
		ts.t = time.AfterFunc(d, ts.fire)
	} else {
		ts.t.Reset(d)
	}
}

// flushCoalescersLocked sends every key's waiting delivery on its way at
// once, for a bus that is shutting down and has nothing else left to do
// (see scheduleLocked): the windows would only make the shutdown wait. The
// lock must be held; deliveries the mailboxes drop are returned.
func (q *queue) flushCoalescersLocked() (drops []delivery) {
	q.flushing = true
	now := monotime()
	for m := range q.boxes {
		if co := m.sub.co; co != nil {
			for _, k := range co.keys {
				drops = q.scheduleLocked(k, now, drops)
			}
		}
	}
	return drops
}

// stop stops the timer for good.
func (ts *timers) stop() {
	ts.stopped = true
	if ts.t != nil {
		ts.t.Stop()
	}
}

// fireTimers runs when the timer fires: every key whose time has come is
// scheduled, and the timer is set for the next.
func (q *queue) fireTimers() {
	q.mu.Lock()
	now := monotime()
	ts := &q.timers
	ts.armedAt = math.MaxInt64
	var drops []delivery
	for len(ts.keys) > 0 && ts.keys[0].due <= now {
		k := heap.Pop(&ts.keys).(*coalesceKey)
		drops = q.scheduleLocked(k, now, drops)
	}
	ts.reset(now)
	q.wakeLocked()
	q.mu.Unlock()
	for _, d := range drops {
		q.bus.dropDelivery(nil, d, ErrQueueFull)
	}
}

// timerHeap orders keys by due time, for container/heap.
type timerHeap []*coalesceKey

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].timerIdx, h[j].timerIdx = i, j
}
func (h *timerHeap) Push(x any) {
	k := x.(*coalesceKey)
	k.timerIdx = len(*h)
	*h = append(*h, k)
}
func (h *timerHeap) Pop() any {
	old := *h
	k := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	k.timerIdx = -1
	return k
}
