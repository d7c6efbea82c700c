package eventbus

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keyedChecker is a handler that checks, per key, that events arrive one at
// a time with strictly increasing sequence numbers.
type keyedChecker struct {
	t       testing.TB
	mu      sync.Mutex
	last    map[string]int
	running map[string]int
	handled atomic.Int64
}

func newKeyedChecker(t testing.TB) *keyedChecker {
	return &keyedChecker{t: t, last: map[string]int{}, running: map[string]int{}}
}

func (c *keyedChecker) handle(ev Event) {
	key, seq := ev.ProcessID, ev.Data["seq"].(int)
	c.mu.Lock()
	c.running[key]++
	if c.running[key] > 1 {
		c.t.Errorf("key %s: two events handled at once", key)
	}
	if last, ok := c.last[key]; ok && seq <= last {
		c.t.Errorf("key %s: seq %d after %d", key, seq, last)
	}
	c.last[key] = seq
	c.mu.Unlock()
	runtime.Gosched() // give another worker the chance to break the order
	c.mu.Lock()
	c.running[key]--
	c.mu.Unlock()
	c.handled.Add(1)
}

// publishKeyed has publishers each own keys/publishers keys and publish
// each key's events in sequence, interleaving their keys.
func publishKeyed(b *EventBus, publishers, keys, perKey int) {
	var wg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; seq < perKey; seq++ {
				for k := p; k < keys; k += publishers {
					b.Publish(Event{Type: LogLine, ProcessID: fmt.Sprintf("proc-%d", k),
						Data: map[string]interface{}{"seq": seq}})
				}
			}
		}()
	}
	wg.Wait()
}

func TestOrderingPerKey(t *testing.T) {
	keys, perKey := 64, 10_000
	if raceEnabled || testing.Short() {
		perKey = 1_000
	}
	b := newBus(t, Config{Workers: 4, QueueSize: 256, BackpressureMode: Block,
		EnablePriority: true, OrderingKey: OrderByProcessID})
	c := newKeyedChecker(t)
	b.Subscribe(LogLine, c.handle)
	publishKeyed(b, 8, keys, perKey)
	waitIdle(t, b)
	assert.EqualValues(t, keys*perKey, c.handled.Load())
	for k := 0; k < keys; k++ {
		assert.Equal(t, perKey-1, c.last[fmt.Sprintf("proc-%d", k)])
	}
	requireAccounted(t, b)
	assert.Zero(t, lanesAfterShutdown(t, b), "idle keys hold no memory")
}

func TestOrderingSurvivesDrops(t *testing.T) {
	for _, policy := range []DropPolicy{DropOldest, DropNewest, DropLowPri} {
		t.Run(policy.String(), func(t *testing.T) {
			b := newBus(t, Config{Workers: 3, QueueSize: 8, BackpressureMode: policy,
				EnablePriority: true, OrderingKey: OrderByProcessID})
			c := newKeyedChecker(t)
			b.Subscribe(LogLine, c.handle)
			publishKeyed(b, 4, 8, 2000)
			// A dropped event must not stall its key: WaitIdle returns.
			waitIdle(t, b)
			m := requireAccounted(t, b)
			assert.Positive(t, m.EventsDropped)
			assert.Equal(t, c.handled.Load(), m.EventsProcessed)
			assert.Zero(t, lanesAfterShutdown(t, b))
		})
	}
}

