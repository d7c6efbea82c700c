package eventbus

import "sync/atomic"

// SubscriptionStats are the figures of one subscription (Subscription.Stats
// and MetricsSnapshot.Subscriptions), or the totals of the subscriptions
// of one name that have ended (MetricsSnapshot.EndedSubscriptions).
//
// Matched counts the deliveries the subscription was handed: events that
// passed the bus's own queue and its filter (a replaying subscription is
// handed live events as the bus admits them, and its replayed events). Each one ends up Delivered
// (its handler was called, or the event went into its channel; a call
// that panicked counts too), Dropped (by its buffer, by its channel, or
// skipped because the subscription had ended), Coalesced (replaced by a
// later event, see WithCoalesce), or is still Pending (waiting or running).
// Within one SubscriptionStats value, always
//
//	Matched == Delivered + Dropped + Coalesced + Pending
//
// and 0 <= Running <= Pending, where Running counts the calls in progress.
// The counts only grow, except Pending and Running, and Delivered, which a
// channel subscription under DropOldest lowers by one (and raises Dropped)
// when it replaces an unread event.
type SubscriptionStats struct {
	// Name is the subscription's WithName, or "".
	Name string `json:"name"`
	// Types are the event types it receives, nil for every type (OnAll).
	Types     []EventType `json:"types,omitempty"`
	Matched   int64       `json:"matched"`
	Delivered int64       `json:"delivered"`
	Dropped   int64       `json:"dropped"`
	Coalesced int64       `json:"coalesced"`
	Pending   int64       `json:"pending"`
	Running   int         `json:"running"`
	// Missed counts events a resuming subscription could not get because
	// they had left the replay buffer (see WithReplayAfter).
	Missed int64 `json:"missed"`
	// Wait is the time from publish until the delivery was taken up by a
	// worker (with monitoring on; zero otherwise). A worker takes up the
	// deliveries of fast handlers a few at a time, so a wait may be short
	// of the call's start by up to a batch's time (microseconds).
	Wait WaitStats `json:"wait"`
}

// add adds o's counts to st, for totals per name.
func (st *SubscriptionStats) add(o *SubscriptionStats) {
	st.Matched += o.Matched
	st.Delivered += o.Delivered
	st.Dropped += o.Dropped
	st.Coalesced += o.Coalesced
	st.Pending += o.Pending
	st.Running += o.Running
	st.Missed += o.Missed
}

// subStats holds a subscription's counts, spread over shards like the
// pool's (see tally): the worker with slot id i counts into shard i mod
// len(shards), so the workers that deliver to one subscription at the
// same moment rarely write the same cache line. Goroutines that are not
// workers (Unsubscribe, Shutdown) use shard 0.
type subStats struct {
	shards []subShard
	missed atomic.Int64
	// late counts replayed deliveries that wait for the subscription's
	// filter (see delivery.matchesLate): not matched yet, but the figures
	// are not final while there are any.
	late atomic.Int64
}

type subShard struct {
	// calls packs the workers between their check that the subscription
	// has not ended and the handler call (low 32 bits) and the calls begun
	// (high 32 bits, modulo 2^32).
	calls     atomic.Uint64
	ended     atomic.Int64 // calls that ended, normally or not
	matched   atomic.Int64
	dropped   atomic.Int64
	coalesced atomic.Int64
	unsent    atomic.Int64 // ended calls whose event its channel later dropped
	wait      *histogram   // nil without monitoring
	_         [64]byte
}

const (
	callWindow = 1
	callBegun  = 1 << 32
)

// subShardsFor returns the number of shards of a subscription's figures:
// twice the CPUs, a power of two from 2 to 16. Fewer than the pool's,
// since every subscription has its own.
func subShardsFor(cpus int) int {
	n := 2
	for n < 2*cpus && n < 16 {
		n *= 2
	}
	return n
}

func (st *subStats) init(shards int, monitoring bool) {
	st.shards = make([]subShard, shards)
	if monitoring {
		hs := make([]histogram, shards)
		for i := range st.shards {
			st.shards[i].wait = &hs[i]
		}
	}
}

// shard returns the shard of the worker whose slot id is id.
func (st *subStats) shard(id int) *subShard { return &st.shards[id&(len(st.shards)-1)] }

// read returns the figures, reading the counts in the order that keeps
// the identity and its bounds true however calls move meanwhile: what
// finished first, what was begun next, what was matched last.
func (st *subStats) read() SubscriptionStats {
	var r SubscriptionStats
	var coalesced, dropped, unsent, ended, matched int64
	var running uint32
	for i := range st.shards {
		coalesced += st.shards[i].coalesced.Load()
	}
	for i := range st.shards {
		dropped += st.shards[i].dropped.Load()
	}
	for i := range st.shards {
		unsent += st.shards[i].unsent.Load()
	}
	for i := range st.shards {
		sh := &st.shards[i]
		e := sh.ended.Load()
		ended += e
		running += uint32(sh.calls.Load()>>32) - uint32(e)
	}
	for i := range st.shards {
		matched += st.shards[i].matched.Load()
	}
	r.Coalesced = coalesced
	r.Delivered = ended - unsent
	r.Dropped = dropped + unsent
	r.Pending = matched - ended - dropped - coalesced
	r.Matched = matched
	r.Running = int(running)
	r.Missed = st.missed.Load()
	if st.shards[0].wait != nil {
		var hist [waitBuckets]int64
		var maxWait, sum int64
		for i := range st.shards {
			maxWait = max(maxWait, st.shards[i].wait.read(&hist, &sum))
		}
		r.Wait = waitStats(&hist, maxWait, sum)
	}
	return r
}

// idle reports whether no call is in progress and no worker is between
// its check and a call. Each shard's counter is read once, after its
// ended count, so a worker moving from its check to its call, or a call
// ending meanwhile, makes it report false rather than a wrong true: the
// worker that moves on calls settle again when it is done.
func (st *subStats) idle() bool {
	for i := range st.shards {
		sh := &st.shards[i]
		e := sh.ended.Load()
		c := sh.calls.Load()
		if uint32(c) != 0 || uint32(c>>32) != uint32(e) {
			return false
		}
	}
	return true
}

// pending returns the deliveries matched and not finished.
func (st *subStats) pending() int64 {
	var n int64
	for i := range st.shards {
		sh := &st.shards[i]
		n -= sh.coalesced.Load() + sh.dropped.Load() + sh.ended.Load()
	}
	for i := range st.shards {
		n += st.shards[i].matched.Load()
	}
	return n
}

// windowsClosed reports whether no worker is between its check and a
// handler call.
func (st *subStats) windowsClosed() bool {
	for i := range st.shards {
		if uint32(st.shards[i].calls.Load()) != 0 {
			return false
		}
	}
	return true
}

// recordWait records the wait of a delivery taken up at start.
func (sh *subShard) recordWait(f *flight, start int64) {
	if sh.wait != nil && f.enqueued != 0 && start != 0 {
		sh.wait.record(start - f.enqueued)
	}
}
