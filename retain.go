package eventbus

import (
	"cmp"
	"slices"
	"strings"
)

// WithReplay makes a late subscriber catch up: the subscription first
// receives up to n of the latest events the bus retained for its types
// (Config.Retain), oldest first, then live events, with no event missing
// between the two and none delivered twice, however busy the publishers
// are. A replaying subscription receives one call at a time, in the order
// the bus admitted the events (publish order for one publisher), ignoring
// their priority, so that "resume after the last event I saw" is exact
// (see WithReplayAfter). Replayed events do not count against the
// subscription's buffer, and count as Matched and Delivered like live
// ones, but not as published events; WaitIdle waits for the replays of
// subscriptions made before it was called. A live event reaches a
// replaying subscription as the bus admits it, so one that the drop policy
// later evicts from the queue still reaches it. n below 1 panics at
// subscribe time; so do WithCoalesce and a WithConcurrency above 1 beside
// it.
func WithReplay(n int) SubscribeOption {
	return SubscribeOption{func(s *subSettings) {
		if n < 1 {
			optionPanic("WithReplay(%d): n must be at least 1", n)
		}
		s.replay, s.replayN, s.replayAfter = true, n, ""
	}}
}

// WithReplayAfter is WithReplay that starts right after the event whose ID
// is id, as a client that reconnects with the last ID it saw: it receives
// every retained event of its types admitted after that one, oldest first,
// then live events.
//
// The bus finds id among the events it retains, or among the latest that
// left each retention buffer (as many as the buffer holds), and then
// resumes exactly after it. An ID the bus made but no longer remembers (it
// left long ago, or its type is not retained) is placed by the IDs
// admitted since: every event admitted after it is replayed, and an event
// admitted before it is replayed too if it took its ID earlier but waited
// for room while a later one went ahead: a possible duplicate, never a
// hole.
//
// When some of the events after id have already left the retention
// buffers, the subscriber gets the rest in order, and Stats().Missed, set
// before the first call, counts the events published between id and the
// oldest event still retained for its types, 0 when nothing was lost. It
// counts by the bus's ID sequence, and at least the events the buffers
// remember leaving: exact when events of those types, with IDs the bus
// made, were all that was published in between; an upper bound when other
// types were published in between; events with IDs their publisher set
// are counted only while the buffers remember them leaving. id must be an
// ID this bus made, or one it still retains: for any other ID (made by
// another bus, set by the publisher and no longer retained, one this bus
// has not made yet, or not an ID at all) the bus cannot tell where to
// resume, so the subscription replays everything it retains for its types
// and Missed stays 0. An empty id panics at subscribe time.
func WithReplayAfter(id string) SubscribeOption {
	return SubscribeOption{func(s *subSettings) {
		if id == "" {
			optionPanic("WithReplayAfter(\"\"): the id must not be empty")
		}
		s.replay, s.replayN, s.replayAfter = true, 0, id
	}}
}

// retention keeps the latest events of the types Config.Retain names,
// for replay. Its rings are made once; their contents change under the
// queue's lock, at admission.
type retention struct {
	rings map[EventType]*retainRing
	// newest is the highest sequence number of an ID this bus made among
	// the events admitted so far, of any type: it places an ID that left
	// the rings long ago (see resumePoint).
	newest uint64
}

// retainRing holds the latest events of one type, the oldest first, in a
// circular buffer of fixed size.
type retainRing struct {
	buf  []retained // grows up to size, then wraps around
	size int
	head int // index of the oldest
	n    int
	// lastLost is the ID sequence number of the newest event of this bus's
	// that left the ring, 0 if none.
	lastLost uint64
	// gone remembers where the latest events that left the ring stood, as
	// many as the ring holds, the oldest at goneHead: a client that
	// resumes after one of them resumes exactly, and its Missed figure
	// counts them. 16 bytes each.
	gone     []tombstone
	goneHead int
}

type retained struct {
	ev    Event
	seq   uint64 // admission order
	idSeq uint64 // the ID's sequence number when this bus made it, else 0
	// high is retention.newest once this event was admitted: every event
	// of this bus admitted before it has an ID sequence number up to high.
	high uint64
	prio Priority
}

