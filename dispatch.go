package eventbus

import "runtime/debug"

// runWorker is the loop of one worker slot: take work, run it, until the
// queue closes, the pool shrinks, or the watchdog replaces the worker.
// resume means the slot's previous goroutine ended inside a handler (it
// called runtime.Goexit), and this one carries on with its view.
func (b *EventBus) runWorker(w *worker, resume bool) {
	exited := true
	defer func() {
		if exited {
			if r := recover(); r != nil {
				panic(r) // not a handler's: those are recovered in call
			}
			// A handler called runtime.Goexit, which no one can stop:
			// this goroutine ends here, its call counted. A replacement
			// keeps the pool at full strength and finishes the view.
			b.startWorker(w, true)
		}
		b.pool.leave()
	}()
	if resume {
		b.runView(w)
	}
	for {
		switch b.q.pop(w) {
		case popClosed:
			exited = false
			return
		case popRetire:
			// The pool shrinks: this worker is idle and leaves.
			b.pool.retire(w)
			exited = false
			return
		case popDetached:
			// The watchdog replaced this worker while it was stuck; its
			// handler has returned and its view is done.
			b.pool.retire(w)
			b.wd.workerLeft()
			exited = false
			return
		}
		if len(w.drops) > 0 {
			drops := w.drops
			w.drops = w.drops[:0]
			for _, d := range drops {
				b.dropDelivery(w, d, ErrQueueFull)
			}
			clear(drops)
		}
		bump(&w.batches)
		b.runView(w)
	}
}

// runView runs the deliveries of the worker's view that it claims (free
// workers may take the rest), times the view and sizes the next one. A
// replacement goroutine resumes the view of one whose handler called
// runtime.Goexit: the view is then timed from when it began.
//
// Each delivery is finished (its event may then count as processed) only
// once the next one is claimed, and the last one after the view's time is
// recorded, so that Metrics read after WaitIdle includes the handler time
// of what WaitIdle waited for.
func (b *EventBus) runView(w *worker) {
	v := &w.v
	timed := b.mon != nil || b.batchLimit > 1
	if timed && v.began == 0 {
		v.began = monotime()
		if b.mon != nil {
			w.stats.beginBatch(v.began)
		}
	}
	w.busy.Store(true)
	ran := 0
	for {
		i, ok := v.claimNext()
		if !ok {
			break
		}
		b.finishCalled(w)
		v.i = i
		b.deliver(w, v.dl[i], v.began)
		ran++
	}
	if timed {
		now := monotime()
		if b.mon != nil {
			w.stats.endBatch(v.began, now, ran)
		}
		v.adapt(now-v.began, b.batchLimit)
		v.began = 0
	}
	b.finishCalled(w)
	w.busy.Store(false)
}

// finishCalled finishes the delivery whose call the worker made last, if
// it has not been finished yet.
func (b *EventBus) finishCalled(w *worker) {
	if w.called {
		w.called = false
		b.finishDelivery(w, w.v.dl[w.v.i], w.callStart)
	}
}

// deliver runs one delivery: it calls the handler unless the subscription
// has ended, in which case the delivery is dropped. took is when the
// worker took up the view, for the subscription's wait figures.
func (b *EventBus) deliver(w *worker, d delivery, took int64) {
	s := d.s
	sh := s.stats.shard(w.id)
	// A replayed event meets the subscription's filter here, outside the
	// queue's lock under which it was handed over; it counts as matched
	// once accepted (see matchesLate).
	late := d.matchesLate()
	if late && !b.filter(s, &d.f.ev) {
		s.stats.late.Add(-1)
		b.finishDelivery(w, d, 0)
		if s.closed.Load() {
			s.settle()
		}
		return
	}
	// Count the worker in the step between this check and the call, so
	// that Unsubscribe can wait for it (see Subscription.Unsubscribe).
	if sh.calls.Add(callWindow); s.closed.Load() {
		sh.calls.Add(^uint64(callWindow - 1))
		b.dropDelivery(w, d, ErrUnsubscribed)
		return
	}
	if late {
		sh.matched.Add(1) // before late goes down: see settle
		s.stats.late.Add(-1)
	}
	sh.recordWait(d.f, took)
	if !d.f.has(flightCalled) {
		d.f.mark(flightCalled)
	}
	b.call(w, sh, d)
}

