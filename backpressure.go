package eventbus

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// DropPolicy says what the bus does when an event arrives and the queue
// already holds Config.QueueSize events. The publisher first waits up to
// Config.TimeoutDuration for room (a waiting High event is admitted before
// any waiting Medium or Low one); if there is still none, the policy picks
// the single event that is dropped, out of the queued ones and the new one.
// A dropped event is counted in Metrics and passed to Config.OnDrop.
type DropPolicy int

const (
	// DropOldest drops the event that has been queued longest, whatever its
	// priority, and queues the new one: freshness first. With priorities
	// enabled it can drop a High event to make room for a Low one; use
	// DropLowPri to protect High events. It is the zero value.
	DropOldest DropPolicy = iota

	// DropNewest refuses the new event and keeps the queue as it is. It does
	// not look at priorities either: a High event arriving at a queue full
	// of Low ones is refused; use DropLowPri to protect High events.
	DropNewest

	// DropLowPri drops the lowest-priority event among the queued ones and
	// the new one, the oldest among equals (the new event counts as the
	// newest). A High or Medium event is never dropped while a Low one is
	// queued, and a High one never while a Medium one is. DefaultConfig uses
	// it. With priorities disabled every event is Medium, so it drops the
	// oldest.
	DropLowPri

	// Block makes the publisher wait for room, however long it takes; the
	// policy itself drops nothing, and Config.TimeoutDuration does not
	// apply. Publish waits until there is room or the bus shuts down;
	// PublishContext also gives up when its context is done, and then its
	// own event counts as dropped with the context's error. Waiting
	// publishers are admitted by priority, first come first served among
	// equals. The queue is shared by all levels, so under a flood of Low
	// events a High publisher waits too, though it is admitted first.
	//
	// A handler that publishes to its own bus under Block can wait for room
	// that only its own worker would make; if every worker does that at
	// once, the bus deadlocks until shutdown. Publish from handlers with a
	// context, or use a drop policy.
	Block
)

func (p DropPolicy) valid() bool { return p >= DropOldest && p <= Block }

// String returns the policy's name, such as "drop-oldest", or
// "DropPolicy(n)" for a value that is not a policy.
func (p DropPolicy) String() string {
	switch p {
	case DropOldest:
		return "drop-oldest"
	case DropNewest:
		return "drop-newest"
	case DropLowPri:
		return "drop-lowpri"
	case Block:
		return "block"
	}
	return "DropPolicy(" + strconv.Itoa(int(p)) + ")"
}

// ParseDropPolicy returns the policy named s: one of the names String
// returns ("drop-oldest", "drop-newest", "drop-lowpri", "block"), in any
// case, or its number ("0" to "3"). Anything else is an error that quotes
// s and lists the names.
func ParseDropPolicy(s string) (DropPolicy, error) {
	for p := DropOldest; p <= Block; p++ {
		if strings.EqualFold(p.String(), s) || strconv.Itoa(int(p)) == s {
			return p, nil
		}
	}
	return 0, errors.New("eventbus: unknown drop policy " + strconv.Quote(s) + " (want drop-oldest, drop-newest, drop-lowpri or block)")
}

// MarshalText returns the policy's name, so that JSON and other text
// encodings show "drop-lowpri" rather than a number. A value that is not a
// policy is an error.
func (p DropPolicy) MarshalText() ([]byte, error) {
	if !p.valid() {
		return nil, errors.New("eventbus: cannot encode " + p.String())
	}
	return []byte(p.String()), nil
}

// UnmarshalText sets p from a name or number as ParseDropPolicy reads
// them, so that a DropPolicy works with flag.TextVar. On error p is
// unchanged.
func (p *DropPolicy) UnmarshalText(text []byte) error {
	v, err := ParseDropPolicy(string(text))
	if err == nil {
		*p = v
	}
	return err
}

