package eventbus

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// Subscribe registers h for events of type t. It is On without the
// Subscription, for code written against Brummer's bus. A nil h panics.
func (b *EventBus) Subscribe(t EventType, h Handler) {
	b.On(t, h)
}

// On registers h for events of type t and returns the Subscription that
// ends it. Events published after On returns reach h; events published
// before do not. The options set the subscription's name, concurrency,
// buffer, filter and drop hook (see SubscribeOption). A nil h, or an
// option with a bad value, panics: it is a programming error, reported
// where it is made rather than later inside a worker.
//
// Each handler of an event is a delivery of its own: while one handler of
// an event is stuck, the event's other handlers still run on free workers,
// and a worker that took an event lets free workers take its unstarted
// deliveries before they take queued events of the same or a lower level.
// Fast handlers still run back to back on one worker. A free worker here
// is one that may run the event's level: with priorities enabled, Low
// deliveries run on at most Workers - ReservedWorkers workers (see
// Config.ReservedWorkers), so once stuck handlers hold all of those, Low
// deliveries wait, while High and Medium ones go on, until a call returns
// or Config.ReplaceStuckWorkers gives a stuck worker's slot to a fresh
// one. Subscribing after Shutdown returns a subscription that has already
// ended.
func (b *EventBus) On(t EventType, h Handler, opts ...SubscribeOption) *Subscription {
	return b.subscribe([]EventType{t}, false, h, opts)
}

// OnAll registers h for every event, whatever its type, and returns the
// Subscription that ends it. It is On for all types.
func (b *EventBus) OnAll(h Handler, opts ...SubscribeOption) *Subscription {
	return b.subscribe(nil, true, h, opts)
}

// OnTypes registers h for events of any of the given types as one
// subscription, so that its concurrency limit, buffer, ordering and
// figures span them all (a repeated type counts once). It is On for
// several types; an empty types panics.
func (b *EventBus) OnTypes(types []EventType, h Handler, opts ...SubscribeOption) *Subscription {
	if len(types) == 0 {
		panic("eventbus: OnTypes with no event type")
	}
	return b.subscribe(types, false, h, opts)
}

func (b *EventBus) subscribe(types []EventType, all bool, h Handler, opts []SubscribeOption) *Subscription {
	if h == nil {
		panic("eventbus: nil Handler")
	}
	var set subSettings
	set.apply(opts)
	s := b.newSubscription(types, all, &set)
	s.handler = h
	return b.start(s, &set)
}

// newSubscription makes a subscription from its settings; start
// registers it.
func (b *EventBus) newSubscription(types []EventType, all bool, set *subSettings) *Subscription {
	s := &Subscription{
		bus:    b,
		all:    all,
		name:   set.name,
		filter: set.filter,
		onDrop: set.onDrop,
		done:   make(chan struct{}),
	}
	if !all {
		s.types = slices.Compact(slices.Sorted(slices.Values(types)))
	}
	s.stats.init(b.subShards, b.mon != nil)
	limit := set.limit
	if set.replay {
		switch {
		case set.coalesce:
			optionPanic("WithReplay and WithCoalesce do not combine: a replaying subscription gets every event, in order")
		case limit > 1:
			optionPanic("WithReplay and WithConcurrency(%d) do not combine: a replaying subscription gets one event at a time", limit)
		}
		s.replay = &replaySpec{n: set.replayN, after: set.replayAfter}
		limit = 1
	}
	if set.coalesce {
		// A coalescing subscription's deliveries wait for their key in
		// its mailbox, without a limit unless it has one.
		s.co = &coalescer{window: int64(set.coalesceWindow), key: set.coalesceKey}
		if limit == 0 {
			limit = math.MaxInt32
		}
	}
	if limit > 0 {
		size, policy := b.cfg.QueueSize, b.cfg.BackpressureMode
		if set.buffer > 0 {
			size, policy = set.buffer, set.policy
		}
		s.box = newMailbox(s, limit, size, policy)
		s.box.inOrder = s.replay != nil
	}
	s.ordered = b.cfg.OrderingKey != nil && s.co == nil && s.replay == nil && (s.box == nil || s.box.limit > 1)
	return s
}

// start registers s, or ends it at once on a bus that has shut down, and
// ties it to its contexts (WithContext, Chan).
func (b *EventBus) start(s *Subscription, set *subSettings) *Subscription {
	if !b.subs.add(s) {
		s.closed.Store(true)
		s.settle()
		return s
	}
	for _, ctx := range set.ctxs {
		stop := context.AfterFunc(ctx, s.end)
		b.subs.mu.Lock() // end reads them under it, maybe already now
		s.stopCtx = append(s.stopCtx, stop)
		b.subs.mu.Unlock()
	}
	return s
}

// SubscribeOption configures one subscription: pass any number to On,
// OnAll, OnTypes or Chan. A value must come from one of the With
// functions; its arguments are checked when the subscription is made, and
// a bad one panics there with a message naming the option.
type SubscribeOption struct {
	apply func(*subSettings)
}

// subSettings collects the options of one subscription.
type subSettings struct {
	name    string
	limit   int
	buffer  int
	policy  DropPolicy
	filter  func(Event) bool
	onDrop  func(Event, error)
	ctxs    []context.Context
	forChan bool // Chan: options that do not apply to a channel panic

	coalesce       bool
	coalesceWindow time.Duration
	coalesceKey    func(Event) string

	replay      bool
	replayN     int
	replayAfter string
}