// call calls the handler of d and contains whatever it does: a panic is
// recovered and reported; runtime.Goexit is reported and then let through.
// Either way the call counts as delivered, and the worker (or its
// replacement, after Goexit) finishes the delivery with finishCalled.
func (b *EventBus) call(w *worker, sh *subShard, d delivery) {
	watched := b.wd != nil
	if watched {
		w.cur.mu.Lock()
		w.cur.ev, w.cur.sub = d.f.ev, d.s
		w.cur.mu.Unlock()
		bump(&w.calls) // odd: inside a call
	}
	w.called = true
	returned := false
	var unsent error
	defer func() {
		if !returned {
			b.handlerFailed(w, d, recover())
		}
		if watched {
			bump(&w.calls)
		}
		sh.ended.Add(1)
		if unsent != nil {
			// After ended, so that Delivered never reads below zero.
			sh.unsent.Add(1)
			d.s.reportDrop(d.f.ev, unsent)
		}
		if d.s.closed.Load() {
			d.s.settle()
		}
	}()
	if d.s.co != nil {
		w.callStart = monotime() // the key's window starts here
	}
	sh.calls.Add(callBegun - callWindow) // from the window to the call
	if d.s.send != nil {
		unsent = d.s.send(d.f.ev)
	} else {
		d.s.handler(d.f.ev)
	}
	returned = true
}

// handlerFailed counts a handler that did not return normally and passes
// it to Config.OnPanic. recovered is nil when the handler called
// runtime.Goexit: a panic, even panic(nil), recovers as a non-nil value.
func (b *EventBus) handlerFailed(w *worker, d delivery, recovered any) {
	w.shard.panics.Add(1)
	if recovered == nil {
		recovered = ErrHandlerExited
	}
	b.reportPanic(d.f.ev, recovered)
}

// reportPanic passes a panic in user code to Config.OnPanic.
func (b *EventBus) reportPanic(ev Event, recovered any) {
	if b.cfg.OnPanic == nil {
		return
	}
	stack := debug.Stack()
	defer func() { _ = recover() }() // a failing hook must not take the worker down
	b.cfg.OnPanic(ev, recovered, stack)
}

// dropDelivery drops d for its subscription: counted there, passed to its
// WithOnDrop hook, and finished. w is the worker doing it, or nil.
func (b *EventBus) dropDelivery(w *worker, d delivery, reason error) {
	b.countDrop(w, d, reason)
	b.finishDelivery(w, d, 0)
}

// dropParked drops a delivery that the drop policy took from its ordered
// stream while it waited there: it never had the stream's turn, so it
// finishes without passing the turn on.
func (b *EventBus) dropParked(d delivery) {
	b.countDrop(nil, d, ErrQueueFull)
	b.release(nil, d.f)
}

// countDrop counts d as dropped for its subscription and passes it to its
// WithOnDrop hook.
func (b *EventBus) countDrop(w *worker, d delivery, reason error) {
	id := 0
	if w != nil {
		id = w.id
	}
	sh := d.s.stats.shard(id)
	if d.matchesLate() {
		sh.matched.Add(1) // before late goes down: see settle
		d.s.stats.late.Add(-1)
	}
	sh.dropped.Add(1)
	d.s.reportDrop(d.f.ev, reason)
	if d.s.closed.Load() {
		d.s.settle()
	}
}

// finishDelivery ends d: its ordered stream or coalescing key moves on,
// and the event is finished once all its deliveries are. started is when
// its call began, 0 if it was dropped. It must not be called with the
// queue's lock held.
func (b *EventBus) finishDelivery(w *worker, d delivery, started int64) {
	var drops []delivery
	switch {
	case d.s.co != nil:
		drops = b.q.coalesceDone(d, started)
	case d.s.ordered && d.f.key != "":
		drops = b.q.releaseStream(d, nil)
	}
	for _, next := range drops {
		b.dropDelivery(w, next, ErrQueueFull)
	}
	b.release(w, d.f)
}

// release counts one delivery of f as finished and finishes the event
// with its last one: the event counts as processed, or, when the shutdown
// deadline dropped all of its deliveries before any call, as dropped. It
// may be called with the queue's lock held only for events that were not
// cut by the shutdown deadline.
func (b *EventBus) release(w *worker, f *flight) {
	if f.remaining.Add(-1) != 0 {
		return
	}
	sh := &b.pool.tally.shards[0]
	if w != nil {
		sh = w.shard
	}
	switch {
	case f.has(flightDropped):
		// Counted as dropped already (see evict).
	case f.replay:
		sh.replayDone[f.epoch].Add(1)
		b.notifyIdle()
	case f.flags.Load()&(flightCut|flightCalled) == flightCut:
		b.evict(f, ErrEventBusShutdown)
		return
	case f.flags.Load()&(flightSqueezed|flightCalled) == flightSqueezed:
		b.evict(f, ErrQueueFull)
		return
	default:
		sh.doneLv[f.prio-1].Add(1)
		sh.done[f.epoch].Add(1)
		b.notifyIdle()
	}
	putFlight(f)
}

// countMatched counts n deliveries to each subscription of f's route that
// f delivers to, but for those it was handed to at admission: n events of
// one route are counted in one add per subscription. The queue's lock must be held, so that no subscription
// ends meanwhile (see Subscription.end).
func (b *EventBus) countMatched(w *worker, f *flight, n int) {
	for p, np := 0, f.nsubs(); p < np; p++ {
		if s := f.sub(p); !f.skip.has(p) && !s.closed.Load() && !f.isEarly(s) {
			s.stats.shard(w.id).matched.Add(int64(n))
		}
	}
}