// UnmarshalJSON accepts a JSON string (a name, as MarshalText writes it)
// or a JSON number (0 to 3), so that configurations written before
// policies were encoded by name still load. On error p is unchanged.
func (p *DropPolicy) UnmarshalJSON(data []byte) error {
	return unmarshalJSONText(data, p.UnmarshalText)
}

// unmarshalJSONText decodes a JSON string or number and passes its text to
// set.
func unmarshalJSONText(data []byte, set func([]byte) error) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case string:
		return set([]byte(v))
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<31 {
			return set([]byte(strconv.Itoa(int(v))))
		}
	}
	return errors.New("eventbus: want a name or a small integer, got " + string(data))
}

var (
	// ErrQueueFull is the reason an event was dropped by the drop policy:
	// refused on arrival, or evicted from the queue to make room.
	ErrQueueFull = errors.New("eventbus: queue full")

	// ErrEventBusShutdown is the reason an event was dropped because the
	// bus is shut down: it was published after Shutdown began, or was
	// still queued when the shutdown deadline passed.
	ErrEventBusShutdown = errors.New("eventbus: shut down")

	// ErrInvalidPriority is returned by PublishWithBackpressure for a
	// priority that is not PriorityLow, PriorityMedium or PriorityHigh; the
	// event is dropped with this reason.
	ErrInvalidPriority = errors.New("eventbus: invalid priority")
)

// waiter is a publisher waiting for room in a full queue. It sits in the
// list of its priority level until a worker hands it a slot, its wait ends,
// or the bus shuts down.
type waiter struct {
	j          job
	ready      chan struct{} // receives one value when state leaves waiting
	state      waiterState
	prev, next *waiter
}

type waiterState uint8

const (
	waiting  waiterState = iota
	admitted             // a worker moved j into the queue
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
	evicted job
	evict   bool
}

// put queues *j, waiting and applying the drop policy as the Config says;
// a wait also ends with ctx (Publish and PublishWithBackpressure pass
// context.Background(), which never ends). The caller reports the drops
// that the returned admission describes, after put has released the lock.
func (q *queue) put(ctx context.Context, j *job) admission {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return admission{err: ErrEventBusShutdown}
	}
	if q.queued < q.capacity {
		q.admitLocked(j)
		busy := q.queued > q.capacity/2
		q.mu.Unlock()
		if busy && q.halfFull != nil {
			q.halfFull()
		}
		return admission{}
	}
	if q.halfFull != nil {
		q.halfFull()
	}
	if q.policy == Block || q.timeout > 0 {
		if a, done := q.waitForRoom(ctx, j); done {
			return a
		}
		// The wait ended without room and the lock is held again: the
		// policy decides.
	}
	a := q.applyPolicyLocked(j)
	q.mu.Unlock()
	return a
}

// waitForRoom parks the publisher in the wait list of its level. It is
// called with the lock held and returns with it released when done is true;
// when done is false the wait timed out, the lock is held, and the queue is
// still full.
func (q *queue) waitForRoom(ctx context.Context, j *job) (a admission, done bool) {
	w := &waiter{j: *j, ready: make(chan struct{}, 1)}
	q.waiters[j.prio-1].pushBack(w)
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
		q.mu.Unlock()
		return admission{}, true
	case refused:
		q.mu.Unlock()
		return admission{err: ErrEventBusShutdown}, true
	}
	q.waiters[j.prio-1].remove(w)
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
func (q *queue) applyPolicyLocked(j *job) admission {
	victim := -1
	switch q.policy {
	case DropOldest:
		victim = q.oldestLocked()
	case DropLowPri:
		// The new event is the newest of its level, so it loses only to
		// a strictly higher lowest level.
		if low := q.lowestLocked(); low <= int(j.prio-1) {
			victim = low
		}
	}
	if victim < 0 {
		return admission{err: ErrQueueFull}
	}
	var a admission
	a.evict = true
	q.evictLocked(victim, &a.evicted)
	q.admitLocked(j)
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
		q.admitLocked(&w.j)
		w.j = job{}
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
