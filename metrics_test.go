package eventbus

import (
	"encoding/json"
	"expvar"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEMAOnAFixedSequence(t *testing.T) {
	var e ema
	_, ok := e.value()
	assert.False(t, ok)
	for _, d := range []float64{100, 200, 300, 400} {
		e.add(d)
	}
	// 100; 100*0.9+200*0.1 = 110; 110*0.9+300*0.1 = 129; 129*0.9+400*0.1 = 156.1
	v, ok := e.value()
	require.True(t, ok)
	assert.InDelta(t, 156.1, v, 1e-9)

	// Adding a value n times at once is adding it n times.
	var one, many ema
	one.add(50)
	many.add(50)
	for i := 0; i < 7; i++ {
		one.add(80)
	}
	many.addN(80, 7)
	a, _ := one.value()
	b, _ := many.value()
	assert.InDelta(t, a, b, 1e-9)
	var fresh ema
	fresh.addN(30, 3)
	v, _ = fresh.value()
	assert.InDelta(t, 30, v, 1e-9, "the first value is taken as is")
}

func TestWaitBuckets(t *testing.T) {
	assert.Equal(t, 0, waitBucket(-5))
	assert.Equal(t, 0, waitBucket(0))
	assert.Equal(t, 0, waitBucket(1023))
	assert.Equal(t, 1, waitBucket(1024))
	assert.Equal(t, 1, waitBucket(2047))
	assert.Equal(t, 2, waitBucket(2048))
	assert.Equal(t, waitBuckets-1, waitBucket(int64(time.Hour)))
	for i := 0; i < waitBuckets-1; i++ {
		assert.Equal(t, i, waitBucket(bucketUpper(i)-1), "bucket %d holds waits below its upper bound", i)
		assert.Equal(t, i+1, waitBucket(bucketUpper(i)))
	}
}

func TestPercentilesOnKnownInputs(t *testing.T) {
	var h [waitBuckets]int64
	h[waitBucket(500)] = 90                        // 90 waits under 1µs
	h[waitBucket(int64(time.Millisecond))] = 9     // 9 waits of 1ms
	h[waitBucket(int64(100*time.Millisecond))] = 1 // 1 wait of 100ms
	sum := int64(90*500 + 9*int64(time.Millisecond) + int64(100*time.Millisecond))
	st := waitStats(&h, int64(100*time.Millisecond), sum) // the largest wait seen
	assert.EqualValues(t, 100, st.Count)
	assert.Equal(t, time.Duration(bucketUpper(0)), st.P50)
	oneMsBucket := time.Duration(bucketUpper(waitBucket(int64(time.Millisecond))))
	assert.Equal(t, oneMsBucket, st.P95)
	assert.Equal(t, oneMsBucket, st.P99, "the 99th of 100 waits is still a 1ms one")
	assert.Equal(t, 100*time.Millisecond, st.Max)
	assert.LessOrEqual(t, st.P95, 2*time.Millisecond+48*time.Microsecond, "a bucket bound is at most twice its values")
	assert.Equal(t, time.Duration(sum), st.Sum)
	require.Len(t, st.Buckets, waitBuckets)
	assert.Equal(t, h[:], st.Buckets, "the histogram itself, for exporters")
	bounds := WaitBucketBounds()
	require.Len(t, bounds, waitBuckets-1)
	assert.Equal(t, 1024*time.Nanosecond, bounds[0])
	for i := 1; i < len(bounds); i++ {
		assert.Equal(t, 2*bounds[i-1], bounds[i])
	}
	assert.Less(t, 500*time.Nanosecond, bounds[0], "500ns is counted in bucket 0")
	assert.True(t, time.Millisecond >= bounds[9] && time.Millisecond < bounds[10], "1ms in bucket 10: %v", bounds[9:11])
	assert.EqualValues(t, 9, st.Buckets[10])

	// A percentile never exceeds the largest wait seen.
	var one [waitBuckets]int64
	one[waitBucket(3000)] = 1
	st = waitStats(&one, 3000, 3000)
	assert.Equal(t, time.Duration(3000), st.P50)
	assert.Equal(t, time.Duration(3000), st.P99)

	assert.Equal(t, WaitStats{}, waitStats(&[waitBuckets]int64{}, 0, 0))
}

// monitoredBus starts a bus whose sampler never ticks by itself, so that a
// test can close windows at times of its choosing with sampleAt.
func monitoredBus(t *testing.T, workers int) *EventBus {
	t.Helper()
	return newBus(t, Config{Workers: workers, MonitoringEnabled: true, MetricsWindow: time.Hour, EnablePriority: true})
}

func TestUtilizationArithmetic(t *testing.T) {
	b := monitoredBus(t, 2)
	// Nothing is published, so the workers stay parked and never touch
	// their stats: the test plays them with a clock of its own.
	w0, w1 := &b.pool.list[0].stats, &b.pool.list[1].stats
	t0 := b.mon.prevT
	w0.beginBatch(t0 + 100)
	w0.endBatch(t0+100, t0+350, 1) // busy 250 of the first 1000ns
	w1.beginBatch(t0 + 600)        // busy from 600 on, still running
	b.mon.sampleAt(t0+1000, time.Now())
	m := b.Metrics()
	require.Len(t, m.WorkerUtilization, 2)
	assert.InDelta(t, 0.25, m.WorkerUtilization[0], 1e-9)
	assert.InDelta(t, 0.40, m.WorkerUtilization[1], 1e-9, "a running event counts up to the window's end")

	b.mon.sampleAt(t0+2000, time.Now())
	m = b.Metrics()
	assert.InDelta(t, 0, m.WorkerUtilization[0], 1e-9)
	assert.InDelta(t, 1, m.WorkerUtilization[1], 1e-9, "a worker held busy reads 1")

	w1.endBatch(t0+600, t0+2500, 1)
	b.mon.sampleAt(t0+3000, time.Now())
	m = b.Metrics()
	assert.InDelta(t, 0.5, m.WorkerUtilization[1], 1e-9)
	assert.InDelta(t, 250+1900, float64(w0.busy+w1.busy), 1e-9)
}

func TestUtilizationOfAHeldWorkerInRealTime(t *testing.T) {
	const window = 20 * time.Millisecond
	b := newBus(t, Config{Workers: 2, MonitoringEnabled: true, MetricsWindow: window})
	release := holdWorker(t, b)
	// Within two windows the held worker reads near 1; allow more on a
	// loaded machine, but never a wrong value.
	require.Eventually(t, func() bool {
		u := b.Metrics().WorkerUtilization
		return max(u[0], u[1]) >= 0.9 && min(u[0], u[1]) <= 0.1
	}, 100*window, window/4)
	release()
}

func TestQueueDepthPerPriority(t *testing.T) {
	b := monitoredBus(t, 1)
	for _, typ := range []EventType{LogLine, BuildEvent, ProcessExited} {
		b.Subscribe(typ, func(Event) {})
	}
	release := holdWorker(t, b)
	for _, n := range []string{"L1", "M1", "L2", "M2", "M3", "H1"} {
		b.Publish(Event{ID: n, Type: typeOfLevel(n)})
	}
	m := b.Metrics()
	assert.Equal(t, PriorityCounts{Low: 2, Medium: 3, High: 1}, m.QueueDepth)
	assert.Equal(t, 6, b.GetStats()["current_queue_depth"], "the real depth, not the history's length")
	assert.EqualValues(t, 6, m.EventsPending-1, "the held gate event is pending too")

	b.mon.sampleAt(monotime(), time.Now())
	hist := b.Metrics().QueueDepthHistory
	require.Len(t, hist, 1)
	assert.Equal(t, PriorityCounts{Low: 2, Medium: 3, High: 1}, hist[0].Depth)

	release()
	waitIdle(t, b)
	m = b.Metrics()
	assert.Zero(t, m.QueueDepth.Total())
	assert.EqualValues(t, 2, m.Wait.Low.Count)
	assert.EqualValues(t, 3, m.Wait.Medium.Count)
	assert.EqualValues(t, 2, m.Wait.High.Count, "H1 and the gate event")
	assert.Positive(t, m.Wait.Low.P50)
	assert.LessOrEqual(t, m.Wait.High.P99, m.Wait.High.Max)
}

func TestQueueDepthHistoryIsBounded(t *testing.T) {
	b := monitoredBus(t, 1)
	start := time.Now()
	for i := 0; i < 3*MetricsHistory+7; i++ {
		b.mon.sampleAt(b.mon.prevT+int64(time.Millisecond), start.Add(time.Duration(i)*time.Second))
	}
	hist := b.Metrics().QueueDepthHistory
	require.Len(t, hist, MetricsHistory)
	for i := 1; i < len(hist); i++ {
		assert.True(t, hist[i].Time.After(hist[i-1].Time), "oldest first")
	}
	assert.Equal(t, start.Add(time.Duration(3*MetricsHistory+6)*time.Second), hist[len(hist)-1].Time)
}

// An event counts as processed only once its handler time is recorded, so
// a test may read the average right after WaitIdle.
func TestMetricsAfterWaitIdleIncludeTheHandlerTime(t *testing.T) {
	for i := 0; i < 50; i++ {
		b := newBus(t, Config{Workers: 1, MonitoringEnabled: true}) // shut down below, and again at cleanup if a check fails
		b.Subscribe(BuildEvent, func(Event) {})
		b.Publish(Event{Type: BuildEvent})
		waitIdle(t, b)
		m := b.Metrics()
		b.Shutdown()
		require.EqualValues(t, 1, m.EventsProcessed)
		require.Positive(t, m.AvgProcessingTime, "round %d", i)
	}
}

func TestAvgProcessingTimeFollowsTheHandlers(t *testing.T) {
	b := newBus(t, Config{Workers: 1, MonitoringEnabled: true})
	b.Subscribe(BuildEvent, func(Event) { time.Sleep(2 * time.Millisecond) })
	for i := 0; i < 5; i++ {
		b.Publish(Event{Type: BuildEvent})
	}
	waitIdle(t, b)
	m := b.Metrics()
	assert.GreaterOrEqual(t, m.AvgProcessingTime, 2*time.Millisecond)
}

func TestMonitoringOff(t *testing.T) {
	base := runtime.NumGoroutine()
	b := newBus(t, Config{Workers: 3, MonitoringEnabled: false})
	assert.LessOrEqual(t, runtime.NumGoroutine()-base, 3, "no sampler goroutine")
	b.Subscribe(LogLine, func(Event) {})
	b.Publish(Event{Type: LogLine})
	waitIdle(t, b)
	m := requireAccounted(t, b)
	assert.False(t, m.MonitoringEnabled)
	assert.EqualValues(t, 1, m.EventsProcessed)
	assert.Zero(t, m.AvgProcessingTime)
	assert.Zero(t, m.Wait.Medium.Count+m.Wait.Low.Count)
	assert.Nil(t, m.WorkerUtilization)
	assert.Nil(t, m.QueueDepthHistory)
	assert.Contains(t, m.String(), "monitoring=off")
	for _, w := range b.pool.slots() {
		assert.Zero(t, w.stats.busy, "nothing recorded with monitoring off")
	}
}

func TestSnapshotsWhilePublishing(t *testing.T) {
	b := newBus(t, Config{Workers: 3, QueueSize: 16, MonitoringEnabled: true, EnablePriority: true,
		BackpressureMode: DropLowPri, MetricsWindow: 5 * time.Millisecond})
	for _, typ := range []EventType{LogLine, BuildEvent, ProcessExited} {
		b.Subscribe(typ, func(Event) {})
	}
	const publishers, each = 16, 2000
	var wg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			types := []EventType{LogLine, BuildEvent, ProcessExited}
			for i := 0; i < each; i++ {
				b.Publish(Event{Type: types[i%3]})
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var prev MetricsSnapshot
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		m := b.Metrics()
		assert.GreaterOrEqual(t, m.EventsPublished, prev.EventsPublished)
		assert.GreaterOrEqual(t, m.EventsProcessed, prev.EventsProcessed)
		assert.GreaterOrEqual(t, m.EventsDropped, prev.EventsDropped)
		assert.Equal(t, m.EventsPublished, m.EventsProcessed+m.EventsDropped+m.EventsPending)
		assert.Equal(t, m.EventsDropped, m.Drops.ByPriority.Total())
		for _, u := range m.WorkerUtilization {
			assert.True(t, u >= 0 && u <= 1, "utilization %v", u)
		}
		prev = m
	}
	waitIdle(t, b)
	m := requireAccounted(t, b)
	assert.EqualValues(t, publishers*each, m.EventsPublished)
}

func TestMetricsStringAndExpvar(t *testing.T) {
	b := newBus(t, Config{Workers: 1, QueueSize: 1, MonitoringEnabled: true, BackpressureMode: DropNewest})
	b.Subscribe(LogLine, func(Event) {})
	release := holdWorker(t, b)
	for i := 0; i < 3; i++ {
		b.Publish(Event{Type: LogLine})
	}
	release()
	waitIdle(t, b)
	s := b.Metrics().String()
	for _, part := range []string{"published=4", "processed=2", "dropped=2 (full=2)", "pending=0", "of 1", "wait.medium.p99=", "avg=", "util="} {
		assert.Contains(t, s, part)
	}
	assert.NotContains(t, s, "\n")

	// expvar names live as long as the process: -count=N reruns need a
	// fresh one.
	name := "eventbus-test-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + b.ids.next()
	require.NoError(t, b.PublishExpvar(name))
	assert.ErrorIs(t, b.PublishExpvar(name), ErrExpvarNameTaken)
	var decoded struct {
		Published int64 `json:"events_published"`
		Dropped   int64 `json:"events_dropped"`
		Drops     struct {
			QueueFull int64 `json:"queue_full"`
		} `json:"drops"`
	}
	require.NoError(t, json.Unmarshal([]byte(expvar.Get(name).String()), &decoded))
	assert.EqualValues(t, 4, decoded.Published)
	assert.EqualValues(t, 2, decoded.Drops.QueueFull)
}

func TestUtilizationBeforeTheFirstWindowAndAfterShutdown(t *testing.T) {
	b, err := NewEventBus(Config{Workers: 2, MonitoringEnabled: true, MetricsWindow: time.Hour})
	require.NoError(t, err)
	release := holdWorker(t, b)
	// No window has closed, yet the held worker already shows as busy.
	require.Eventually(t, func() bool {
		u := b.Metrics().WorkerUtilization
		return max(u[0], u[1]) > 0.5
	}, testTimeout, time.Millisecond)
	release()
	b.Shutdown()
	assert.Equal(t, []float64{0, 0}, b.Metrics().WorkerUtilization, "a stopped pool is not busy")
}

func TestPublishersWaitingIsReported(t *testing.T) {
	b := newBus(t, Config{Workers: 1, QueueSize: 1, BackpressureMode: Block})
	b.Subscribe(LogLine, func(Event) {})
	release := holdWorker(t, b)
	b.Publish(Event{Type: LogLine})
	done := make(chan struct{})
	go func() { b.Publish(Event{Type: LogLine}); close(done) }()
	require.Eventually(t, func() bool { return b.Metrics().PublishersWaiting == 1 }, testTimeout, time.Millisecond)
	assert.Contains(t, b.Metrics().String(), "waiting=1")
	release()
	receive(t, done)
	waitIdle(t, b)
	assert.Zero(t, b.Metrics().PublishersWaiting)
}

func TestExpvarInAMapOfOurOwn(t *testing.T) {
	vars := new(expvar.Map).Init()
	for i := 0; i < 2; i++ { // a replaced bus takes the same name
		b, err := NewEventBus(Config{Workers: 1})
		require.NoError(t, err)
		b.Subscribe(LogLine, func(Event) {})
		for j := 0; j <= i; j++ {
			b.Publish(Event{Type: LogLine})
		}
		b.Shutdown()
		vars.Set("bus", b.Expvar())
		var got struct {
			Processed int64 `json:"events_processed"`
		}
		require.NoError(t, json.Unmarshal([]byte(vars.Get("bus").String()), &got))
		assert.EqualValues(t, i+1, got.Processed)
	}
}

// The figures exporters need: published, processed and dropped per
// priority, drops per reason and priority, the wait histogram with its
// sum, and per-name subscription totals.
func TestMetricsForExporters(t *testing.T) {
	b := newBus(t, Config{Workers: 1, QueueSize: 2, EnablePriority: true, MonitoringEnabled: true,
		MetricsWindow: time.Hour, BackpressureMode: DropLowPri})
	b.On(LogLine, func(Event) {}, WithName("tui"))
	b.On(ProcessExited, func(Event) {}, WithName("tui"))
	release := holdWorker(t, b) // a High event, handled
	for i := 0; i < 4; i++ {
		b.Publish(Event{Type: LogLine}) // two queued, two refused (DropLowPri)
	}
	b.Publish(Event{Type: ProcessExited}) // evicts a queued log line
	require.ErrorIs(t, b.PublishWithBackpressure(Event{Type: BuildEvent}, Priority(7)), ErrInvalidPriority)
	b.Publish(Event{Type: BuildEvent}) // nobody listens: processed at once
	release()
	waitIdle(t, b)
	m := requireAccounted(t, b)
	assert.Equal(t, PriorityCounts{Low: 4, Medium: 2, High: 2}, m.EventsPublishedByPriority)
	assert.Equal(t, PriorityCounts{Low: 1, Medium: 1, High: 2}, m.EventsProcessedByPriority)
	assert.Equal(t, DropReasons{
		QueueFull:       PriorityCounts{Low: 3},
		InvalidPriority: PriorityCounts{Medium: 1},
	}, m.Drops.ByReason)
	assert.Equal(t, m.Drops.ByPriority, PriorityCounts{Low: 3, Medium: 1})

	// The High waits: the gate and the exit, with their sum and buckets.
	high := m.Wait.High
	require.EqualValues(t, 2, high.Count)
	require.Len(t, high.Buckets, waitBuckets)
	var inBuckets int64
	for _, c := range high.Buckets {
		inBuckets += c
	}
	assert.EqualValues(t, 2, inBuckets)
	assert.Positive(t, high.Sum)
	assert.LessOrEqual(t, high.Sum, 2*high.Max)

	totals := m.SubscriptionTotals()
	require.Len(t, totals, 2, "the gate's (ended, no name) and tui's two")
	assert.Equal(t, SubscriptionStats{Matched: 1, Delivered: 1}, totals[0])
	assert.Equal(t, "tui", totals[1].Name)
	assert.EqualValues(t, 2, totals[1].Delivered, "the log line left in the queue, and the exit")
}
