package eventbus

import (
	"sync"
	"sync/atomic"
)

// flight is one accepted event on its way to its subscriptions: from the
// publish that admitted it until each of its deliveries has finished
// (handled, or dropped by its subscription). It is recycled then, so that
// publishing allocates nothing.
type flight struct {
	ev Event
	// typed and all are the subscriptions the event was published to,
	// fixed at publish: those of its type, then the OnAll ones. A
	// delivery is one of them, by position.
	typed, all []*Subscription
	// skip marks the positions that get no delivery: ended, or refused by
	// their filter, at publish.
	skip bitset
	key  string // Config.OrderingKey of the event; "" when unordered
	// ckeys holds the event's key for each coalescing subscription it
	// goes to, computed in the publisher.
	ckeys []ckey
	// early lists the replaying subscriptions the event goes to: they get
	// it when it is admitted, in admission order (see WithReplay), and
	// expansion skips them. nonEarly counts the other deliveries.
	early    []*Subscription
	nonEarly int32
	// retainID is a copy of ev.ID for the retention buffer, and idSeq the
	// sequence number of an ID this bus made (0 otherwise), when the
	// event's type is retained.
	retainID string
	idSeq    uint64
	// replay marks a replayed event: a copy of a retained one, delivered
	// to one subscription and counted apart from published events.
	replay bool
	// enqueued is the monotonic time of the publish in nanoseconds (see
	// monotime), or 0 when monitoring is off.
	enqueued int64
	seq      uint64 // admission order across levels, for DropOldest
	prio     Priority
	epoch    uint8 // WaitIdle generation parity; see EventBus.WaitIdle
	// remaining counts the deliveries not finished yet; the one that
	// brings it to zero finishes the event.
	remaining atomic.Int32
	// flags holds the flight's marks (see flightCalled and the others),
	// in one word so that recycling clears them with one store.
	flags atomic.Uint32
	// waitUntil is when the publisher's wait for room ends (monotime; 0
	// before it waits), kept when the event is routed again.
	waitUntil int64
	// parked counts the event's deliveries waiting in ordered streams
	// (see lanes): while it is above zero the event still counts as
	// queued. The queue's lock guards it.
	parked int32
}

// The marks of a flight. flightCalled is set once a delivery has begun a
// handler call; flightCut once a delivery was dropped at the shutdown
// deadline; flightSqueezed once the drop policy dropped one of its
// deliveries that waited for its ordering key or was set aside by a Block
// buffer. An event cut or squeezed before any call counts as dropped
// rather than processed. flightDropped is set when the event was dropped
// while deliveries handed over at admission were still pending: they
// finish it without counting it again.
const (
	flightCalled uint32 = 1 << iota
	flightCut
	flightSqueezed
	flightDropped
)

// has reports whether f carries the mark.
func (f *flight) has(mark uint32) bool { return f.flags.Load()&mark != 0 }

// mark sets a mark on f.
func (f *flight) mark(mark uint32) { f.flags.Or(mark) }

// nsubs returns the number of positions of f's route, delivered or not.
func (f *flight) nsubs() int { return len(f.typed) + len(f.all) }

// sub returns the subscription at position i: typed ones first.
func (f *flight) sub(i int) *Subscription {
	if i < len(f.typed) {
		return f.typed[i]
	}
	return f.all[i-len(f.typed)]
}

var flights = sync.Pool{New: func() any { return new(flight) }}

func getFlight() *flight { return flights.Get().(*flight) }

// putFlight recycles f, which nothing may reference any more.
func putFlight(f *flight) {
	f.ev = Event{}
	f.typed, f.all, f.key = nil, nil, ""
	clear(f.ckeys)
	f.ckeys = f.ckeys[:0]
	clear(f.early)
	f.early = f.early[:0]
	f.nonEarly, f.retainID, f.idSeq, f.replay = 0, "", 0, false
	f.skip.reset()
	f.flags.Store(0)
	f.parked = 0
	f.waitUntil = 0
	flights.Put(f)
}

// bitset is a set of small integers, without allocation up to 64.
type bitset struct {
	low  uint64
	more []uint64 // bits 64 and up; kept across resets
}

func (s *bitset) set(i int) {
	if i < 64 {
		s.low |= 1 << i
		return
	}
	w := i/64 - 1
	for len(s.more) <= w {
		s.more = append(s.more, 0)
	}
	s.more[w] |= 1 << (i % 64)
}

func (s *bitset) has(i int) bool {
	if i < 64 {
		return s.low&(1<<i) != 0
	}
	w := i/64 - 1
	return w < len(s.more) && s.more[w]&(1<<(i%64)) != 0
}

func (s *bitset) empty() bool {
	if s.low != 0 {
		return false
	}
	for _, w := range s.more {
		if w != 0 {
			return false
		}
	}
	return true
}

func (s *bitset) reset() {
	s.low = 0
	clear(s.more)
}

// ckey is an event's key for one coalescing subscription.
type ckey struct {
	sub *Subscription
	key string
}

// delivery is one event for one subscription.
type delivery struct {
	f *flight
	s *Subscription
}

// isEarly reports whether s got f at admission.
func (f *flight) isEarly(s *Subscription) bool {
	for _, e := range f.early {
		if e == s {
			return true
		}
	}
	return false
}
