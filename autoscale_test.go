package eventbus

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDynamicConfigValidation(t *testing.T) {
	cases := []struct {
		field string
		cfg   Config
	}{
		{"MinWorkers", Config{MinWorkers: 2}},
		{"MinWorkers", Config{MinWorkers: 0, MaxWorkers: 4}},
		{"MinWorkers", Config{MinWorkers: 5, MaxWorkers: 4}},
		{"MaxWorkers", Config{MinWorkers: 1, MaxWorkers: -1}},
		{"MaxWorkers", Config{MinWorkers: 1, MaxWorkers: WorkerLimit + 1}},
		{"Workers", Config{Workers: 9, MinWorkers: 1, MaxWorkers: 4}},
		{"ScaleInterval", Config{MinWorkers: 1, MaxWorkers: 4, ScaleInterval: -time.Second}},
		{"IdleTimeout", Config{MinWorkers: 1, MaxWorkers: 4, IdleTimeout: -1}},
	}
	for _, c := range cases {
		_, err := NewEventBus(c.cfg)
		require.ErrorIs(t, err, ErrInvalidConfig, "%+v", c.cfg)
		assert.Contains(t, err.Error(), c.field)
	}
	b := newBus(t, Config{MinWorkers: 2, MaxWorkers: 8})
	assert.Equal(t, 2, b.Config().Workers, "a dynamic pool starts at MinWorkers")
	assert.Equal(t, 2, b.Metrics().Workers)
}

func TestResize(t *testing.T) {
	b := newBus(t, Config{Workers: 2, QueueSize: 100})
	var n atomic.Int64
	b.Subscribe(LogLine, func(Event) { n.Add(1) })

	for _, bad := range []int{0, -3, WorkerLimit + 1} {
		assert.ErrorIs(t, b.Resize(bad), ErrInvalidSize)
	}
	require.NoError(t, b.Resize(6))
	assert.Equal(t, 6, b.Metrics().Workers)
	assert.EqualValues(t, 6, b.pool.live.Load())

	// Six workers held at once prove that six run.
	var wg sync.WaitGroup
	wg.Add(6)
	b.Subscribe(BuildEvent, func(Event) { wg.Done(); wg.Wait() })
	for i := 0; i < 6; i++ {
		b.Publish(Event{Type: BuildEvent})
	}
	waitIdle(t, b)

	require.NoError(t, b.Resize(3))
	require.Eventually(t, func() bool { return b.pool.live.Load() == 3 }, testTimeout, time.Millisecond,
		"idle workers leave")
	assert.Len(t, b.pool.slots(), 3)
	for i := 0; i < 100; i++ {
		b.Publish(Event{Type: LogLine})
	}
	waitIdle(t, b)
	assert.EqualValues(t, 100, n.Load())
	m := requireAccounted(t, b)
	assert.EqualValues(t, 1, m.ScaleUps)
	assert.EqualValues(t, 1, m.ScaleDowns)
	require.Len(t, m.Resizes, 2)
	assert.Equal(t, ResizeEvent{Time: m.Resizes[0].Time, From: 2, To: 6, Reason: "Resize"}, m.Resizes[0])
	assert.Equal(t, 3, m.Resizes[1].To)

	b.Shutdown()
	assert.ErrorIs(t, b.Resize(4), ErrEventBusShutdown)
}

func TestResizeBoundsOfADynamicPool(t *testing.T) {
	b := newBus(t, Config{MinWorkers: 2, MaxWorkers: 5, ScaleInterval: time.Hour})
	assert.ErrorIs(t, b.Resize(1), ErrInvalidSize)
	assert.ErrorIs(t, b.Resize(6), ErrInvalidSize)
	assert.NoError(t, b.Resize(5))
	assert.NoError(t, b.Resize(2))
}

