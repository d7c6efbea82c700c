package eventbus

// levels holds the queued events, one FIFO per priority level, and decides
// which level a free worker serves next. It is not safe for concurrent
// use; the queue's mutex guards it.
//
// Selection is by strict priority with a bound on starvation: a worker
// serves the highest level that has work, except that a lower level that
// has had work waiting through limit dispatches of higher levels is served
// next, for one dispatch. Work at a level is the level's queued events and
// the deliveries of already-taken events of that level that wait for a
// worker (see queue.hasWork). Go's select chooses at random among ready
// channels, so a worker selecting over three channels would not give this
// order; a single lock over three FIFOs does.
type levels struct {
	rings [numLevels]fifo[*flight]
	seq   uint64
	limit int
	// passed[i] counts the dispatches from levels above i since level i
	// last had a dispatch or had no work (for the two lower levels).
	passed [numLevels - 1]int
}

// lowLevel is the index of PriorityLow's FIFO; a level's index is its
// Priority minus one.
const lowLevel = 0

// stamp gives f the queue's next sequence number, which orders events
// across levels for DropOldest.
func (l *levels) stamp(f *flight) {
	l.seq++
	f.seq = l.seq
}

func (l *levels) push(f *flight)    { l.rings[f.prio-1].push(f) }
func (l *levels) depth(i int) int   { return l.rings[i].len() }
func (l *levels) pop(i int) *flight { return l.rings[i].pop() }

// choose returns the level a free worker must serve and whether it is a
// starvation turn (a higher level has work too), or -1 when no level has
// work the worker may take. has says which levels have work; runnable
// which of those the worker may take now (Low only while a Low slot is
// free). A starving level is served first (Low before Medium, as Low has
// waited through at least as many dispatches), otherwise the highest.
func (l *levels) choose(has, runnable *[numLevels]bool) (level int, starved bool) {
	for i := 0; i < numLevels-1; i++ {
		if l.passed[i] >= l.limit && runnable[i] {
			for h := i + 1; h < numLevels; h++ {
				if has[h] {
					return i, true
				}
			}
			return i, false
		}
	}
	for i := numLevels - 1; i >= 0; i-- {
		if runnable[i] {
			return i, false
		}
	}
	return -1, false
}

// served records n dispatches at level i: every lower level with work
// waits n dispatches longer, and level i starts over.
func (l *levels) served(i, n int, has *[numLevels]bool) {
	for lower := 0; lower < i; lower++ {
		if has[lower] {
			l.passed[lower] += n
		} else {
			l.passed[lower] = 0
		}
	}
	if i < numLevels-1 {
		l.passed[i] = 0
	}
}

// batchLimit returns the most events a worker may take from level i in one
// dispatch without a waiting lower level passing its starvation limit.
func (l *levels) batchLimit(i int, has *[numLevels]bool) int {
	k := maxBatch
	for lower := 0; lower < i; lower++ {
		if has[lower] {
			k = max(1, min(k, l.limit-l.passed[lower]))
		}
	}
	return k
}

// oldest returns the level whose first event was queued first, or -1 when
// nothing is queued.
func (l *levels) oldest() int {
	best, bestSeq := -1, uint64(0)
	for i := range l.rings {
		if l.rings[i].len() > 0 {
			if seq := l.rings[i].front().seq; best < 0 || seq < bestSeq {
				best, bestSeq = i, seq
			}
		}
	}
	return best
}

// lowest returns the lowest level with a queued event, or -1.
func (l *levels) lowest() int {
	for i := range l.rings {
		if l.rings[i].len() > 0 {
			return i
		}
	}
	return -1
}
