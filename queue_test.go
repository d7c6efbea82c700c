package eventbus

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every Low handler is stuck (Brummer's TUI stopped reading); a High event
// still finds the reserved worker.
func TestStuckLowHandlersCannotDelayHighEvents(t *testing.T) {
	b := newBus(t, Config{Workers: 4, QueueSize: 100, EnablePriority: true})
	block := make(chan struct{})
	var stuck atomic.Int32
	b.Subscribe(LogLine, func(Event) { stuck.Add(1); <-block })
	waited := make(chan time.Duration, 1)
	b.Subscribe(ProcessExited, func(ev Event) { waited <- time.Since(ev.Timestamp) })
	for i := 0; i < 50; i++ {
		b.Publish(Event{Type: LogLine})
	}
	require.Eventually(t, func() bool { return stuck.Load() == 3 }, testTimeout, time.Millisecond,
		"three workers run Low events, one is reserved")
	b.Publish(Event{Type: ProcessExited})
	// Handled while every Low handler is still stuck: without the
	// reserved worker it would wait for them, and receive would time out.
	t.Logf("process.exited waited %v", receive(t, waited))
	assert.EqualValues(t, 3, stuck.Load(), "the reserved worker never took a Low event")
	close(block)
	waitIdle(t, b)
	requireAccounted(t, b)
}

func TestShutdownDrainsLowEventsBeyondTheirSlots(t *testing.T) {
	b, err := NewEventBus(Config{Workers: 3, QueueSize: 100, EnablePriority: true})
	require.NoError(t, err)
	var n atomic.Int32
	b.Subscribe(LogLine, func(Event) { time.Sleep(time.Millisecond); n.Add(1) })
	for i := 0; i < 60; i++ {
		b.Publish(Event{Type: LogLine})
	}
	// The reserved worker parks while Low events remain; it must still be
	// woken to exit once they are done.
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	require.NoError(t, b.ShutdownContext(ctx))
	assert.EqualValues(t, 60, n.Load())
	assert.Zero(t, b.pool.live.Load())
}

func TestReservedWorkersConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want int
	}{
		{Config{Workers: 4, EnablePriority: true}, 1},
		{Config{Workers: 1, EnablePriority: true}, 0},
		{Config{Workers: 4, EnablePriority: true, ReservedWorkers: -1}, 0},
		{Config{Workers: 4, EnablePriority: true, ReservedWorkers: 3}, 3},
		{Config{Workers: 4, EnablePriority: false, ReservedWorkers: 2}, 0},
		// Automatic Workers depend on the machine: the reserve is lowered.
		{Config{EnablePriority: true, ReservedWorkers: WorkerLimit}, CalculateOptimalWorkers() - 1},
		// A dynamic pool is checked against its largest size, whether its
		// starting size is given or not.
		{Config{MinWorkers: 1, MaxWorkers: 8, EnablePriority: true, ReservedWorkers: 4}, 4},
		{Config{Workers: 1, MinWorkers: 1, MaxWorkers: 8, EnablePriority: true, ReservedWorkers: 4}, 4},
	} {
		b := newBus(t, c.cfg)
		assert.Equal(t, c.want, b.Config().ReservedWorkers, "%+v", c.cfg)
		b.Shutdown()
	}
	for _, cfg := range []Config{
		{Workers: 2, ReservedWorkers: 2, EnablePriority: true},
		{Workers: 2, ReservedWorkers: -2},
		{MinWorkers: 1, MaxWorkers: 4, ReservedWorkers: 4, EnablePriority: true},
		{Workers: 1, MinWorkers: 1, MaxWorkers: 4, ReservedWorkers: 4, EnablePriority: true},
	} {
		_, err := NewEventBus(cfg)
		assert.ErrorContains(t, err, "ReservedWorkers", "%+v", cfg)
	}
}

// MaxStuckWorkers defaults to the largest the pool can be.
func TestMaxStuckWorkersDefault(t *testing.T) {
	b := newBus(t, Config{Workers: 3})
	assert.Equal(t, 3, b.Config().MaxStuckWorkers)
	b = newBus(t, Config{MinWorkers: 1, MaxWorkers: 8})
	assert.Equal(t, 8, b.Config().MaxStuckWorkers)
}

// A worker that counts itself in after it parked (a new worker of Resize,
// the autoscaler or the watchdog may reach the queue before it is counted)
// raises the Low cap: a parked worker must be woken for the Low events that
// became runnable, or they wait for an unrelated publish.
func TestJoiningWakesAParkedWorkerForLowWork(t *testing.T) {
	b := newBus(t, Config{Workers: 2, QueueSize: 100, EnablePriority: true})
	started := make(chan struct{}, 10)
	block := make(chan struct{})
	b.Subscribe(LogLine, func(Event) { started <- struct{}{}; <-block })
	for i := 0; i < 5; i++ {
		b.Publish(Event{Type: LogLine})
	}
	receive(t, started) // the one Low slot is taken; the reserved worker parks
	require.Eventually(t, func() bool {
		b.q.mu.Lock()
		defer b.q.mu.Unlock()
		return b.q.idle == 1
	}, testTimeout, time.Millisecond)
	b.q.join(1) // as a new worker does, here with its goroutine already parked
	receive(t, started)
	close(block)
	waitIdle(t, b)
	requireAccounted(t, b)
}

// A worker that leaves a shrinking pool may free the only Low slot: it
// wakes a parked worker for the Low work that waited for it.
func TestLeavingWakesAParkedWorkerForLowWork(t *testing.T) {
	b := newBus(t, Config{Workers: 2, QueueSize: 100, EnablePriority: true})
	started := make(chan struct{}, 10)
	block := make(chan struct{})
	b.Subscribe(LogLine, func(ev Event) {
		started <- struct{}{}
		if ev.ID == "hold" {
			<-block
		}
	})
	b.Publish(Event{ID: "hold", Type: LogLine})
	receive(t, started)
	b.Publish(Event{Type: LogLine}) // waits: the one Low slot is taken
	parked := func() bool {
		b.q.mu.Lock()
		defer b.q.mu.Unlock()
		return b.q.idle == 1
	}
	require.Eventually(t, parked, testTimeout, time.Millisecond)
	// The reserved worker is woken to leave, but may not (the busy one
	// would then have to run Low work alone, with no reserve): it parks
	// again, and the busy one leaves when its handler returns.
	require.NoError(t, b.Resize(1))
	require.Eventually(t, parked, testTimeout, time.Millisecond)
	close(block)
	receive(t, started)
	waitIdle(t, b)
	assert.Equal(t, 1, b.Metrics().Workers)
	requireAccounted(t, b)
}

// The watchdog marks a worker detached under the queue's lock, while the
// handler runs; the worker looks at the mark under the same lock at its
// next pop, whatever work is queued, so it cannot go on uncounted.
func TestADetachedWorkerLeavesAtItsNextPop(t *testing.T) {
	b := newBus(t, Config{Workers: 1, QueueSize: 10})
	b.Subscribe(BuildEvent, func(Event) {})
	b.Publish(Event{Type: BuildEvent})
	b.Publish(Event{Type: BuildEvent})
	var w worker
	w.v.openLevel = -1
	w.detached.Store(true)
	got := b.q.pop(&w)
	assert.Equal(t, popDetached, got)
	assert.Zero(t, len(w.v.dl), "it took nothing")
	waitIdle(t, b)
	requireAccounted(t, b)
}
