package loadgen

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// A generator must leave no publisher or ticker running after Run.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is a Publish that keeps every event it is given.
type recorder struct {
	mu     sync.Mutex
	events []eventbus.Event
}

func (r *recorder) publish(_ context.Context, ev eventbus.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *recorder) byType() map[eventbus.EventType]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := map[eventbus.EventType]int{}
	for _, ev := range r.events {
		n[ev.Type]++
	}
	return n
}

func TestLevelFollowsDefaultPriority(t *testing.T) {
	assert.Equal(t, 0, Level(eventbus.LogLine))
	assert.Equal(t, 1, Level(eventbus.BuildEvent))
	assert.Equal(t, 2, Level(eventbus.ProcessExited))
	assert.Equal(t, 1, Level("some.other"), "an unknown type is medium")
}

func TestBurstSendsEveryEventInTheTableMix(t *testing.T) {
	var rec recorder
	b := Burst{Events: 400, Publishers: 50, Type: TableMix}
	g := New(b, rec.publish, false)
	require.Equal(t, 50, g.Publishers())
	tot := g.Run(context.Background(), nil)

	assert.EqualValues(t, 400, tot.All())
	assert.EqualValues(t, 400, g.Published())
	assert.Equal(t, [Levels]int64{380, 16, 4}, tot.Published, "of every 100: 95 low, 4 medium, 1 high")
	assert.Equal(t, map[eventbus.EventType]int{eventbus.LogLine: 380, eventbus.BuildEvent: 16, eventbus.ProcessExited: 4}, rec.byType())
	procs := map[string]int{}
	for _, ev := range rec.events {
		procs[ev.ProcessID]++
		assert.True(t, ev.Timestamp.IsZero(), "an untimed generator leaves Timestamp to the bus")
	}
	assert.Len(t, procs, 50)
	assert.Equal(t, 8, procs["proc-1"])
	assert.Equal(t, 8, procs["proc-50"])
	assert.Zero(t, tot.Busy, "untimed")
	assert.Positive(t, tot.Took)
}

func TestBurstHasNoMorePublishersThanEvents(t *testing.T) {
	var rec recorder
	g := New(Burst{Events: 3, Publishers: 500, Type: Only(eventbus.LogLine)}, rec.publish, false)
	assert.Equal(t, 3, g.Publishers())
	assert.EqualValues(t, 3, g.Run(context.Background(), nil).Published[Level(eventbus.LogLine)])
}

func TestScaledBurstKeepsAtLeastOneEvent(t *testing.T) {
	assert.Equal(t, 10, LoadTable[0].Scaled(0.01).Events)
	assert.Equal(t, 1, LoadTable[0].Scaled(1e-9).Events)
	assert.Equal(t, "small", LoadTable[0].Scaled(2).Name)
}

// A burst stops publishing as soon as its context is done.
func TestBurstStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n atomic.Int64
	publish := func(context.Context, eventbus.Event) {
		if n.Add(1) == 25 {
			cancel()
		}
	}
	tot := New(Burst{Events: 1_000_000, Publishers: 1, Type: TableMix}, publish, false).Run(ctx, nil)
	assert.EqualValues(t, 25, tot.All(), "one publisher checks before every event")
}

func TestTimedGeneratorStampsAndTimesEachCall(t *testing.T) {
	var rec recorder
	slow := func(ctx context.Context, ev eventbus.Event) {
		rec.publish(ctx, ev)
		if ev.Type == eventbus.ProcessExited {
			time.Sleep(2 * SlowPublish) // a bus that holds this publisher up
		}
	}
	before := time.Now()
	tot := New(Burst{Events: 100, Publishers: 1, Type: TableMix}, slow, true).Run(context.Background(), nil)
	for _, ev := range rec.events {
		assert.False(t, ev.Timestamp.Before(before), "stamped just before its call")
	}
	// The one call made slow is counted; another may be too, when the
	// machine holds up an ordinary call (as it did once under -race in
	// CI), but not most of them.
	assert.GreaterOrEqual(t, tot.Slow, int64(1), "the call over SlowPublish")
	assert.Less(t, tot.Slow, int64(50), "ordinary calls are not counted slow")
	assert.GreaterOrEqual(t, tot.Longest, 2*SlowPublish)
	assert.GreaterOrEqual(t, tot.Busy, tot.Longest)
	assert.Equal(t, tot.Busy/100, tot.MeanCost())
	assert.False(t, tot.Started.Before(before))
}

// ready runs when every publisher exists and none has published yet.
func TestRunCallsReadyBeforeTheGateOpens(t *testing.T) {
	var rec recorder
	g := New(Burst{Events: 100, Publishers: 10, Type: TableMix}, rec.publish, false)
	called := false
	g.Run(context.Background(), func() {
		called = true
		assert.Zero(t, g.Published())
	})
	assert.True(t, called)
}

func TestFloodMixesItsSourcesForItsDuration(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "run")
	var rec recorder
	var foreign atomic.Int64
	publish := func(c context.Context, ev eventbus.Event) {
		if c != ctx {
			foreign.Add(1)
		}
		rec.publish(c, ev)
	}
	f := Flood{Duration: 200 * time.Millisecond, LogRate: 4000}
	g := New(f, publish, true)
	assert.Equal(t, FloodProcesses+3, g.Publishers(), "the log processes, and the process, error and build sources")
	start := time.Now()
	tot := g.Run(ctx, nil)
	assert.GreaterOrEqual(t, time.Since(start), f.Duration)
	assert.Zero(t, foreign.Load(), "Publish gets Run's context, not the flood's timer")

	n := rec.byType()
	// Tickers skip ticks when late but never tick early, so each count has
	// an upper bound; the log lines catch up on late ticks, so that only a
	// goroutine starved for most of the flood falls far short.
	assert.LessOrEqual(t, n[eventbus.LogLine], 800)
	assert.Greater(t, n[eventbus.LogLine], 200)
	assert.LessOrEqual(t, n[eventbus.ProcessStarted]+n[eventbus.ProcessExited], 40)
	assert.Positive(t, n[eventbus.ProcessExited])
	assert.GreaterOrEqual(t, n[eventbus.ProcessStarted], n[eventbus.ProcessExited], "started, then exited")
	assert.LessOrEqual(t, n[eventbus.ErrorDetected], 4)
	assert.Positive(t, n[eventbus.ErrorDetected])
	assert.LessOrEqual(t, n[eventbus.BuildEvent], 8)
	assert.Positive(t, n[eventbus.BuildEvent])
	assert.EqualValues(t, n[eventbus.LogLine], tot.Published[Level(eventbus.LogLine)])
	assert.EqualValues(t, n[eventbus.BuildEvent], tot.Published[Level(eventbus.BuildEvent)])
	for _, ty := range FloodTypes {
		delete(n, ty)
	}
	assert.Empty(t, n, "FloodTypes lists every type a flood publishes")
}

func TestFloodStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n atomic.Int64
	publish := func(context.Context, eventbus.Event) {
		if n.Add(1) == 50 {
			cancel()
		}
	}
	start := time.Now()
	tot := New(Flood{Duration: time.Minute, LogRate: 10000}, publish, false).Run(ctx, nil)
	assert.Less(t, time.Since(start), 10*time.Second, "it stops long before its minute")
	assert.GreaterOrEqual(t, tot.All(), int64(50))
}