// Ordering holds within a key and a level: a process's High event is not
// held back behind its own backlog of Low log lines.
func TestOrderingIsPerLevel(t *testing.T) {
	b := newBus(t, Config{Workers: 2, QueueSize: 100, EnablePriority: true,
		OrderingKey: OrderByProcessID, ReservedWorkers: -1})
	var r recorder
	block := make(chan struct{})
	started := make(chan struct{}, 1)
	b.Subscribe(LogLine, func(ev Event) {
		if ev.ID == "L0" {
			started <- struct{}{}
			<-block
		}
		r.handle(ev)
	})
	b.Subscribe(ProcessExited, r.handle)
	b.Publish(Event{ID: "L0", Type: LogLine, ProcessID: "web"})
	receive(t, started)
	for i := 1; i <= 5; i++ {
		b.Publish(Event{ID: fmt.Sprintf("L%d", i), Type: LogLine, ProcessID: "web"})
	}
	b.Publish(Event{ID: "exit", Type: ProcessExited, ProcessID: "web"})
	// The second worker is free: it takes the exit although L0 of the
	// same process is still running, while L1..L5 wait for L0.
	require.Eventually(t, func() bool { return r.len() == 1 }, testTimeout, time.Millisecond)
	assert.Equal(t, []string{"exit"}, r.ids())
	close(block)
	waitIdle(t, b)
	assert.Equal(t, []string{"exit", "L0", "L1", "L2", "L3", "L4", "L5"}, r.ids())
}

// A million distinct keys over time cost no more memory than the busiest
// moment: a key's lane goes when its events do.
func TestIdleKeysReleaseTheirMemory(t *testing.T) {
	keys := 1_000_000
	if raceEnabled || testing.Short() {
		keys = 100_000
	}
	b := newBus(t, Config{Workers: 2, QueueSize: 64, BackpressureMode: Block, OrderingKey: OrderByProcessID})
	b.Subscribe(LogLine, func(Event) {})
	ids := make([]string, 4096) // reused so the test itself allocates little
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < keys; i++ {
		if i < len(ids) {
			ids[i] = fmt.Sprint("k", i)
		}
		key := ids[i%len(ids)]
		if i >= len(ids) {
			key = fmt.Sprint("k", i) // a new key each time
		}
		b.Publish(Event{ID: "x", Timestamp: clockBase, Type: LogLine, ProcessID: key})
	}
	waitIdle(t, b)
	assert.Zero(t, lanesAfterShutdown(t, b))
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	assert.Less(t, grown, int64(4<<20), "heap grew by %d bytes over %d keys", grown, keys)
	requireAccounted(t, b)
}

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
	} {
		b := newBus(t, c.cfg)
		assert.Equal(t, c.want, b.Config().ReservedWorkers, "%+v", c.cfg)
		b.Shutdown()
	}
	_, err := NewEventBus(Config{Workers: 2, ReservedWorkers: 2, EnablePriority: true})
	assert.ErrorContains(t, err, "ReservedWorkers")
	_, err = NewEventBus(Config{Workers: 2, ReservedWorkers: -2})
	assert.ErrorContains(t, err, "ReservedWorkers")
}

func TestWatchdogReportsSlowHandlers(t *testing.T) {
	type slow struct {
		ev      Event
		running time.Duration
	}
	reports := make(chan slow, 4)
	// The timeout is long enough that a quick call descheduled on a
	// loaded machine is not slow.
	const timeout = 200 * time.Millisecond
	b := newBus(t, Config{Workers: 2, QueueSize: 200, HandlerTimeout: timeout,
		OnSlowHandler: func(ev Event, running time.Duration) { reports <- slow{ev, running} }})
	release := make(chan struct{})
	b.Subscribe(BuildEvent, func(Event) { <-release })
	b.Subscribe(TestPassed, func(Event) {})
	b.Publish(Event{ID: "slow-one", Type: BuildEvent})
	for i := 0; i < 100; i++ {
		b.Publish(Event{Type: TestPassed}) // quick calls are never reported
	}
	r := receive(t, reports)
	assert.Equal(t, "slow-one", r.ev.ID)
	assert.GreaterOrEqual(t, r.running, timeout)
	close(release)
	waitIdle(t, b)
	m := requireAccounted(t, b)
	assert.EqualValues(t, 1, m.SlowHandlers, "one report per call")
	assert.Zero(t, m.WorkersReplaced)
	assert.Len(t, reports, 0)
}