// A worker only ever leaves between events: shrinking while every worker
// is busy lets each finish its event first.
func TestShrinkNeverInterruptsAnEvent(t *testing.T) {
	b := newBus(t, Config{Workers: 4, QueueSize: 100})
	release := make(chan struct{})
	var started, finished atomic.Int32
	b.Subscribe(BuildEvent, func(Event) {
		started.Add(1)
		<-release
		finished.Add(1)
	})
	for i := 0; i < 8; i++ {
		b.Publish(Event{Type: BuildEvent})
	}
	require.Eventually(t, func() bool { return started.Load() == 4 }, testTimeout, time.Millisecond)
	require.NoError(t, b.Resize(1))
	close(release)
	waitIdle(t, b)
	assert.EqualValues(t, 8, finished.Load())
	require.Eventually(t, func() bool { return b.pool.live.Load() == 1 }, testTimeout, time.Millisecond)
	requireAccounted(t, b)
}

// Resize races publishers, other Resizes and Shutdown; nothing is lost or
// leaked, under -race.
func TestResizeRacesPublishersAndShutdown(t *testing.T) {
	for round := 0; round < 5; round++ {
		var dropped atomic.Int64
		b, err := NewEventBus(Config{MinWorkers: 1, MaxWorkers: 12, ScaleInterval: time.Millisecond,
			IdleTimeout: 2 * time.Millisecond, QueueSize: 16, EnablePriority: true,
			OrderingKey: OrderByProcessID, OnDrop: func(Event, error) { dropped.Add(1) }})
		require.NoError(t, err)
		c := newKeyedChecker(t)
		b.Subscribe(LogLine, c.handle)
		var wg sync.WaitGroup
		for p := 0; p < 4; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 500; i++ {
					b.Publish(Event{Type: LogLine, ProcessID: string(rune('a' + p)), Data: map[string]interface{}{"seq": i}})
				}
			}()
		}
		for r := 0; r < 3; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(round), uint64(r)))
				for i := 0; i < 50; i++ {
					if err := b.Resize(1 + rng.IntN(12)); err != nil {
						require.ErrorIs(t, err, ErrEventBusShutdown)
					}
				}
			}()
		}
		wg.Add(1)
		go func() { defer wg.Done(); b.Shutdown() }()
		wg.Wait()
		require.NoError(t, b.ShutdownContext(context.Background()))
		m := b.Metrics()
		require.Equal(t, m.EventsPublished, m.EventsProcessed+m.EventsDropped)
		require.EqualValues(t, 2000, m.EventsPublished)
		require.Equal(t, m.EventsDropped, dropped.Load())
		require.Equal(t, m.EventsProcessed, c.handled.Load())
		require.Zero(t, b.pool.live.Load())
	}
}

// The autoscaler's rule, driven look by look with a clock of the test's own.
func TestScalerRule(t *testing.T) {
	const interval, idle = int64(time.Hour), int64(10 * time.Hour)
	b := newBus(t, Config{MinWorkers: 2, MaxWorkers: 8, QueueSize: 20,
		ScaleInterval: time.Hour, IdleTimeout: 10 * time.Hour}) // the test looks for itself
	b.q.halfFull = nil // no pokes: the test times the looks itself
	release := make(chan struct{})
	b.Subscribe(BuildEvent, func(Event) { <-release })
	for i := 0; i < 2+12; i++ { // two held, twelve queued: more than half of 20
		b.Publish(Event{Type: BuildEvent})
	}
	require.Eventually(t, func() bool { return b.Metrics().QueueDepth.Total() == 12 }, testTimeout, time.Millisecond)
	sc := b.auto
	sc.look(0)
	assert.Equal(t, 2, b.Metrics().Workers, "full at one look only: no growth yet")
	sc.look(interval)
	assert.Equal(t, 4, b.Metrics().Workers, "full for an interval: the pool doubles")
	// The two new workers take two events: 10 queued, not more than half.
	require.Eventually(t, func() bool { return b.Metrics().QueueDepth.Total() == 10 }, testTimeout, time.Millisecond)
	sc.look(2 * interval)
	sc.look(3 * interval)
	assert.Equal(t, 4, b.Metrics().Workers, "at the threshold: no flapping")

	close(release)
	waitIdle(t, b)
	// Idle, but not yet for IdleTimeout since the growth: no shrink.
	sc.look(4 * interval)
	sc.look(5 * interval)
	assert.Equal(t, 4, b.Metrics().Workers)
	sc.look(4*interval + idle)
	assert.Equal(t, 2, b.Metrics().Workers, "idle for IdleTimeout: back to MinWorkers")
	sc.look(4*interval + 3*idle)
	assert.Equal(t, 2, b.Metrics().Workers, "never below MinWorkers")
	m := b.Metrics()
	require.Len(t, m.Resizes, 2)
	assert.Contains(t, m.Resizes[0].Reason, "more than half full")
	assert.Contains(t, m.Resizes[1].Reason, "idle")
}

