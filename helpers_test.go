package eventbus

import (
	"context"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testTimeout bounds every wait in the tests: long enough for a loaded CI
// machine under -race, short enough to fail a hung test quickly.
const testTimeout = 20 * time.Second

// newBus starts a bus that the test shuts down when it ends.
func newBus(t testing.TB, cfg Config) *EventBus {
	t.Helper()
	b, err := NewEventBus(cfg)
	require.NoError(t, err)
	t.Cleanup(b.Shutdown)
	return b
}

// waitIdle waits for the bus to be idle, failing the test on timeout.
func waitIdle(t testing.TB, b *EventBus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	require.NoError(t, b.WaitIdle(ctx), "bus did not become idle")
}

// receive waits for a value on ch, failing the test on timeout.
func receive[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting on a channel")
		panic("unreachable")
	}
}

const gateType EventType = "test.gate"

// holdWorker occupies one worker with a handler that blocks until the
// returned release function is called; it returns once a worker is inside
// that handler. Release is idempotent and is also called at cleanup, so a
// failing test never leaves a worker stuck.
func holdWorker(t testing.TB, b *EventBus) (release func()) {
	t.Helper()
	started := make(chan struct{})
	gate := make(chan struct{})
	sub := b.On(gateType, func(Event) {
		started <- struct{}{}
		<-gate
	})
	require.NoError(t, b.PublishWithBackpressure(Event{Type: gateType}, PriorityHigh))
	receive(t, started)
	sub.Unsubscribe() // the running invocation carries on; later gates need a new hold
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return release
}

// recorder collects the events its handler receives, in order.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) handle(ev Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.events))
	for i, ev := range r.events {
		out[i] = ev.ID
	}
	return out
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// dropLog collects what OnDrop reports.
type dropLog struct {
	mu      sync.Mutex
	ids     []string
	reasons []error
}

func (d *dropLog) onDrop(ev Event, reason error) {
	d.mu.Lock()
	d.ids = append(d.ids, ev.ID)
	d.reasons = append(d.reasons, reason)
	d.mu.Unlock()
}

func (d *dropLog) snapshot() ([]string, []error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.ids...), append([]error(nil), d.reasons...)
}

// floodLogLines starts n goroutines that publish log lines to b until the
// returned function is called; it returns once they have all stopped.
func floodLogLines(b *EventBus, n int) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
					b.Publish(Event{Type: LogLine})
				}
			}
		}()
	}
	return func() {
		close(done)
		wg.Wait()
	}
}

// requireAccounted checks the accounting identity on a quiet bus.
func requireAccounted(t testing.TB, b *EventBus) MetricsSnapshot {
	t.Helper()
	m := b.Metrics()
	require.Equal(t, m.EventsPublished, m.EventsProcessed+m.EventsDropped,
		"published = processed + dropped: %+v", m)
	require.Zero(t, m.EventsPending)
	return m
}

// captureOutput runs f with os.Stdout and os.Stderr sent to a pipe and
// returns what was written to them.
func captureOutput(t testing.TB, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = w, w
	defer func() { os.Stdout, os.Stderr = oldOut, oldErr }()
	read := make(chan string)
	go func() {
		data, _ := io.ReadAll(r)
		read <- string(data)
	}()
	f()
	os.Stdout, os.Stderr = oldOut, oldErr
	require.NoError(t, w.Close())
	out := <-read
	require.NoError(t, r.Close())
	return out
}

// waitQuiet waits until nothing is queued or running, also when handlers
// publish more events: WaitIdle only covers what was published before it.
func waitQuiet(t testing.TB, b *EventBus) {
	t.Helper()
	for b.Metrics().EventsPending != 0 {
		waitIdle(t, b)
	}
}

// lanesAfterShutdown shuts b down and returns the number of ordered streams
// its queue still holds. A worker gives back the streams of its batch at
// its next pop, just after the events count as handled, so WaitIdle may
// return a moment before that; a worker that exited has popped for the
// last time.
func lanesAfterShutdown(t testing.TB, b *EventBus) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	require.NoError(t, b.ShutdownContext(ctx))
	b.q.mu.Lock()
	defer b.q.mu.Unlock()
	return len(b.q.lanes.m)
}

// goroutineCountSlack is how far runtime.NumGoroutine may overcount while
// goroutines start and exit on other Ps: it sums the scheduler's global
// and per-P free lists without a consistent snapshot, and the scheduler
// moves goroutines between them in batches of 32. Bounds taken while
// publishers come and go allow for it; a goroutine per event would still
// overshoot them by thousands.
const goroutineCountSlack = 64
