package natsbridge

import "sync"

// window remembers the IDs of the last size events the bridge has seen,
// in both directions, in a ring: inserting the size+1-th ID forgets the
// oldest. It serves two purposes:
//
//   - Inbound duplicates: an ID already in the window is a redelivery (or
//     an echo that took another path) and is skipped.
//   - Loop prevention: an imported ID carries the imported mark until the
//     bridge's own outbound handler meets the event on the local bus; the
//     handler then clears the mark and does not send the event back out.
//
// Memory is bounded: size strings (which share their bytes with the event
// IDs) plus a map entry each, about 100 bytes per entry.
type window struct {
	mu   sync.Mutex
	m    map[string]slot
	ring []string // "" for a free slot
	next int      // ring index the next insertion overwrites
}

type slot struct {
	idx      int  // position in ring
	imported bool // not yet met by the outbound handler
}

func newWindow(size int) *window {
	return &window{m: make(map[string]slot, size), ring: make([]string, size)}
}

// insert adds id, forgetting the oldest entry when full. The lock must be
// held and id must be absent.
func (w *window) insert(id string, imported bool) {
	i := w.next
	w.next++
	if w.next == len(w.ring) {
		w.next = 0
	}
	if old := w.ring[i]; old != "" {
		delete(w.m, old)
	}
	w.ring[i] = id
	w.m[id] = slot{idx: i, imported: imported}
}

// reserveImport records id as imported unless it is already in the window,
// and reports whether it was new. A new ID is marked imported at once, so
// that the outbound handler recognises the event even if it runs before
// the publish that queued it has returned.
func (w *window) reserveImport(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.m[id]; ok {
		return false
	}
	w.insert(id, true)
	return true
}

// release forgets an ID that reserveImport recorded but that was not
// handled after all (the message is to be redelivered).
func (w *window) release(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s, ok := w.m[id]; ok {
		delete(w.m, id)
		w.ring[s.idx] = ""
	}
}

// exportable is called by the outbound handler for each local event. It
// returns false for an event the bridge imported (clearing its mark, so a
// later local event reusing the ID is exported), and true for a local
// event, whose ID it records so that an echo of it is skipped as a
// duplicate.
func (w *window) exportable(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.m[id]
	switch {
	case !ok:
		w.insert(id, false)
		return true
	case s.imported:
		s.imported = false
		w.m[id] = s
		return false
	default:
		return true
	}
}

// len returns the number of IDs remembered.
func (w *window) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.m)
}
