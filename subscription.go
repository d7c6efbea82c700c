package eventbus

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Subscription is one handler registered with On or OnAll. Its methods are
// safe for concurrent use, including from inside its own handler.
type Subscription struct {
	bus     *EventBus
	handler Handler
	typ     EventType
	all     bool   // registered with OnAll
	order   uint64 // registration order, so handlers run in that order
	active  atomic.Bool
	once    sync.Once
	done    chan struct{}
}

// Unsubscribe removes the handler. After Unsubscribe returns, no invocation
// of the handler begins, also for events that were already queued; an
// invocation that a worker had already begun may still be running, and
// Unsubscribe does not wait for it, so it is safe to call from inside the
// handler itself. Wait on Done to know when the handler has stopped running
// for good. Calling Unsubscribe again does nothing.
func (s *Subscription) Unsubscribe() {
	if !s.active.CompareAndSwap(true, false) {
		return
	}
	s.bus.subs.remove(s)
	s.releaseIfIdle()
}

// Done returns a channel that is closed once the subscription is
// unsubscribed and no invocation of its handler is running. A program whose
// handler sends on a channel can close that channel safely after
// Unsubscribe and <-Done(). Waiting on Done from inside the handler itself
// never returns.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// releaseIfIdle closes done if the subscription is inactive and no worker
// is running its handler. Workers call it after each invocation of an
// inactive subscription, so the last one to finish closes done.
func (s *Subscription) releaseIfIdle() {
	if s.active.Load() || s.bus.pool.running(s) {
		return
	}
	s.once.Do(func() { close(s.done) })
}

// subscriberTable maps event types to their handlers. Readers (every
// publish) load an immutable snapshot with one atomic load and take no
// lock; writers (Subscribe, Unsubscribe) serialise on a mutex and replace
// the snapshot whole. Subscribing is rare and publishing is hot, so the
// cost of copying falls on the rare side.
type subscriberTable struct {
	mu     sync.Mutex // writers only
	snap   atomic.Pointer[subscriberSnapshot]
	prioOf func(EventType) Priority
	order  uint64 // last registration number, under mu
	typed  map[EventType][]*Subscription
	all    []*Subscription
}

// subscriberSnapshot is what a publish reads. A route's handler slice is
// never modified after the snapshot is published, so a job may keep it.
type subscriberSnapshot struct {
	routes map[EventType]route
	all    []*Subscription // for types with no typed handler
}

type route struct {
	subs []*Subscription // typed and OnAll handlers, in registration order
	prio Priority
}

func (t *subscriberTable) init(prioOf func(EventType) Priority) {
	t.prioOf = prioOf
	t.typed = make(map[EventType][]*Subscription)
	t.snap.Store(&subscriberSnapshot{routes: map[EventType]route{}})
}

// lookup returns the handlers for an event of type typ and, when it has
// typed handlers, the priority cached for the type (0 otherwise).
func (t *subscriberTable) lookup(typ EventType) ([]*Subscription, Priority) {
	s := t.snap.Load()
	if r, ok := s.routes[typ]; ok {
		return r.subs, r.prio
	}
	return s.all, 0
}

func (t *subscriberTable) add(s *Subscription) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.order++
	s.order = t.order
	if s.all {
		t.all = append(slices.Clip(t.all), s)
	} else {
		t.typed[s.typ] = append(slices.Clip(t.typed[s.typ]), s)
	}
	t.publish()
}

func (t *subscriberTable) remove(s *Subscription) {
	t.mu.Lock()
	defer t.mu.Unlock()
	drop := func(list []*Subscription) []*Subscription {
		return slices.DeleteFunc(slices.Clone(list), func(x *Subscription) bool { return x == s })
	}
	if s.all {
		t.all = drop(t.all)
	} else if list := drop(t.typed[s.typ]); len(list) > 0 {
		t.typed[s.typ] = list
	} else {
		delete(t.typed, s.typ)
	}
	t.publish()
}

// publish builds and stores a new snapshot from the writer's lists. The
// lock must be held.
func (t *subscriberTable) publish() {
	routes := make(map[EventType]route, len(t.typed))
	for typ, list := range t.typed {
		subs := make([]*Subscription, 0, len(list)+len(t.all))
		subs = append(subs, list...)
		subs = append(subs, t.all...)
		slices.SortFunc(subs, func(a, b *Subscription) int {
			switch {
			case a.order < b.order:
				return -1
			case a.order > b.order:
				return 1
			}
			return 0
		})
		routes[typ] = route{subs: subs, prio: t.prioOf(typ)}
	}
	t.snap.Store(&subscriberSnapshot{routes: routes, all: slices.Clip(t.all)})
}
