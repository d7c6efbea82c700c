package eventbus

// fifo is a first-in first-out queue stored in fixed-size chunks linked in
// order. It grows a chunk at a time, so a deep queue (a large pool's
// default queue holds ten events per worker) never copies what it holds to
// grow, and it gives back each chunk as it empties, so a burst does not
// pin memory for the life of the bus. One emptied chunk is kept for reuse,
// so a queue that hovers around a chunk boundary does not allocate on
// every crossing.
//
// A fifo is not safe for concurrent use; the queue's mutex guards every
// fifo of the bus.
type fifo[T any] struct {
	head, tail *fifoChunk[T]
	hi         int // index of the oldest item in head
	n          int // number of items
	spare      *fifoChunk[T]
}

// fifoChunkLen is the number of items per chunk: small enough that an
// idle fifo costs little, large enough that allocating one is rare.
const fifoChunkLen = 32

type fifoChunk[T any] struct {
	items [fifoChunkLen]T
	next  *fifoChunk[T]
}

func (q *fifo[T]) len() int { return q.n }

// push appends v at the back.
func (q *fifo[T]) push(v T) {
	// Every chunk between head and tail is full, so the next free slot is
	// hi+n items from the start of head.
	off := (q.hi + q.n) % fifoChunkLen
	switch {
	case q.n == 0:
		c := q.newChunk()
		q.head, q.tail, q.hi, off = c, c, 0, 0
	case off == 0:
		c := q.newChunk()
		q.tail.next = c
		q.tail = c
	}
	q.tail.items[off] = v
	q.n++
}

func (q *fifo[T]) newChunk() *fifoChunk[T] {
	if c := q.spare; c != nil {
		q.spare = nil
		return c
	}
	return new(fifoChunk[T])
}

// front returns the oldest item without removing it. The fifo must not be
// empty.
func (q *fifo[T]) front() T { return q.head.items[q.hi] }

// pop removes and returns the oldest item, clearing its slot so that the
// fifo keeps no reference to it. The fifo must not be empty.
func (q *fifo[T]) pop() T {
	slot := &q.head.items[q.hi]
	v := *slot
	var zero T
	*slot = zero
	q.hi++
	q.n--
	switch {
	case q.n == 0:
		q.release(q.head)
		q.head, q.tail, q.hi = nil, nil, 0
	case q.hi == fifoChunkLen:
		c := q.head
		q.head, q.hi = c.next, 0
		c.next = nil
		q.release(c)
	}
	return v
}

// release keeps an emptied chunk as the spare, or lets it go.
func (q *fifo[T]) release(c *fifoChunk[T]) {
	if q.spare == nil {
		q.spare = c
	}
}