// tombstone is what a ring remembers of an event that left it.
type tombstone struct {
	idSeq, seq uint64
}

func newRetention(cfg map[EventType]int) *retention {
	if len(cfg) == 0 {
		return nil
	}
	r := &retention{rings: make(map[EventType]*retainRing, len(cfg))}
	for t, n := range cfg {
		r.rings[t] = &retainRing{size: n}
	}
	return r
}

// admitted notes the admission of f, of any type, and keeps its event
// when its type is retained. The queue's lock must be held.
func (r *retention) admitted(f *flight) {
	r.newest = max(r.newest, f.idSeq)
	if ring := r.rings[f.ev.Type]; ring != nil {
		ring.push(f, r.newest)
	}
}

// push keeps f's event, forgetting the oldest when the ring is full.
func (r *retainRing) push(f *flight, high uint64) {
	e := retained{ev: f.ev, seq: f.seq, idSeq: f.idSeq, high: high, prio: f.prio}
	e.ev.ID = f.retainID // our own copy: it pins nothing else
	if r.n < r.size {
		r.buf = append(r.buf, e)
		r.n++
		return
	}
	old := &r.buf[r.head]
	r.lastLost = max(r.lastLost, old.idSeq)
	t := tombstone{old.idSeq, old.seq}
	if len(r.gone) < r.size {
		r.gone = append(r.gone, t)
	} else {
		r.gone[r.goneHead] = t
		r.goneHead = (r.goneHead + 1) % len(r.gone)
	}
	*old = e
	r.head = (r.head + 1) % len(r.buf)
}

// goneSeq returns the admission order of the event with ID sequence
// number idSeq, if the ring remembers it leaving.
func (r *retainRing) goneSeq(idSeq uint64) (uint64, bool) {
	for _, t := range r.gone {
		if t.idSeq == idSeq {
			return t.seq, true
		}
	}
	return 0, false
}

// goneAfter returns the number of events the ring remembers leaving that
// were admitted after seq.
func (r *retainRing) goneAfter(seq uint64) int64 {
	n := int64(0)
	for _, t := range r.gone {
		if t.seq > seq {
			n++
		}
	}
	return n
}

func (r *retainRing) at(i int) *retained { return &r.buf[(r.head+i)%len(r.buf)] }

// retainFor prepares f for retention, when the bus retains anything: the
// ID's sequence number, for every event (see retention.newest), and a
// copy of the ID when its type is retained. It runs in the publisher.
func (b *EventBus) retainFor(f *flight) {
	if b.retain == nil {
		return
	}
	f.idSeq, _ = b.ids.seqOf(f.ev.ID)
	if b.retain.rings[f.ev.Type] != nil {
		f.retainID = strings.Clone(f.ev.ID)
	}
}

// retainUnrouted retains an event that no subscription takes, when its
// type is retained. Like an admission, it happens under the queue's lock,
// in admission order, and is refused if a replaying subscription was
// added since the publisher looked its subscriptions up (errRouteChanged),
// or if the bus is shutting down.
func (b *EventBus) retainUnrouted(f *flight, ev *Event, prio Priority, gen uint64) error {
	if b.retain == nil {
		return nil
	}
	ring := b.retain.rings[ev.Type]
	if ring == nil {
		return nil
	}
	f.ev, f.prio = *ev, prio
	b.retainFor(f)
	q := b.q
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.closed:
		return ErrEventBusShutdown
	case gen != q.replayGen.Load():
		return errRouteChanged
	}
	q.lv.stamp(f)
	b.retain.admitted(f)
	return nil
}