// A bursty load: the pool grows toward MaxWorkers during the burst and is
// back to MinWorkers within a few idle timeouts after it.
func TestDynamicPoolFollowsABurst(t *testing.T) {
	events := 50_000
	if raceEnabled || testing.Short() {
		events = 10_000
	}
	const idle = 50 * time.Millisecond
	b := newBus(t, Config{MinWorkers: 2, MaxWorkers: 64, QueueSize: 1000, BackpressureMode: Block,
		ScaleInterval: 5 * time.Millisecond, IdleTimeout: idle})
	base := runtime.NumGoroutine()
	b.Subscribe(LogLine, func(Event) { time.Sleep(time.Millisecond) })

	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				peak.Store(max(peak.Load(), int64(b.Metrics().Workers)))
			}
		}
	}()
	var wg sync.WaitGroup
	for p := 0; p < 8; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < events/8; i++ {
				b.Publish(Event{Type: LogLine})
			}
		}()
	}
	wg.Wait()
	waitIdle(t, b)
	close(stop)
	<-sampled
	assert.GreaterOrEqual(t, peak.Load(), int64(32), "the pool grew toward MaxWorkers")

	quiet := time.Now()
	require.Eventually(t, func() bool { return b.pool.live.Load() == 2 }, 40*idle, time.Millisecond)
	t.Logf("back to MinWorkers %v after the burst (IdleTimeout %v), peak %d", time.Since(quiet), idle, peak.Load())
	assert.Equal(t, 2, b.Metrics().Workers)
	m := requireAccounted(t, b)
	assert.EqualValues(t, events/8*8, m.EventsProcessed)
	assert.Zero(t, m.EventsDropped)
	// The workers that left are gone, not parked: goroutines are back to
	// MinWorkers plus the autoscaler's (counted in base).
	// (Polled here, not with Eventually, which runs its condition on a
	// goroutine of its own.)
	deadline := time.Now().Add(testTimeout)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), base)
}

func TestReservedCapacityWhileResizing(t *testing.T) {
	b := newBus(t, Config{MinWorkers: 1, MaxWorkers: 6, EnablePriority: true, QueueSize: 100,
		ScaleInterval: time.Hour})
	block := make(chan struct{})
	var stuck atomic.Int32
	b.Subscribe(LogLine, func(Event) { stuck.Add(1); <-block })
	high := make(chan struct{}, 10)
	b.Subscribe(ProcessExited, func(Event) { high <- struct{}{} })
	for i := 0; i < 50; i++ {
		b.Publish(Event{Type: LogLine})
	}
	// A pool of one always lets its worker run Low events.
	require.Eventually(t, func() bool { return stuck.Load() == 1 }, testTimeout, time.Millisecond)
	for _, size := range []int{4, 6, 3} {
		require.NoError(t, b.Resize(size))
		// Every worker but the reserved one ends up stuck in a log line;
		// a High event still gets through.
		b.Publish(Event{Type: ProcessExited})
		receive(t, high)
	}
	assert.LessOrEqual(t, stuck.Load(), int32(5))
	close(block)
	waitIdle(t, b)
	requireAccounted(t, b)
}

func TestResizeErrorsAreDistinct(t *testing.T) {
	b := newBus(t, Config{Workers: 1})
	err := b.Resize(0)
	assert.True(t, errors.Is(err, ErrInvalidSize))
	assert.Contains(t, err.Error(), "0 workers")
}

func TestDynamicPoolQueueFitsItsLargestSize(t *testing.T) {
	b := newBus(t, Config{MinWorkers: 2, MaxWorkers: 20})
	assert.Equal(t, 200, b.Config().QueueSize, "ten events per worker of the largest pool")
}
