package eventbus

import (
	"math"
	"math/bits"
	"slices"
	"sync/atomic"
	"time"
)

// Wait histogram buckets: bucket 0 holds waits under 1.024µs, bucket i
// waits in [2^(i-1), 2^i) × 1.024µs, the last one everything longer
// (about 70 s and up).
const waitBuckets = 28

func waitBucket(ns int64) int {
	if ns < 0 {
		ns = 0
	}
	return min(bits.Len64(uint64(ns)>>10), waitBuckets-1)
}

// bucketUpper returns the upper bound of bucket i in nanoseconds.
func bucketUpper(i int) int64 { return int64(1024) << i }

// histogram counts waits in waitBuckets, and keeps the largest. Several
// writers may share one.
type histogram struct {
	buckets [waitBuckets]atomic.Int64
	max     atomic.Int64
	sum     atomic.Int64
}

func (h *histogram) record(wait int64) {
	wait = max(wait, 0)
	h.buckets[waitBucket(wait)].Add(1)
	h.sum.Add(wait)
	for {
		m := h.max.Load()
		if wait <= m || h.max.CompareAndSwap(m, wait) {
			return
		}
	}
}

// read adds the histogram's counts to hist and its sum to sum, and
// returns its largest wait. The sum is read before the counts: a wait
// recorded meanwhile may be counted without its time, never the reverse.
func (h *histogram) read(hist *[waitBuckets]int64, sum *int64) int64 {
	*sum += h.sum.Load()
	for i := range hist {
		hist[i] += h.buckets[i].Load()
	}
	return h.max.Load()
}

// waitCounts is where workers record the waits of the events they take: a
// histogram per level. Several workers may share one (see tally).
type waitCounts struct {
	lv [numLevels]histogram
}

// record records the wait of an event taken at start: from its publish
// until a worker took it.
func (c *waitCounts) record(f *flight, start int64) {
	if f.enqueued != 0 {
		c.lv[f.prio-1].record(start - f.enqueued)
	}
}

// waitTotals is the wait histogram of each level, Low first, and the
// largest wait seen at each, summed over the pool. The histograms only
// grow, so the difference of two is the waits recorded in between.
type waitTotals struct {
	hist [numLevels][waitBuckets]int64
	max  [numLevels]int64
	sum  [numLevels]int64
}

// add adds the figures of c.
func (t *waitTotals) add(c *waitCounts) {
	for lv := range t.hist {
		t.max[lv] = max(t.max[lv], c.lv[lv].read(&t.hist[lv], &t.sum[lv]))
	}
}

// stats computes the figures of every level.
func (t waitTotals) stats() PriorityWaits {
	return PriorityWaits{
		Low:    waitStats(&t.hist[0], t.max[0], t.sum[0]),
		Medium: waitStats(&t.hist[1], t.max[1], t.sum[1]),
		High:   waitStats(&t.hist[2], t.max[2], t.sum[2]),
	}
}

// since returns the waits recorded after prev was taken. Counts that went
// down (prev is not an earlier reading of the same bus) count as zero. The
// largest wait of the interval is not recorded as such: it is bounded by
// the upper end of its highest non-empty bucket and by the largest wait
// ever seen, whichever is lower.
func (t *waitTotals) since(prev *waitTotals) waitTotals {
	var d waitTotals
	for lv := range d.hist {
		top := -1
		for i := range d.hist[lv] {
			if n := t.hist[lv][i] - prev.hist[lv][i]; n > 0 {
				d.hist[lv][i], top = n, i
			}
		}
		if top >= 0 {
			d.max[lv] = min(bucketUpper(top), t.max[lv])
			d.sum[lv] = max(t.sum[lv]-prev.sum[lv], 0)
		}
	}
	return d
}

// waitStats computes the figures of one level from its histogram.
func waitStats(h *[waitBuckets]int64, maxWait, sum int64) WaitStats {
	var st WaitStats
	for _, c := range h {
		st.Count += c
	}
	if st.Count == 0 {
		return st
	}
	st.P50 = percentile(h, st.Count, 0.50, maxWait)
	st.P95 = percentile(h, st.Count, 0.95, maxWait)
	st.P99 = percentile(h, st.Count, 0.99, maxWait)
	st.Max = time.Duration(maxWait)
	st.Sum = time.Duration(sum)
	st.Buckets = slices.Clone(h[:])
	return st
}

// percentile returns the upper bound of the bucket holding the q-quantile,
// capped by the largest wait seen (a bucket's bound may exceed it).
func percentile(h *[waitBuckets]int64, total int64, q float64, maxWait int64) time.Duration {
	rank := int64(math.Ceil(q * float64(total)))
	var cum int64
	for i, c := range h {
		cum += c
		if cum >= rank {
			return time.Duration(min(bucketUpper(i), maxWait))
		}
	}
	return time.Duration(maxWait)
}
