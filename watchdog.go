package eventbus

import (
	"sync/atomic"
	"time"
)

// watchdog finds handler calls that run longer than Config.HandlerTimeout.
// Go cannot stop a goroutine, so it reports them and, with
// Config.ReplaceStuckWorkers, starts a fresh worker in the stuck one's place
// so that the pool keeps its capacity. It reads only a per-worker call
// counter on each tick: the workers pay two single-writer counter updates
// per call for it and read no clock.
type watchdog struct {
	bus     *EventBus
	timeout int64 // nanoseconds
	ticker  *ticker

	slow     atomic.Int64 // calls reported slow
	replaced atomic.Int64 // workers started in place of stuck ones
	stuck    atomic.Int32 // replaced workers whose handler has not returned yet
}

// watchState is the watchdog's view of one worker, touched only by the
// watchdog goroutine.
type watchState struct {
	calls    int64 // the worker's call counter when last looked at
	since    int64 // monotime when the current call was first seen
	reported bool  // the current call was reported
}

func newWatchdog(b *EventBus) *watchdog {
	wd := &watchdog{bus: b, timeout: int64(b.cfg.HandlerTimeout)}
	wd.ticker = every(watchdogTick(b.cfg.HandlerTimeout), func() { wd.check(monotime()) })
	return wd
}

// watchdogTick returns how often the watchdog looks at the workers for a
// given HandlerTimeout: an eighth of it, but at most once a millisecond.
//
// A call is timed from the first tick that sees it, up to a tick after it
// began, and reported at the first tick at least HandlerTimeout after
// that. Ticks come a few microseconds early or late, so that can be the
// ninth tick rather than the eighth: a report comes at most two ticks
// after HandlerTimeout, 1.25 × HandlerTimeout (with a quarter-timeout
// tick, a jittered fourth tick made it 1.5 ×).
func watchdogTick(timeout time.Duration) time.Duration {
	return max(timeout/8, time.Millisecond)
}

// check looks at every worker once. A call is timed from the first tick
// that sees it (see watchdogTick), so the running time reported is a lower
// bound.
func (wd *watchdog) check(now int64) {
	for _, w := range wd.bus.pool.slots() {
		st := &w.wd
		c := w.calls.Load()
		// A replaced worker is still watched: the calls it makes to
		// finish the deliveries it had taken are reported like any other,
		// though it is never replaced twice (see report).
		switch {
		case c&1 == 0: // between calls
			st.calls = c
		case c != st.calls: // a call the watchdog has not seen before
			*st = watchState{calls: c, since: now}
		case !st.reported && now-st.since >= wd.timeout:
			st.reported = true
			wd.report(w, c, time.Duration(now-st.since))
		}
	}
}

// report passes a slow call to Config.OnSlowHandler and
// Config.OnSlowSubscription and, if allowed, replaces its worker.
func (wd *watchdog) report(w *worker, call int64, running time.Duration) {
	b := wd.bus
	w.cur.mu.Lock()
	ev, sub := w.cur.ev, w.cur.sub
	w.cur.mu.Unlock()
	q := b.q
	q.mu.Lock()
	if w.calls.Load() != call {
		q.mu.Unlock() // it returned meanwhile
		return
	}
	replace := b.cfg.ReplaceStuckWorkers && !q.closed && !w.detached.Load() && int(wd.stuck.Load()) < b.cfg.MaxStuckWorkers
	var fresh *worker
	if replace {
		// Count the replacement in before the stuck worker can see that
		// it was replaced: it leaves as soon as its handler returns, and
		// were it the last goroutine counted, the pool would stop.
		fresh = b.pool.add(1)[0]
		if !b.pool.enter() {
			b.pool.retire(fresh)
			replace = false
		}
	}
	if replace {
		wd.stuck.Add(1)
		w.detached.Store(true)
		q.members-- // the replacement joins in its place
		// Give the stuck view's Low slot back at once, so that the
		// replacement may run Low work. (The worker writes v.low only
		// under the lock.)
		if w.v.low {
			w.v.low = false
			q.runningLow--
		}
		// Its unclaimed deliveries are in the open list: free workers,
		// the replacement among them, take them.
	}
	q.mu.Unlock()

	wd.slow.Add(1)
	if replace {
		wd.replaced.Add(1)
		go b.runWorker(fresh, false)
		q.join(1)
	}
	if h := b.cfg.OnSlowHandler; h != nil {
		func() {
			defer func() { _ = recover() }() // a failing hook must not stop the watchdog
			h(ev, running)
		}()
	}
	if h := b.cfg.OnSlowSubscription; h != nil && sub != nil {
		func() {
			defer func() { _ = recover() }()
			h(sub.name, ev, running)
		}()
	}
}

// workerLeft records that a replaced worker's handler returned and its
// goroutine left the pool.
func (wd *watchdog) workerLeft() {
	if wd != nil {
		wd.stuck.Add(-1)
	}
}
