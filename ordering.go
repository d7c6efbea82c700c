package eventbus

import "strings"

// OrderByProcessID is an OrderingKey for Config: the events of one process
// (Event.ProcessID) reach each subscription one at a time in publish
// order, as a log view needs its lines; events without a ProcessID are not
// ordered.
func OrderByProcessID(ev Event) string { return ev.ProcessID }

// laneKey identifies an ordered stream: one key at one priority level for
// one subscription. Ordering holds within a key and a level, so a High
// event of a process is not held back behind that process's flood of Low
// log lines; and per subscription, so a subscription that is stuck on an
// event holds back only its own later deliveries of that key.
type laneKey struct {
	key   string
	level int8
	sub   *Subscription
}

// lane is an ordered stream that has a delivery waiting to run or
// running. Its later deliveries wait in pending until that one is done;
// so a key never has two deliveries to one subscription runnable at once,
// and a worker never skips over a blocked delivery to find work. A lane is
// deleted as soon as its stream has nothing waiting or running, so keys
// cost memory only while they are busy.
type lane struct {
	k       laneKey
	pending fifo[delivery]
	// The lanes of one subscription are linked, so that Unsubscribe finds
	// them without looking at every lane.
	subPrev, subNext *lane
}

// lanes holds the busy streams. It is not safe for concurrent use; the
// queue's mutex guards it.
type lanes struct {
	m       map[laneKey]*lane
	free    []*lane        // emptied lanes kept for reuse
	parked  [numLevels]int // deliveries waiting in pending, per level
	peakLen int            // most lanes held at once since m was made
}

// parkedTotal returns the number of deliveries waiting in streams.
func (ls *lanes) parkedTotal() int {
	n := 0
	for _, p := range ls.parked {
		n += p
	}
	return n
}

// maxFreeLanes bounds the emptied lanes kept for reuse.
const maxFreeLanes = 64

func laneOf(d delivery) laneKey {
	return laneKey{key: d.f.key, level: int8(d.f.prio - 1), sub: d.s}
}

// park queues d behind the busy delivery of its stream, if there is one,
// and reports whether it did. Otherwise it marks the stream busy, and the
// caller goes on with d.
func (ls *lanes) park(d delivery) bool {
	k := laneOf(d)
	if ln := ls.m[k]; ln != nil {
		ln.pending.push(d)
		ls.parked[k.level]++
		return true
	}
	if ls.m == nil {
		ls.m = make(map[laneKey]*lane)
	}
	var ln *lane
	if n := len(ls.free); n > 0 {
		ln, ls.free = ls.free[n-1], ls.free[:n-1]
	} else {
		ln = new(lane)
	}
	// The key outlives the event while the stream is busy: keep a copy of
	// our own, so that a key cut from a larger string does not keep that
	// string alive.
	k.key = strings.Clone(k.key)
	ln.k = k
	s := d.s
	ln.subNext = s.lanes
	if s.lanes != nil {
		s.lanes.subPrev = ln
	}
	s.lanes = ln
	ls.m[k] = ln
	ls.peakLen = max(ls.peakLen, len(ls.m))
	return false
}

// release ends the busy delivery of d's stream (finished or dropped). It
// returns the stream's next delivery and true if there is one; otherwise
// it forgets the stream.
func (ls *lanes) release(d delivery) (delivery, bool) {
	ln := ls.m[laneOf(d)]
	if ln == nil {
		return delivery{}, false // its subscription ended meanwhile
	}
	if ln.pending.len() > 0 {
		ls.parked[ln.k.level]--
		return ln.pending.pop(), true
	}
	ls.forget(ln)
	return delivery{}, false
}

func (ls *lanes) forget(ln *lane) {
	delete(ls.m, ln.k)
	s := ln.k.sub
	if ln.subPrev == nil {
		s.lanes = ln.subNext
	} else {
		ln.subPrev.subNext = ln.subNext
	}
	if ln.subNext != nil {
		ln.subNext.subPrev = ln.subPrev
	}
	*ln = lane{pending: ln.pending}
	if len(ls.free) < maxFreeLanes {
		ls.free = append(ls.free, ln)
	}
	// A Go map keeps the buckets it grew to. Once the streams of a burst of
	// many keys are all gone, start over with a small map, so that a
	// million keys over time cost no more than the most at once.
	if len(ls.m) == 0 && ls.peakLen > 1024 {
		ls.m, ls.peakLen = nil, 0
	}
}

// dropSub forgets every lane of s, appending their waiting deliveries to
// out, for a subscription that ended.
func (ls *lanes) dropSub(s *Subscription, out []delivery) []delivery {
	for s.lanes != nil {
		ln := s.lanes
		for ln.pending.len() > 0 {
			out = append(out, ln.pending.pop())
			ls.parked[ln.k.level]--
		}
		ls.forget(ln)
	}
	return out
}

// removeAll empties every lane into out, for a shutdown whose deadline
// passed.
func (ls *lanes) removeAll(out []delivery) []delivery {
	for _, ln := range ls.m {
		for ln.pending.len() > 0 {
			out = append(out, ln.pending.pop())
		}
		ln.k.sub.lanes = nil
	}
	ls.m, ls.peakLen, ls.parked = nil, 0, [numLevels]int{}
	return out
}
