package eventbus

// ring is a FIFO of jobs stored by value in fixed-size chunks linked in
// order. It grows a chunk at a time, so a deep queue (a large pool's
// default queue holds ten events per worker) never copies what it holds to
// grow, and it gives back each chunk as it empties, so a single burst does
// not pin memory for the life of the bus. One emptied chunk is kept for
// reuse, so a queue that hovers around a chunk boundary does not allocate
// on every crossing.
//
// A ring is not safe for concurrent use; the queue's mutex guards it.
type ring struct {
	head, tail *ringChunk
	hi         int // index of the oldest job in head
	n          int // number of jobs
	spare      *ringChunk
}

// ringChunkLen is the number of jobs per chunk: a few KiB, small enough
// that an idle ring costs little, large enough that allocating one is rare.
const ringChunkLen = 16

type ringChunk struct {
	jobs [ringChunkLen]job
	next *ringChunk
}

func (r *ring) len() int { return r.n }

// push appends a copy of *j at the back.
func (r *ring) push(j *job) {
	// Every chunk between head and tail is full, so the next free slot is
	// hi+n jobs from the start of head.
	off := (r.hi + r.n) % ringChunkLen
	switch {
	case r.n == 0:
		c := r.newChunk()
		r.head, r.tail, r.hi, off = c, c, 0, 0
	case off == 0:
		c := r.newChunk()
		r.tail.next = c
		r.tail = c
	}
	r.tail.jobs[off] = *j
	r.n++
}

func (r *ring) newChunk() *ringChunk {
	if c := r.spare; c != nil {
		r.spare = nil
		return c
	}
	return new(ringChunk)
}

// front returns the oldest job without removing it. The ring must not be
// empty.
func (r *ring) front() *job { return &r.head.jobs[r.hi] }

// popInto moves the oldest job into *dst and clears its slot, so the ring
// holds no reference to the event's data any more. The ring must not be
// empty.
func (r *ring) popInto(dst *job) {
	slot := &r.head.jobs[r.hi]
	*dst = *slot
	*slot = job{}
	r.hi++
	r.n--
	if r.n == 0 {
		r.release(r.head)
		r.head, r.tail, r.hi = nil, nil, 0
		return
	}
	if r.hi == ringChunkLen {
		c := r.head
		r.head, r.hi = c.next, 0
		c.next = nil
		r.release(c)
	}
}

// release keeps an emptied chunk as the spare, or lets it go.
func (r *ring) release(c *ringChunk) {
	if r.spare == nil {
		r.spare = c
	}
}
