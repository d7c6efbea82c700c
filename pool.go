package eventbus

import (
	"errors"
	"runtime/debug"
	"sync/atomic"
)

// ErrHandlerExited is what Config.OnPanic receives as the recovered value
// when a handler called runtime.Goexit. The goroutine it ran on ends; a
// fresh worker takes its place and carries on with the event's next handler.
var ErrHandlerExited = errors.New("eventbus: handler called runtime.Goexit")

// worker is one slot of the pool. Its counters are written only by the
// goroutine currently running the slot and read by Metrics and WaitIdle,
// so recording an event touches no shared cache line.
type worker struct {
	id  int
	cur job // the event being handled
	// curIdx is the index in cur.subs of the handler being run, so that a
	// replacement can carry on after a handler called runtime.Goexit.
	curIdx int
	// running is the subscription whose handler this worker runs now, so
	// that Subscription.Done can tell when a handler has stopped for good.
	running atomic.Pointer[Subscription]
	// done counts finished events per WaitIdle parity; their sum is the
	// worker's share of EventsProcessed.
	done   [2]atomic.Int64
	panics atomic.Int64
	stats  workerStats
	_      [64]byte // keep the next worker's hot fields off this cache line
}

// pool is the fixed set of workers. The workers slice never changes after
// NewEventBus, so it is read without a lock.
type pool struct {
	workers []*worker
	live    atomic.Int32  // goroutines running a worker slot
	stopped chan struct{} // closed when the last worker goroutine exits
}

// running reports whether some worker is running s's handler now.
func (p *pool) running(s *Subscription) bool {
	for _, w := range p.workers {
		if w.running.Load() == s {
			return true
		}
	}
	return false
}

// processed returns the events finished under WaitIdle parity par, or under
// both parities when par is -1.
func (p *pool) processed(par int) int64 {
	var n int64
	for _, w := range p.workers {
		if par != 1 {
			n += w.done[0].Load()
		}
		if par != 0 {
			n += w.done[1].Load()
		}
	}
	return n
}

func (p *pool) panics() int64 {
	var n int64
	for _, w := range p.workers {
		n += w.panics.Load()
	}
	return n
}

// startWorker runs slot w on a new goroutine. resume means the slot's
// previous goroutine ended inside a handler of w.cur, which the new one
// must finish first.
func (b *EventBus) startWorker(w *worker, resume bool) {
	b.pool.live.Add(1)
	go b.runWorker(w, resume)
}

func (b *EventBus) runWorker(w *worker, resume bool) {
	exited := true
	defer func() {
		if exited {
			// A handler called runtime.Goexit, which no one can stop:
			// this goroutine ends here. A replacement keeps the pool at
			// full strength and finishes the event.
			b.afterInvoke(w, w.cur.subs[w.curIdx])
			b.startWorker(w, true)
		}
		if b.pool.live.Add(-1) == 0 {
			close(b.pool.stopped)
		}
	}()
	if resume {
		b.dispatch(w, w.curIdx+1, true)
	}
	for {
		ok, parked := b.q.pop(&w.cur)
		if !ok {
			break
		}
		b.dispatch(w, 0, parked)
	}
	exited = false
}

// dispatch runs the handlers of w.cur from index from on, then counts the
// event as processed. parked says whether the worker waited for the event,
// which tells the monitor whether it must read the clock for its start.
func (b *EventBus) dispatch(w *worker, from int, parked bool) {
	j := &w.cur
	var start int64
	if b.mon != nil {
		start = w.stats.begin(j, parked)
	}
	for i := from; i < len(j.subs); i++ {
		s := j.subs[i]
		w.curIdx = i
		// Publish which handler runs before checking that it is still
		// subscribed: Unsubscribe clears active before it looks at
		// running, so one of the two sides always sees the other.
		w.running.Store(s)
		if s.active.Load() {
			b.invoke(w, s)
		}
		b.afterInvoke(w, s)
	}
	if b.mon != nil {
		w.stats.end(start)
	}
	w.done[j.epoch].Add(1)
	*j = job{}
	b.notifyIdle()
}

func (b *EventBus) afterInvoke(w *worker, s *Subscription) {
	w.running.Store(nil)
	if !s.active.Load() {
		s.releaseIfIdle()
	}
}

// invoke runs one handler and contains whatever it does: a panic is
// recovered and reported; runtime.Goexit is reported and then let through.
func (b *EventBus) invoke(w *worker, s *Subscription) {
	returned := false
	defer func() {
		if !returned {
			b.handlerFailed(w, recover())
		}
	}()
	s.handler(w.cur.ev)
	returned = true
}

// handlerFailed counts a handler that did not return normally and passes
// it to Config.OnPanic. recovered is nil when the handler called
// runtime.Goexit: a panic, even panic(nil), recovers as a non-nil value.
func (b *EventBus) handlerFailed(w *worker, recovered any) {
	w.panics.Add(1)
	if recovered == nil {
		recovered = ErrHandlerExited
	}
	if b.cfg.OnPanic == nil {
		return
	}
	stack := debug.Stack()
	defer func() { _ = recover() }() // a failing hook must not take the worker down
	b.cfg.OnPanic(w.cur.ev, recovered, stack)
}
