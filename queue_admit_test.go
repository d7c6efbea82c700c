package eventbus

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each case fills a queue of three behind a held worker, publishes one more
// event, and checks exactly which event was dropped and what the handler
// then sees. Names give the level: "H1" is a High event, "L2" a Low one.
func TestDropPolicies(t *testing.T) {
	cases := []struct {
		name     string
		policy   DropPolicy
		priority bool
		queued   []string
		arriving string
		dropped  string
		err      error // of the arriving publish
		handled  []string
	}{
		{"newest refuses the new event", DropNewest, true,
			[]string{"L1", "H1", "M1"}, "H2", "H2", ErrQueueFull, []string{"H1", "M1", "L1"}},
		{"oldest evicts the oldest, even High", DropOldest, true,
			[]string{"H1", "L1", "L2"}, "L3", "H1", nil, []string{"L1", "L2", "L3"}},
		{"oldest without priority", DropOldest, false,
			[]string{"M1", "L1", "H1"}, "L2", "M1", nil, []string{"L1", "H1", "L2"}},
		// The amendment's case: the default policy keeps the High event.
		{"lowpri evicts the oldest Low", DropLowPri, true,
			[]string{"H1", "L1", "L2"}, "L3", "L1", nil, []string{"H1", "L2", "L3"}},
		{"lowpri refuses a new event lower than all queued", DropLowPri, true,
			[]string{"H1", "M1", "M2"}, "L1", "L1", ErrQueueFull, []string{"H1", "M1", "M2"}},
		{"lowpri evicts Medium for High", DropLowPri, true,
			[]string{"H1", "M1", "H2"}, "H3", "M1", nil, []string{"H1", "H2", "H3"}},
		{"lowpri among equals drops the oldest queued", DropLowPri, true,
			[]string{"H1", "H2", "H3"}, "H4", "H1", nil, []string{"H2", "H3", "H4"}},
		{"lowpri refuses Medium when only High is queued", DropLowPri, true,
			[]string{"H1", "H2", "H3"}, "M1", "M1", ErrQueueFull, []string{"H1", "H2", "H3"}},
		{"lowpri without priority drops the oldest", DropLowPri, false,
			[]string{"H1", "L1", "M1"}, "L2", "H1", nil, []string{"L1", "M1", "L2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var drops dropLog
			b := newBus(t, Config{Workers: 1, QueueSize: 3, BackpressureMode: c.policy,
				EnablePriority: c.priority, OnDrop: drops.onDrop})
			var r recorder
			for _, typ := range []EventType{LogLine, BuildEvent, ProcessExited} {
				b.Subscribe(typ, r.handle)
			}
			release := holdWorker(t, b)
			for _, n := range c.queued {
				require.NoError(t, b.PublishContext(context.Background(), Event{ID: n, Type: typeOfLevel(n)}))
			}
			err := b.PublishContext(context.Background(), Event{ID: c.arriving, Type: typeOfLevel(c.arriving)})
			if c.err == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, c.err)
			}
			ids, reasons := drops.snapshot()
			require.Equal(t, []string{c.dropped}, ids)
			assert.ErrorIs(t, reasons[0], ErrQueueFull)

			release()
			waitIdle(t, b)
			assert.Equal(t, c.handled, r.ids())
			m := requireAccounted(t, b)
			assert.EqualValues(t, 1, m.Drops.QueueFull)
		})
	}
}

func TestTimeoutWaitsForRoomThenApplies(t *testing.T) {
	var drops dropLog
	b := newBus(t, Config{Workers: 1, QueueSize: 1, BackpressureMode: DropNewest,
		TimeoutDuration: 30 * time.Millisecond, OnDrop: drops.onDrop})
	var r recorder
	b.Subscribe(LogLine, r.handle)
	release := holdWorker(t, b)
	require.NoError(t, b.PublishContext(context.Background(), Event{ID: "queued", Type: LogLine}))

	start := time.Now()
	err := b.PublishContext(context.Background(), Event{ID: "late", Type: LogLine})
	require.ErrorIs(t, err, ErrQueueFull)
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond, "it waited for room first")

	// A waiting publisher that gets room in time is queued.
	errc := make(chan error, 1)
	go func() { errc <- b.PublishContext(context.Background(), Event{ID: "patient", Type: LogLine}) }()
	require.Eventually(t, func() bool { return waitingPublishers(b) == 1 }, testTimeout, time.Millisecond)
	release()
	// The freed slot went to the waiting publisher, unless its 30 ms ran
	// out first on a slow machine; either way it is accounted for.
	if err := receive(t, errc); err != nil {
		require.ErrorIs(t, err, ErrQueueFull)
	}
	waitIdle(t, b)
	ids, _ := drops.snapshot()
	assert.Equal(t, 3, r.len()+len(ids))
	requireAccounted(t, b)
}

