package eventbus

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWaitTotalsSince(t *testing.T) {
	var before, after waitTotals
	before.hist[1][waitBucket(500)] = 10
	before.max[1] = 500
	after = before
	after.hist[1][waitBucket(500)] += 90                       // 90 more waits under 1µs
	after.hist[1][waitBucket(int64(3*time.Millisecond))] += 10 // and 10 of 3ms
	after.max[1] = int64(3 * time.Millisecond)

	d := after.since(&before)
	st := d.stats()
	assert.EqualValues(t, 100, st.Medium.Count, "only the waits in between")
	assert.Equal(t, time.Duration(bucketUpper(0)), st.Medium.P50)
	assert.Equal(t, 3*time.Millisecond, st.Medium.P95, "a bucket's bound is capped by the largest wait")
	assert.Equal(t, 3*time.Millisecond, st.Medium.Max)
	assert.Zero(t, st.High.Count)
	assert.Zero(t, st.Low.Count)

	// Nothing new at 3ms after this: the interval's Max is its own
	// highest bucket's bound, not the lifetime largest wait.
	later := after
	later.hist[1][waitBucket(500)] += 5
	st = later.since(&after).stats()
	assert.EqualValues(t, 5, st.Medium.Count)
	assert.Equal(t, time.Duration(bucketUpper(0)), st.Medium.Max)

	// Counts that went down count as zero.
	assert.Equal(t, PriorityWaits{}, before.since(&after).stats())
}

func TestWaitSinceCoversTheEventsInBetween(t *testing.T) {
	b := newBus(t, Config{Workers: 2, MonitoringEnabled: true, EnablePriority: true,
		BackpressureMode: Block})
	b.Subscribe(BuildEvent, func(Event) {})
	b.Subscribe(ProcessExited, func(Event) {})
	for i := 0; i < 3; i++ {
		b.Publish(Event{Type: BuildEvent})
	}
	waitIdle(t, b)
	first := b.Metrics()
	for i := 0; i < 5; i++ {
		b.Publish(Event{Type: BuildEvent})
	}
	b.Publish(Event{Type: ProcessExited})
	waitIdle(t, b)
	second := b.Metrics()

	d := second.WaitSince(first)
	assert.EqualValues(t, 5, d.Medium.Count)
	assert.EqualValues(t, 1, d.High.Count)
	assert.LessOrEqual(t, d.Medium.P99, second.Wait.Medium.Max)
	assert.Equal(t, second.Wait, second.WaitSince(MetricsSnapshot{}), "since nothing is the whole life")
	assert.Equal(t, PriorityWaits{}, first.WaitSince(second), "an interval run backwards is empty")
	assert.Equal(t, PriorityWaits{}, second.WaitSince(second))
}

// The waits of workers that left a shrinking pool stay counted: Wait covers
// the bus's whole life.
func TestWaitCountsSurviveAShrink(t *testing.T) {
	const workers = 4
	b := newBus(t, Config{Workers: workers, MonitoringEnabled: true})
	var mu sync.Mutex
	started := 0
	all := make(chan struct{})
	b.Subscribe(BuildEvent, func(Event) {
		// Hold each event until every worker has one, so that each
		// records a wait.
		mu.Lock()
		if started++; started == workers {
			close(all)
		}
		mu.Unlock()
		<-all
	})
	for i := 0; i < workers; i++ {
		b.Publish(Event{Type: BuildEvent})
	}
	waitIdle(t, b)
	before := b.Metrics()
	require.EqualValues(t, workers, before.Wait.Medium.Count)

	require.NoError(t, b.Resize(1))
	require.Eventually(t, func() bool { return b.pool.live.Load() == 1 }, testTimeout, time.Millisecond)
	after := b.Metrics()
	assert.Equal(t, 1, after.Workers)
	assert.Equal(t, before.Wait, after.Wait)
	assert.Equal(t, PriorityWaits{}, after.WaitSince(before))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	require.NoError(t, b.ShutdownContext(ctx))
	assert.Equal(t, before.Wait, b.Metrics().Wait, "and after shutdown")
}
