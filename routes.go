package eventbus

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// routes maps event types to their subscriptions, and keeps every
// subscription's figures for Metrics. Publishers read it with
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

	// The subscriptions by state, under mu: active ones; ended ones whose
	// deliveries are not all finished; and the final figures of the
	// finished ones, summed per name. ended says that Shutdown has ended
	// every subscription.
	active  map[*Subscription]struct{}
	ending  map[*Subscription]struct{}
	retired map[string]*SubscriptionStats
	ended   bool
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
	t.active = make(map[*Subscription]struct{})
	t.ending = make(map[*Subscription]struct{})
	t.retired = make(map[string]*SubscriptionStats)
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

// add registers s for each of its types, or for every event, unless the
// bus has ended its subscriptions (Shutdown): it reports whether it did.
func (t *routes) add(s *Subscription) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return false
	}
	if s.box != nil {
		q := s.bus.q
		q.mu.Lock()
		q.boxes[s.box] = struct{}{}
		q.mu.Unlock()
	}
	t.active[s] = struct{}{}
	if s.replay == nil {
		t.listLocked(s)
		return true
	}
	// A replaying subscription is listed under the queue's lock, with the
	// replay generation changed and the retained events taken, so that
	// every event is either replayed or delivered live, never both and
	// never neither (see queue.put).
	q := s.bus.q
	q.mu.Lock()
	t.listLocked(s)
	q.replayGen.Add(1)
	q.rerouteWaitersLocked()
	q.replayLocked(s, s.replay.n, s.replay.after)
	q.wakeLocked()
	q.mu.Unlock()
	return true
}

// listLocked adds s to the lists of its types, or of every event.
func (t *routes) listLocked(s *Subscription) {
	if s.all {
		t.all.Store(appendSub(t.all.Load(), s))
		return
	}
	for _, typ := range s.types {
		r := t.find(t.index.Load(), typ)
		if r == nil {
			r = &route{typ: typ, prio: t.prioOf(typ)}
			r.subs.Store(&subList{})
			t.insertLocked(r)
		}
		r.subs.Store(appendSub(r.subs.Load(), s))
	}
}

// removeLocked takes s out of its lists: it is counted as ended there, and
// a list is compacted once half of it has ended. Readers skip ended
// subscriptions meanwhile. The caller holds mu, and has marked s closed
// under it.
func (t *routes) removeLocked(s *Subscription) {
	delete(t.active, s)
	// Always: retire, which takes it out again, waits for mu.
	t.ending[s] = struct{}{}
	if s.all {
		t.all.Store(endSub(t.all.Load()))
		return
	}
	for _, typ := range s.types {
		if r := t.find(t.index.Load(), typ); r != nil {
			r.subs.Store(endSub(r.subs.Load()))
		}
	}
}

// retire moves the final figures of an ended subscription into the totals
// of its name.
func (t *routes) retire(s *Subscription) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Read under the lock, so that no snapshot sees the subscription
	// among those ending with figures newer than these.
	st := s.stats.read()
	delete(t.ending, s)
	tot := t.retired[s.name]
	if tot == nil {
		tot = &SubscriptionStats{Name: s.name}
		t.retired[s.name] = tot
	}
	tot.add(&st)
}

// snapshot returns the figures of the active subscriptions, sorted by
// name, and the totals per name of the ended ones (those whose figures
// are final and those still finishing), so that no count is missed or
// counted twice while subscriptions end.
func (t *routes) snapshot() (active, ended []SubscriptionStats) {
	t.mu.Lock()
	defer t.mu.Unlock()
	active = make([]SubscriptionStats, 0, len(t.active))
	for s := range t.active {
		active = append(active, s.Stats())
	}
	totals := make(map[string]*SubscriptionStats, len(t.retired))
	for name, tot := range t.retired {
		c := *tot
		totals[name] = &c
	}
	for s := range t.ending {
		st := s.stats.read()
		tot := totals[s.name]
		if tot == nil {
			tot = &SubscriptionStats{Name: s.name}
			totals[s.name] = tot
		}
		tot.add(&st)
	}
	ended = make([]SubscriptionStats, 0, len(totals))
	for _, tot := range totals {
		ended = append(ended, *tot)
	}
	slices.SortFunc(active, byName)
	slices.SortFunc(ended, byName)
	return active, ended
}

func byName(a, b SubscriptionStats) int { return strings.Compare(a.Name, b.Name) }

// endAll ends every subscription, for a bus that has shut down, and any
// made later at once.
func (t *routes) endAll() {
	t.mu.Lock()
	t.ended = true
	subs := make([]*Subscription, 0, len(t.active))
	for s := range t.active {
		subs = append(subs, s)
	}
	t.mu.Unlock()
	for _, s := range subs {
		s.end()
	}
}

func appendSub(l *subList, s *Subscription) *subList {
	return &subList{subs: append(l.subs, s), ended: l.ended}
}

// endSub counts one more ended entry and compacts the list when half of
// it has ended: O(1) amortised per removal. Every closed entry has been
// counted: a subscription is closed and removed under one lock.
func endSub(l *subList) *subList {
	n := &subList{subs: l.subs, ended: l.ended + 1}
	if 2*n.ended < len(n.subs) {
		return n
	}
	live := make([]*Subscription, 0, len(n.subs)-n.ended)
	for _, s := range n.subs {
		if !s.closed.Load() {
			live = append(live, s)
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