// The amendment: waiting publishers are admitted by priority, so a High
// publisher that starts waiting after three Low ones is admitted first.
func TestBlockAdmitsWaitingPublishersByPriority(t *testing.T) {
	b := newBus(t, Config{Workers: 1, QueueSize: 1, BackpressureMode: Block, EnablePriority: true})
	var r recorder
	b.Subscribe(LogLine, r.handle)
	b.Subscribe(ProcessExited, r.handle)
	release := holdWorker(t, b)
	b.Publish(Event{ID: "L0", Type: LogLine}) // fills the queue

	var wg sync.WaitGroup
	publish := func(id string, typ EventType, waiting int) {
		wg.Add(1)
		go func() { defer wg.Done(); b.Publish(Event{ID: id, Type: typ}) }()
		require.Eventually(t, func() bool { return waitingPublishers(b) == waiting }, testTimeout, time.Millisecond)
	}
	publish("L1", LogLine, 1)
	publish("L2", LogLine, 2)
	publish("L3", LogLine, 3)
	publish("H1", ProcessExited, 4)

	release()
	wg.Wait()
	waitIdle(t, b)
	assert.Equal(t, []string{"L0", "H1", "L1", "L2", "L3"}, r.ids())
}

func TestTimeoutWaitAdmitsByPriorityToo(t *testing.T) {
	b := newBus(t, Config{Workers: 1, QueueSize: 1, BackpressureMode: DropNewest,
		TimeoutDuration: time.Minute, EnablePriority: true})
	var r recorder
	b.Subscribe(LogLine, r.handle)
	b.Subscribe(ProcessExited, r.handle)
	release := holdWorker(t, b)
	b.Publish(Event{ID: "L0", Type: LogLine})
	var wg sync.WaitGroup
	for i, id := range []string{"L1", "H1"} {
		wg.Add(1)
		go func() { defer wg.Done(); b.Publish(Event{ID: id, Type: typeOfLevel(id)}) }()
		require.Eventually(t, func() bool { return waitingPublishers(b) == i+1 }, testTimeout, time.Millisecond)
	}
	release()
	wg.Wait()
	waitIdle(t, b)
	assert.Equal(t, []string{"L0", "H1", "L1"}, r.ids())
}

// The accounting identity holds for every policy with many concurrent
// publishers, and OnDrop sees every drop exactly once.
func TestAccountingUnderConcurrency(t *testing.T) {
	const publishers, each = 16, 2000
	for _, policy := range []DropPolicy{DropOldest, DropNewest, DropLowPri, Block} {
		for _, timeout := range []time.Duration{0, time.Millisecond} {
			t.Run(policy.String()+"/timeout="+timeout.String(), func(t *testing.T) {
				var dropped atomic.Int64
				var seen sync.Map
				b := newBus(t, Config{Workers: 3, QueueSize: 8, BackpressureMode: policy,
					EnablePriority: true, TimeoutDuration: timeout, MonitoringEnabled: true,
					OnDrop: func(ev Event, _ error) {
						if _, dup := seen.LoadOrStore(ev.ID, true); dup {
							t.Errorf("event %s reported twice", ev.ID)
						}
						dropped.Add(1)
					}})
				var handled atomic.Int64
				for _, typ := range []EventType{LogLine, BuildEvent, ProcessExited} {
					b.Subscribe(typ, func(ev Event) {
						if _, dup := seen.LoadOrStore(ev.ID, true); dup {
							t.Errorf("event %s handled twice or handled and dropped", ev.ID)
						}
						handled.Add(1)
					})
				}
				var wg sync.WaitGroup
				for p := 0; p < publishers; p++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						types := []EventType{LogLine, LogLine, LogLine, BuildEvent, ProcessExited}
						for i := 0; i < each; i++ {
							b.Publish(Event{Type: types[(p+i)%len(types)]})
						}
					}()
				}
				wg.Wait()
				waitIdle(t, b)
				m := requireAccounted(t, b)
				assert.EqualValues(t, publishers*each, m.EventsPublished)
				assert.Equal(t, handled.Load(), m.EventsProcessed)
				assert.Equal(t, dropped.Load(), m.EventsDropped)
				assert.Equal(t, m.EventsDropped, m.Drops.ByPriority.Total())
				if policy == Block {
					assert.Zero(t, m.EventsDropped)
				}
			})
		}
	}
}

// The amendment: under the default config, Low flooders never cost a High
// event.
func TestDefaultConfigNeverDropsHighForLow(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Workers, cfg.QueueSize = 2, 16
	b := newBus(t, cfg)
	var high atomic.Int64
	block := make(chan struct{})
	b.Subscribe(LogLine, func(Event) { <-block })
	b.Subscribe(ProcessExited, func(Event) { high.Add(1) })

	stopFlood := floodLogLines(b, 4)
	// The log handlers are stuck and Low events overflow the queue. High
	// events published now wait in the queue: 10 of them fit beside the
	// Low ones, while the flood goes on.
	require.Eventually(t, func() bool { return b.Metrics().Drops.ByPriority.Low > 0 }, testTimeout, time.Millisecond)
	const highs = 10
	for i := 0; i < highs; i++ {
		b.Publish(Event{Type: ProcessExited})
	}
	stopFlood()
	close(block)
	waitIdle(t, b)
	m := requireAccounted(t, b)
	assert.Zero(t, m.Drops.ByPriority.High)
	assert.EqualValues(t, highs, high.Load())
	assert.Positive(t, m.Drops.ByPriority.Low)
}
