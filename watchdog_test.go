package eventbus

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A handler that returns just as the watchdog replaces its worker must not
// leave the pool without a worker: the replacement is counted in before
// the stuck worker may leave, so every later event is still handled, and
// Shutdown finds nothing stranded.
func TestReplacementNeverLeavesThePoolEmpty(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		shrink bool
	}{
		{"one worker", Config{Workers: 1}, false},
		{"after Resize(1)", Config{Workers: 4}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.HandlerTimeout = time.Millisecond
			cfg.ReplaceStuckWorkers = true
			b := newBus(t, cfg)
			if tc.shrink {
				require.NoError(t, b.Resize(1))
			}
			done := make(chan struct{}, 1)
			b.Subscribe("work", func(Event) {
				// Around the timeout, so that many calls end just as the
				// watchdog looks at them.
				time.Sleep(time.Millisecond + time.Duration(rand.IntN(2000))*time.Microsecond)
				done <- struct{}{}
			})
			rounds := 600
			if testing.Short() {
				rounds = 200
			}
			for i := 0; i < rounds; i++ {
				b.Publish(Event{Type: "work"})
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					m := b.Metrics()
					t.Fatalf("round %d: the event was never handled (%d workers replaced, pool of %d)", i, m.WorkersReplaced, m.Workers)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			require.NoError(t, b.ShutdownContext(ctx))
			requireAccounted(t, b)
		})
	}
}

// A call is reported between HandlerTimeout and 1.25 × HandlerTimeout
// after it began (HandlerTimeout + 2ms under 8ms), also in the worst case:
// the call begins just after a tick, so the first tick that sees it comes
// a whole tick later, and every later tick comes a microsecond early. The
// test plays the ticks itself, with the bus's own tick and check, on a
// bus whose ticker will not fire during the test.
func TestWatchdogReportsWithinItsBound(t *testing.T) {
	for _, timeout := range []time.Duration{time.Microsecond, time.Millisecond, 5 * time.Millisecond,
		8 * time.Millisecond, 100 * time.Millisecond, time.Second, time.Hour} {
		reports := make(chan time.Duration, 1)
		b := newBus(t, Config{Workers: 1, HandlerTimeout: 24 * time.Hour,
			OnSlowHandler: func(_ Event, running time.Duration) { reports <- running }})
		b.wd.timeout = int64(timeout)
		started, release := make(chan struct{}), make(chan struct{})
		b.Subscribe(BuildEvent, func(Event) { close(started); <-release })
		b.Publish(Event{Type: BuildEvent})
		receive(t, started)

		tick := int64(watchdogTick(timeout))
		const early = int64(time.Microsecond)
		base := monotime()
		b.wd.check(base) // first seen, a tick after the call began
		k := int64(1)
		for ; len(reports) == 0; k++ {
			require.Less(t, k, int64(100), "timeout %v: never reported", timeout)
			b.wd.check(base + k*tick - early)
		}
		k--
		running := <-reports
		assert.GreaterOrEqual(t, running, timeout, "reported before the timeout")
		latest := time.Duration(tick + k*tick - early) // from the call's start
		bound := max(timeout*5/4, timeout+2*time.Millisecond)
		assert.LessOrEqual(t, latest, bound, "timeout %v: reported up to %v after the call began", timeout, latest)
		close(release)
		b.Shutdown()
	}
}

// A replaced worker finishes the deliveries it had taken once its stuck
// handler returns; a slow call among those is reported like any other,
// though the worker is not replaced twice. The test plays the watchdog's
// ticks itself.
func TestAReplacedWorkersLaterSlowCallsAreReported(t *testing.T) {
	reports := make(chan string, 8)
	b := newBus(t, Config{Workers: 1, HandlerTimeout: 24 * time.Hour, ReplaceStuckWorkers: true, MaxStuckWorkers: 1,
		OnSlowSubscription: func(name string, _ Event, _ time.Duration) { reports <- name }})
	b.wd.timeout = 1
	tick := func() { // two looks: the first times the calls, the second reports them
		b.wd.check(monotime())
		b.wd.check(monotime() + 2)
	}
	gates := map[string]*gate{}
	started := make(chan string, 3)
	for _, name := range []string{"s1", "s2", "s3"} {
		g := newGate(t)
		gates[name] = g
		b.On("x", func(ev Event) { started <- name; g.handle(ev) }, WithName(name))
	}
	b.Publish(Event{Type: "x"}) // one event, three deliveries, one worker
	first := receive(t, started)
	tick()
	assert.Equal(t, first, receive(t, reports))
	second := receive(t, started) // the replacement took one of the other two, and is stuck too
	tick()
	assert.Equal(t, second, receive(t, reports))
	assert.EqualValues(t, 1, b.Metrics().WorkersReplaced, "at most MaxStuckWorkers replaced")

	gates[first].release() // the replaced worker goes on with the last delivery, and is slow again
	third := receive(t, started)
	tick()
	assert.Equal(t, third, receive(t, reports), "the replaced worker's later slow call is reported")
	assert.EqualValues(t, 3, b.Metrics().SlowHandlers)
	assert.EqualValues(t, 1, b.Metrics().WorkersReplaced, "a replaced worker is not replaced again")
	for _, g := range gates {
		g.release()
	}
	waitIdle(t, b)
	requireAccounted(t, b)
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
