package eventbus

import "strings"

// OrderByProcessID is an OrderingKey for Config: the events of one process
// (Event.ProcessID) are handled one at a time in publish order, as a log
// view needs its lines; events without a ProcessID are not ordered.
func OrderByProcessID(ev Event) string { return ev.ProcessID }

// laneKey identifies an ordered stream: one key at one priority level.
// Ordering holds within a key and a level, so a High event of a process is
// not held back behind that process's flood of Low log lines.
type laneKey struct {
	key   string
	level int8
}

// lane is an ordered stream that has an event in the priority queue or
// running. Later events of the stream wait in pending, outside the priority
// queue, until that one is done; so a key never has two events runnable at
// once, and a worker never skips over a blocked event to find work. A lane
// is deleted as soon as its stream has nothing queued or running, so keys
// cost memory only while they are busy.
type lane struct {
	pending ring
}

// lanes holds the busy streams. It is not safe for concurrent use; the
// queue's mutex guards it.
type lanes struct {
	m       map[laneKey]*lane
	free    []*lane        // emptied lanes kept for reuse, to spare an allocation per burst
	parked  [numLevels]int // jobs waiting in pending, per level
	peakLen int            // most lanes held at once since m was made
}

// maxFreeLanes bounds the emptied lanes kept for reuse.
const maxFreeLanes = 64

func laneOf(j *job) laneKey { return laneKey{key: j.key, level: int8(j.prio - 1)} }

// park queues j behind the busy event of its stream, if there is one, and
// reports whether it did. Otherwise it marks the stream busy, and the caller
// makes j runnable.
func (ls *lanes) park(j *job) bool {
	k := laneOf(j)
	if ln := ls.m[k]; ln != nil {
		ln.pending.push(j)
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
	// our own, so that a key cut from a larger string (as event IDs are
	// from their blocks) does not keep that string alive.
	k.key = strings.Clone(k.key)
	ls.m[k] = ln
	ls.peakLen = max(ls.peakLen, len(ls.m))
	return false
}

// release ends the busy event of j's stream (handled or dropped). It moves
// the stream's next event into *next and returns true if there is one;
// otherwise it forgets the stream.
func (ls *lanes) release(j *job, next *job) bool {
	k := laneOf(j)
	ln := ls.m[k]
	if ln == nil {
		return false
	}
	if ln.pending.len() > 0 {
		ln.pending.popInto(next)
		ls.parked[k.level]--
		return true
	}
	ls.forget(k, ln)
	return false
}

func (ls *lanes) forget(k laneKey, ln *lane) {
	delete(ls.m, k)
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

// oldestParked removes and returns, into *dst, the parked job of level lv
// that was queued first, or returns false if none is parked there. The
// queue only looks here for a victim when level lv has nothing runnable:
// then every lane of the level has its busy event running, so few lanes
// hold parked jobs of it.
func (ls *lanes) oldestParked(lv int, dst *job) bool {
	if ls.parked[lv] == 0 {
		return false
	}
	var best *lane
	for k, ln := range ls.m {
		if int(k.level) == lv && ln.pending.len() > 0 &&
			(best == nil || ln.pending.front().seq < best.pending.front().seq) {
			best = ln
		}
	}
	best.pending.popInto(dst)
	ls.parked[lv]--
	return true
}

// oldestParkedSeq returns the sequence number of the oldest parked job of
// level lv.
func (ls *lanes) oldestParkedSeq(lv int) (uint64, bool) {
	if ls.parked[lv] == 0 {
		return 0, false
	}
	var seq uint64
	found := false
	for k, ln := range ls.m {
		if int(k.level) == lv && ln.pending.len() > 0 && (!found || ln.pending.front().seq < seq) {
			seq, found = ln.pending.front().seq, true
		}
	}
	return seq, found
}

// removeAll empties every lane into out, for a shutdown whose deadline
// passed.
func (ls *lanes) removeAll(out []job) []job {
	for _, ln := range ls.m {
		for ln.pending.len() > 0 {
			var j job
			ln.pending.popInto(&j)
			out = append(out, j)
		}
	}
	ls.m, ls.peakLen, ls.parked = nil, 0, [numLevels]int{}
	return out
}