// replayLocked hands s the retained events it must replay, as flights of
// their own in its mailbox, oldest first, and sets its Missed figure. It
// is called under the queue's lock, when s is registered: events admitted
// from then on reach s live. The replayed flights count towards the
// current WaitIdle generation.
func (q *queue) replayLocked(s *Subscription, n int, after string) {
	var rings []*retainRing
	for _, ring := range q.bus.retain.ringsFor(s) {
		rings = append(rings, ring)
	}
	// Gather the retained events of s's types, in admission order.
	var all []*retained
	for _, ring := range rings {
		for i := 0; i < ring.n; i++ {
			all = append(all, ring.at(i))
		}
	}
	slices.SortFunc(all, func(a, b *retained) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	from := 0
	switch {
	case after == "":
		from = max(len(all)-n, 0)
	default:
		var missed int64
		from, missed = resumePoint(all, rings, q.bus.retain.rings, after, q.bus.ids.seqOf)
		s.stats.missed.Store(missed)
	}
	for _, e := range all[from:] {
		f := getFlight()
		f.ev, f.seq, f.prio, f.replay = e.ev, e.seq, e.prio, true
		f.epoch = q.epoch
		f.remaining.Store(1)
		q.replayed[q.epoch]++
		if s.filter == nil {
			s.stats.shards[0].matched.Add(1)
		} else {
			s.stats.late.Add(1)
		}
		m := s.box
		m.push(delivery{f, s}) // a replayed delivery is never dropped
		q.held++
		q.relistLocked(m)
	}
}

// matchesLate reports whether d is a replayed delivery to a subscription
// with a filter: the filter runs on the worker, and the delivery counts as
// matched only when it is called or dropped, never when refused.
func (d delivery) matchesLate() bool { return d.f.replay && d.s.filter != nil }

// resumePoint returns the index in all (retained events of the
// subscription's types, in admission order; rings are theirs, every is
// the bus's) of the first event admitted after the one whose ID is id,
// and the number of events missed (see WithReplayAfter).
func resumePoint(all []*retained, rings []*retainRing, every map[EventType]*retainRing, id string, seqOf func(string) (uint64, bool)) (int, int64) {
	for i, e := range all {
		if e.ev.ID == id {
			// Still retained: nothing of the same type after it is lost,
			// but a shallower ring of another type may have lost some.
			return i + 1, max(missedAfter(all[i+1:], rings, e.idSeq), goneAfter(rings, e.seq))
		}
	}
	idSeq, ours := seqOf(id)
	if !ours {
		return 0, 0 // unknown: replay everything retained
	}
	for _, ring := range every {
		if seq, ok := ring.goneSeq(idSeq); ok {
			// It left a ring recently: its place in the admission order
			// is known.
			i, _ := slices.BinarySearchFunc(all, seq+1, func(e *retained, seq uint64) int { return cmp.Compare(e.seq, seq) })
			return i, max(missedAfter(all[i:], rings, idSeq), goneAfter(rings, seq))
		}
	}
	// It left long ago, or its type is not retained: every event admitted
	// after it follows an admission of an ID at least as new. An event
	// admitted before it may follow such an admission too (when it waited
	// for room, later events overtook it), and is replayed again: a
	// duplicate, never a hole.
	for i, e := range all {
		if e.high >= idSeq {
			return i, missedAfter(all[i:], rings, idSeq)
		}
	}
	return len(all), missedAfter(nil, rings, idSeq)
}

// goneAfter returns the number of events the rings remember leaving that
// were admitted after seq.
func goneAfter(rings []*retainRing, seq uint64) int64 {
	n := int64(0)
	for _, ring := range rings {
		n += ring.goneAfter(seq)
	}
	return n
}

// missedAfter counts the events published after the ID with sequence
// number idSeq that the rings no longer hold: from idSeq to the newest
// one lost, by ID sequence, less those still retained in between.
func missedAfter(rest []*retained, rings []*retainRing, idSeq uint64) int64 {
	if idSeq == 0 {
		return 0
	}
	lost := uint64(0)
	for _, ring := range rings {
		lost = max(lost, ring.lastLost)
	}
	if lost <= idSeq {
		return 0
	}
	missed := int64(lost - idSeq)
	for _, e := range rest {
		if e.idSeq > idSeq && e.idSeq <= lost {
			missed--
		}
	}
	return max(missed, 0)
}

// ringsFor returns the rings of s's types (every ring for OnAll).
func (r *retention) ringsFor(s *Subscription) map[EventType]*retainRing {
	if r == nil {
		return nil
	}
	if s.all {
		return r.rings
	}
	out := make(map[EventType]*retainRing, len(s.types))
	for _, t := range s.types {
		if ring := r.rings[t]; ring != nil {
			out[t] = ring
		}
	}
	return out
}
