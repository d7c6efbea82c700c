package eventbus

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// routes maps event types to their subscriptions. Publishers read it with
// a few atomic loads and no lock; Subscribe and Unsubscribe serialise on a
// mutex. Every change costs O(1) amortised, whatever the number of other
// subscriptions and types: a subscription is appended to its type's list
// in place (readers never look past the length they loaded), an ended one
// is only marked, and a list is compacted once half of it has ended; the
// index of types grows by doubling.
type routes struct {
	mu     sync.Mutex // writers only
	index  atomic.Pointer[routeIndex]
	all    atomic.Pointer[subList] // OnAll subscriptions
	prioOf func(EventType) Priority
	seed   maphash.Seed
}

// route is the subscriptions of one event type and the type's priority,
// computed once. A route stays in the index while it has subscriptions;
// an empty one is dropped when the index is next rebuilt.
type route struct {
	typ  EventType
	prio Priority
	subs atomic.Pointer[subList]
}

// subList is an immutable view of a list of subscriptions: subs[:len] is
// never changed once published, though the array beyond it may gain new
// entries for the next view. ended counts the entries that ended since the
// list was last compacted.
type subList struct {
	subs  []*Subscription
	ended int
}

// routeIndex is an open-addressing hash table of routes, probed linearly.
// Slots are written once, under routes.mu; readers load them atomically.
type routeIndex struct {
	slots []atomic.Pointer[route]
	used  int // slots written, under routes.mu
}

func (t *routes) init(prioOf func(EventType) Priority) {
	t.prioOf = prioOf
	t.seed = maphash.MakeSeed()
	t.index.Store(newRouteIndex(8))
	t.all.Store(&subList{})
}

func newRouteIndex(n int) *routeIndex { return &routeIndex{slots: make([]atomic.Pointer[route], n)} }

// find returns the route of typ, or nil.
func (t *routes) find(ix *routeIndex, typ EventType) *route {
	mask := uint64(len(ix.slots) - 1)
	for i := maphash.String(t.seed, string(typ)) & mask; ; i = (i + 1) & mask {
		r := ix.slots[i].Load()
		if r == nil || r.typ == typ {
			return r
		}
	}
}

// lookup returns the typed subscriptions of typ (nil if none), the OnAll
// ones, and the priority of typ when it has a route (0 otherwise). The
// slices must not be modified; entries whose subscription has ended may
// be among them.
func (t *routes) lookup(typ EventType) (typed, all []*Subscription, prio Priority) {
	all = t.all.Load().subs
	if r := t.find(t.index.Load(), typ); r != nil {
		return r.subs.Load().subs, all, r.prio
	}
	return nil, all, 0
}

// add registers s: for every event, or for each of its types.
func (t *routes) add(s *Subscription) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.all {
		t.all.Store(appendSub(t.all.Load(), s))
		return
	}
	r := t.find(t.index.Load(), s.typ)
	if r == nil {
		r = &route{typ: s.typ, prio: t.prioOf(s.typ)}
		r.subs.Store(&subList{})
		t.insertLocked(r)
	}
	r.subs.Store(appendSub(r.subs.Load(), s))
}

// remove takes s out: it is marked, and its list compacted once half of
// the list has ended. Readers skip ended subscriptions meanwhile.
func (t *routes) remove(s *Subscription) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !s.listed {
		return // a compaction already dropped it
	}
	s.listed = false
	if s.all {
		t.all.Store(endSub(t.all.Load()))
		return
	}
	if r := t.find(t.index.Load(), s.typ); r != nil {
		r.subs.Store(endSub(r.subs.Load()))
	}
}

func appendSub(l *subList, s *Subscription) *subList {
	s.listed = true
	return &subList{subs: append(l.subs, s), ended: l.ended}
}

// endSub counts one more ended entry and compacts the list when half of
// it has ended: O(1) amortised per removal. A compaction also drops the
// subscriptions that have ended but not yet been removed (Unsubscribe
// marks them before it takes the lock); they are not counted again.
func endSub(l *subList) *subList {
	n := &subList{subs: l.subs, ended: l.ended + 1}
	if 2*n.ended < len(n.subs) {
		return n
	}
	live := make([]*Subscription, 0, len(n.subs)-n.ended)
	for _, s := range n.subs {
		if s.listed && s.active.Load() {
			live = append(live, s)
		} else {
			s.listed = false
		}
	}
	return &subList{subs: live}
}

// insertLocked adds a new route, rebuilding the index (without the routes
// that have no subscription left) when it is half full.
func (t *routes) insertLocked(r *route) {
	ix := t.index.Load()
	if 2*(ix.used+1) > len(ix.slots) {
		live := 0
		for i := range ix.slots {
			if e := ix.slots[i].Load(); e != nil && len(e.subs.Load().subs) > 0 {
				live++
			}
		}
		size := 8
		for size < 4*(live+1) {
			size *= 2
		}
		next := newRouteIndex(size)
		for i := range ix.slots {
			if e := ix.slots[i].Load(); e != nil && len(e.subs.Load().subs) > 0 {
				t.place(next, e)
			}
		}
		t.index.Store(next)
		ix = next
	}
	t.place(ix, r)
}

func (t *routes) place(ix *routeIndex, r *route) {
	mask := uint64(len(ix.slots) - 1)
	i := maphash.String(t.seed, string(r.typ)) & mask
	for ix.slots[i].Load() != nil {
		i = (i + 1) & mask
	}
	ix.slots[i].Store(r)
	ix.used++
}
