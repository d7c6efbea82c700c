package promexporter

import (
	"sync"

	"github.com/brummer-dev/eventbus"
	"github.com/prometheus/client_golang/prometheus"
)

// boundsSeconds returns the bus's wait bucket bounds in seconds, computed
// once: they are fixed for the life of the program.
var boundsSeconds = sync.OnceValue(func() []float64 {
	bounds := eventbus.WaitBucketBounds()
	s := make([]float64, len(bounds))
	for i, b := range bounds {
		s[i] = b.Seconds()
	}
	return s
})

// waitHistogram turns one level's wait figures into a Prometheus histogram
// with the bus's own buckets. The bus counts each bucket on its own
// (WaitStats.Buckets[i] holds the waits below bounds[i] and at or above the
// bound before it, the last one those beyond the last bound); Prometheus
// wants for each bound the count of all waits up to it, so the counts are
// summed as they go. The total is the sum of every bucket, the last one
// included, so the +Inf bucket always equals the count. A bus that has
// recorded no wait has no Buckets: every bucket is then 0.
//
// The bus's buckets hold waits strictly below their bound where Prometheus
// says "less or equal"; a wait of exactly a bound (a multiple of 1.024µs)
// is counted one bucket higher than Prometheus would. That difference is
// far below the buckets' own width.
func waitHistogram(desc *prometheus.Desc, bounds []float64, st eventbus.WaitStats, priority string) prometheus.Metric {
	cumulative := make(map[float64]uint64, len(bounds))
	var count uint64
	for i, bound := range bounds {
		if i < len(st.Buckets) {
			count += uint64(max(st.Buckets[i], 0))
		}
		cumulative[bound] = count
	}
	for i := len(bounds); i < len(st.Buckets); i++ {
		count += uint64(max(st.Buckets[i], 0))
	}
	return prometheus.MustNewConstHistogram(desc, count, st.Sum.Seconds(), cumulative, priority)
}
