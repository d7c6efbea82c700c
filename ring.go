package eventbus

// ring is a FIFO of jobs stored by value in a circular buffer whose length
// is a power of two. It grows by doubling when full, so pushing allocates
// only while the queue reaches a depth it has not reached before, and it
// lets go of a large buffer once it empties, so a single burst does not pin
// memory for the life of the bus.
//
// A ring is not safe for concurrent use; the queue's mutex guards it.
type ring struct {
	buf  []job
	head int // index of the oldest job
	n    int // number of jobs
}

// minRingSize is the first buffer length; shrinkRingSize is the length above
// which an emptied ring releases its buffer.
const (
	minRingSize    = 16
	shrinkRingSize = 1024
)

func (r *ring) len() int { return r.n }

// push appends a copy of *j at the back.
func (r *ring) push(j *job) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.n)&(len(r.buf)-1)] = *j
	r.n++
}

// front returns the oldest job without removing it. The ring must not be
// empty.
func (r *ring) front() *job { return &r.buf[r.head] }

// popInto moves the oldest job into *dst and clears its slot, so the ring
// holds no reference to the event's data any more. The ring must not be
// empty.
func (r *ring) popInto(dst *job) {
	slot := &r.buf[r.head]
	*dst = *slot
	*slot = job{}
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.n--
	if r.n == 0 {
		r.head = 0
		if len(r.buf) > shrinkRingSize {
			r.buf = nil
		}
	}
}

func (r *ring) grow() {
	size := 2 * len(r.buf)
	if size < minRingSize {
		size = minRingSize
	}
	buf := make([]job, size)
	// Copy in order so the oldest job lands at index 0.
	k := copy(buf, r.buf[r.head:])
	copy(buf[k:], r.buf[:r.head])
	r.buf = buf
	r.head = 0
}