func (set *subSettings) apply(opts []SubscribeOption) {
	for _, o := range opts {
		if o.apply == nil {
			panic("eventbus: a SubscribeOption must come from a With function")
		}
		o.apply(set)
	}
}

func optionPanic(format string, args ...any) {
	panic("eventbus: " + fmt.Sprintf(format, args...))
}

// WithName names the subscription in its Stats, in the Metrics of the bus
// (where the ended subscriptions of one name are summed) and in
// Config.OnSlowSubscription. Names need not be unique; the default is "".
func WithName(name string) SubscribeOption {
	return SubscribeOption{func(s *subSettings) { s.name = name }}
}

// WithConcurrency makes at most n calls of the handler run at once (the
// default: no limit beyond the pool). Deliveries that arrive while the
// subscription is at its limit wait in its own buffer (see WithBuffer),
// not on a worker, so a subscription whose handler blocks holds at most n
// workers and delays no one else, as long as those n leave workers free
// for its events' level: a Low subscription stuck with n at or above
// Workers - ReservedWorkers holds every worker Low events may use (see
// On). With n = 1 the handler receives its
// events one at a time: among the waiting ones, High before Medium before
// Low, and within a level in the order the bus admitted them (publish
// order for one publisher), whatever the number of workers and
// publishers. An n below 1 panics at subscribe time.
func WithConcurrency(n int) SubscribeOption {
	return SubscribeOption{func(s *subSettings) {
		if n < 1 {
			optionPanic("WithConcurrency(%d): n must be at least 1", n)
		}
		if s.forChan {
			optionPanic("WithConcurrency does not apply to Chan, which delivers one event at a time")
		}
		s.limit = n
	}}
}

// WithBuffer bounds the deliveries that wait for a subscription with a
// concurrency limit (WithConcurrency; without it, the option has no
// effect): at most n wait, and when one more arrives, policy p drops one
// of them by the bus's rule for that policy (DropOldest: the one admitted
// first; DropNewest: the new one; DropLowPri: the lowest level's oldest,
// or the new one if it is lowest). A dropped delivery counts in the
// subscription's Stats and goes to its WithOnDrop hook with ErrQueueFull;
// its event counts as processed once its other deliveries are done. Block
// drops nothing itself: a delivery beyond the buffer waits set aside,
// without a worker, and takes a slot of the bus's QueueSize until it runs,
// so that under Block the publishers end up waiting instead. On a bus
// whose policy drops, that slot is one the policy may pick like a queued
// event's, by its rule, taking the oldest delivery the buffer holds: the
// delivery is dropped with ErrQueueFull, and its event, if none of its
// deliveries ran, is dropped at the bus level too. The default is
// n = Config.QueueSize and p = Config.BackpressureMode. An n below 1 or
// an unknown policy panics at subscribe time.
func WithBuffer(n int, p DropPolicy) SubscribeOption {
	return SubscribeOption{func(s *subSettings) {
		if n < 1 {
			optionPanic("WithBuffer(%d, %v): n must be at least 1", n, p)
		}
		if !p.valid() {
			optionPanic("WithBuffer(%d, %v): unknown drop policy", n, p)
		}
		if s.forChan {
			optionPanic("WithBuffer does not apply to Chan, whose size and policy are its own arguments")
		}
		s.buffer, s.policy = n, p
	}}
}

// WithFilter makes the subscription receive only the events for which f
// returns true. f runs in the publisher, before anything is queued, on
// every event of the subscription's types: an event that no subscription's
// filter accepts never takes room in the queue and counts as processed at
// once. Retained events that WithReplay or WithReplayAfter hand over meet
// f too, on the worker just before their call; one it refuses is neither
// called nor counted as Matched. f must be fast and must not block; a
// panic in f is reported to Config.OnPanic and counts as a refusal. A nil
// f panics at subscribe time.
func WithFilter(f func(Event) bool) SubscribeOption {
	return SubscribeOption{func(s *subSettings) {
		if f == nil {
			optionPanic("WithFilter(nil)")
		}
		s.filter = f
	}}
}

// WithOnDrop sets a hook called once for every delivery of this
// subscription that is dropped rather than delivered: by its buffer
// (ErrQueueFull), by its channel (see Chan), because the subscription
// ended first (ErrUnsubscribed), or at the shutdown deadline
// (ErrEventBusShutdown). It runs on the goroutine that dropped the
// delivery, never while the bus holds a lock; a panic in it is recovered
// and ignored. Config.OnDrop is not called for such drops: it reports
// events the bus itself dropped. A nil f panics at subscribe time.
func WithOnDrop(f func(ev Event, reason error)) SubscribeOption {
	return SubscribeOption{func(s *subSettings) {
		if f == nil {
			optionPanic("WithOnDrop(nil)")
		}
		s.onDrop = f
	}}
}

// WithContext ends the subscription when ctx is done, exactly as if
// Unsubscribe had been called then. It costs no goroutine
// (context.AfterFunc). A nil ctx panics at subscribe time.
func WithContext(ctx context.Context) SubscribeOption {
	return SubscribeOption{func(s *subSettings) {
		if ctx == nil {
			optionPanic("WithContext(nil)")
		}
		s.ctxs = append(s.ctxs, ctx)
	}}
}