func TestStuckWorkersAreReplacedUpToTheBound(t *testing.T) {
	base := runtime.NumGoroutine()
	b := newBus(t, Config{Workers: 2, QueueSize: 100, HandlerTimeout: 10 * time.Millisecond,
		ReplaceStuckWorkers: true, MaxStuckWorkers: 2})
	release := make(chan struct{})
	var stuck atomic.Int32
	b.Subscribe(BuildEvent, func(Event) { stuck.Add(1); <-release })
	var quick atomic.Int32
	b.Subscribe(TestPassed, func(Event) { quick.Add(1) })

	// Four handlers that never return: two get replaced, then the bound
	// stops replacements and the pool runs out of workers.
	for i := 0; i < 4; i++ {
		b.Publish(Event{Type: BuildEvent})
	}
	require.Eventually(t, func() bool {
		m := b.Metrics()
		return stuck.Load() == 4 && m.WorkersReplaced == 2 && m.SlowHandlers == 4
	}, testTimeout, time.Millisecond)
	m := b.Metrics()
	assert.Equal(t, 2, m.StuckWorkers)
	// Two configured workers, two replacements, the watchdog: no more
	// (+1: the goroutine of require.Eventually's last check may not have
	// exited yet).
	assert.LessOrEqual(t, runtime.NumGoroutine()-base, 2+2+1+1)

	for i := 0; i < 10; i++ {
		b.Publish(Event{Type: TestPassed}) // wait: every worker is stuck
	}
	assert.Zero(t, quick.Load())
	close(release)
	waitIdle(t, b)
	assert.EqualValues(t, 10, quick.Load())
	m = requireAccounted(t, b)
	assert.EqualValues(t, 14, m.EventsProcessed, "the stuck events were counted once")
	// A stuck goroutine counts its event, then leaves the pool.
	require.Eventually(t, func() bool {
		return b.Metrics().StuckWorkers == 0 && len(b.pool.slots()) == 2
	}, testTimeout, time.Millisecond, "the replaced goroutines returned and left; the pool is back to its size")
}

func TestStuckLowWorkerGivesItsSlotToTheReplacement(t *testing.T) {
	b := newBus(t, Config{Workers: 2, QueueSize: 100, EnablePriority: true,
		HandlerTimeout: 10 * time.Millisecond, ReplaceStuckWorkers: true})
	release := make(chan struct{})
	var lines atomic.Int32
	b.Subscribe(LogLine, func(ev Event) {
		if ev.ID == "stuck" {
			<-release
		}
		lines.Add(1)
	})
	b.Publish(Event{ID: "stuck", Type: LogLine})
	// With one worker reserved, only one may run Low events, and it is
	// stuck: the replacement takes its Low slot and the lines flow again.
	for i := 0; i < 20; i++ {
		b.Publish(Event{Type: LogLine})
	}
	require.Eventually(t, func() bool { return lines.Load() == 20 }, testTimeout, time.Millisecond)
	close(release)
	waitIdle(t, b)
	requireAccounted(t, b)
}

// A worker that counts itself in after it parked (a new worker of Resize,
// the scaler or the watchdog may reach the queue before it is counted)
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

// OnSlowHandler runs on the watchdog's goroutine; a hook that shuts the
// bus down must not wait for that goroutine, its own.
func TestShutdownFromOnSlowHandler(t *testing.T) {
	var b *EventBus
	hookDone := make(chan error, 1)
	b = newBus(t, Config{Workers: 1, HandlerTimeout: 5 * time.Millisecond, ShutdownTimeout: 50 * time.Millisecond,
		OnSlowHandler: func(Event, time.Duration) {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			hookDone <- b.ShutdownContext(ctx)
		}})
	release := make(chan struct{})
	b.Subscribe(BuildEvent, func(Event) { <-release })
	b.Publish(Event{Type: BuildEvent})
	// The handler is stuck, so the drain runs out of time; the call
	// returns instead of waiting for itself.
	assert.ErrorIs(t, receive(t, hookDone), context.DeadlineExceeded)
	close(release)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	require.NoError(t, b.ShutdownContext(ctx), "once the handler and the hook returned, shutdown completes")
}
