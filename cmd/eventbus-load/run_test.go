package main

import (
	"context"
	"testing"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/brummer-dev/eventbus/internal/loadgen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testSpec is a run of scenario name with a short handler.
func testSpec(t *testing.T, name string, cfg eventbus.Config) runSpec {
	t.Helper()
	prof, err := parseProfile("io:100us@3,cpu:10us@1")
	require.NoError(t, err)
	prof.calibrate()
	s := runSpec{scenario: name, cfg: cfg, prof: prof, load: loadgen.Flood{Duration: 150 * time.Millisecond, LogRate: 4000}}
	if b, ok := tableBurst(name); ok {
		b.Events = 400
		s.load = b
	}
	return s
}

func smallConfig(workers, queue int, policy eventbus.DropPolicy) eventbus.Config {
	cfg := eventbus.DefaultConfig()
	cfg.Workers, cfg.QueueSize, cfg.BackpressureMode = workers, queue, policy
	return cfg
}

// requireAccounted checks the counts of a result add up, level by level and
// with the bus's.
func requireAccounted(t *testing.T, r *result) {
	t.Helper()
	require.Empty(t, r.Err)
	require.NotEmpty(t, r.Checks)
	for _, c := range r.Checks {
		require.True(t, c.OK, "%s: %s", c.Name, c.Detail)
	}
	var pub, del, drop int64
	for c := range loadgen.Levels {
		cr := r.Levels[c]
		assert.Equal(t, cr.Published, cr.Delivered+cr.Dropped, levelNames[c])
		assert.Equal(t, cr.Delivered, cr.Wait.Count, "one wait per delivered event")
		assert.Equal(t, cr, r.ByLevel[levelNames[c]])
		pub, del, drop = pub+cr.Published, del+cr.Delivered, drop+cr.Dropped
	}
	assert.Equal(t, r.Published, pub)
	assert.Equal(t, r.Delivered, del)
	assert.Equal(t, r.Dropped, drop)
}

func TestLoadTableRunUnderBlockDeliversEverything(t *testing.T) {
	r := runOne(context.Background(), testSpec(t, "medium", smallConfig(4, 20, eventbus.Block)), nil)
	requireAccounted(t, r)
	assert.Equal(t, "medium", r.Scenario)
	assert.Equal(t, "eventbus", r.Bus)
	assert.Equal(t, 4, r.Workers)
	assert.Equal(t, 20, r.Queue)
	assert.Equal(t, "block", r.Policy)
	assert.Equal(t, 400, r.Planned)
	assert.Equal(t, 50, r.Publishers)
	assert.EqualValues(t, 400, r.Published)
	assert.EqualValues(t, 400, r.Delivered)
	assert.Zero(t, r.Dropped)
	// The mix: of every 100 events 1 high, 4 medium, 95 low.
	assert.EqualValues(t, 4, r.Levels[levelHigh].Published)
	assert.EqualValues(t, 16, r.Levels[1].Published)
	assert.EqualValues(t, 380, r.Levels[levelLow].Published)

	assert.Positive(t, r.EventsPerSec)
	assert.Positive(t, r.OfferedPerS)
	assert.Positive(t, r.Elapsed)
	assert.Positive(t, r.PublishMean)
	assert.GreaterOrEqual(t, r.PublishMax, r.PublishMean)
	assert.GreaterOrEqual(t, r.PeakGoroutines, 50+4, "the publishers and the workers at least")
	assert.Positive(t, r.BaseGoroutines)
	assert.Positive(t, r.PeakHeap)
	assert.False(t, r.Interrupted)
	for c := range loadgen.Levels {
		w := r.Levels[c].Wait
		assert.LessOrEqual(t, w.P50, w.P99, levelNames[c])
		assert.LessOrEqual(t, w.P99, w.Max, levelNames[c])
		assert.Equal(t, r.Levels[c].Delivered, r.Levels[c].BusWait.Count, "Metrics().Wait saw every delivered event")
	}
	require.NotNil(t, r.Metrics)
	assert.EqualValues(t, 400, r.Metrics.EventsProcessed)
}

func TestLoadTableRunUnderDropPolicyCountsDrops(t *testing.T) {
	spec := testSpec(t, "burst", smallConfig(1, 5, eventbus.DropLowPri))
	spec.prof, _ = parseProfile("io:500us")
	r := runOne(context.Background(), spec, nil)
	requireAccounted(t, r)
	assert.EqualValues(t, 400, r.Published)
	assert.Positive(t, r.Dropped, "a burst of 400 into a queue of 5")
	assert.Equal(t, r.Dropped, r.Drops.QueueFull, "dropped by the policy, nothing else")
	assert.Equal(t, r.Dropped, r.Metrics.Drops.ByPriority.Total())
	assert.Equal(t, r.Levels[levelLow].Dropped, r.Drops.ByPriority.Low)
}

func TestNaiveRunDeliversEverything(t *testing.T) {
	spec := testSpec(t, "small", eventbus.Config{})
	spec.naive = true
	r := runOne(context.Background(), spec, nil)
	requireAccounted(t, r)
	assert.Equal(t, "naive", r.Bus)
	assert.Zero(t, r.Workers)
	assert.Nil(t, r.Metrics)
	assert.EqualValues(t, 400, r.Delivered)
	assert.Zero(t, r.Dropped)
	assert.Positive(t, r.PeakGoroutines)
}

func TestFloodRun(t *testing.T) {
	for _, naive := range []bool{false, true} {
		spec := testSpec(t, "flood", smallConfig(2, 10, eventbus.DropLowPri))
		spec.naive = naive
		var live *liveRun
		r := runOne(context.Background(), spec, func(l *liveRun) { live = l })
		requireAccounted(t, r)
		require.NotNil(t, live, "the progress source was handed out")
		assert.Contains(t, live.status(), "published")
		assert.Equal(t, loadgen.FloodProcesses+3, r.Publishers)
		assert.Equal(t, 150*time.Millisecond, r.Duration)
		assert.Positive(t, r.Levels[levelHigh].Published, "process and error events")
		assert.Positive(t, r.Levels[1].Published, "build events")
		assert.Positive(t, r.Levels[levelLow].Published, "log lines")
		assert.GreaterOrEqual(t, r.Elapsed, 150*time.Millisecond)
		assert.Zero(t, r.Planned)
	}
}

func TestInterruptedRunStillAddsUp(t *testing.T) {
	// The interrupt comes while the flood runs; under Block with a queue of
	// one, publishers are also waiting for room when it comes.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	spec := testSpec(t, "flood", smallConfig(1, 1, eventbus.Block))
	spec.load = loadgen.Flood{Duration: time.Minute, LogRate: 20000}
	r := runOne(ctx, spec, nil)
	requireAccounted(t, r)
	assert.True(t, r.Interrupted)
	assert.Positive(t, r.Published)
	assert.Positive(t, r.Delivered)
	assert.Less(t, r.Elapsed, 10*time.Second)
}

func TestRecommendation(t *testing.T) {
	pt := func(workers int, eps float64, highP99 time.Duration) *result {
		r := &result{Workers: workers, EventsPerSec: eps, Checks: []check{{OK: true}}}
		r.Levels[levelHigh].Wait = waitFigures{Count: 10, P50: highP99 / 2, P99: highP99, Max: highP99}
		return r
	}
	sw := &sweepResult{Budget: 10 * time.Millisecond, Points: []*result{
		pt(1, 1000, 2*time.Millisecond), pt(2, 2000, time.Millisecond), pt(4, 9600, 20*time.Millisecond),
		pt(8, 9700, 5*time.Millisecond), pt(16, 10000, time.Millisecond),
	}}
	sw.recommend()
	assert.Equal(t, 10000.0, sw.BestEventsPerSec)
	assert.Equal(t, 16, sw.BestWorkers)
	assert.Equal(t, 8, sw.Rec.Workers, "4 is fast enough but over budget")
	assert.True(t, sw.Rec.WithinBudget)
	assert.Contains(t, sw.Rec.Reason, "95%")

	sw.Budget = 500 * time.Microsecond
	sw.recommend()
	assert.Equal(t, 16, sw.Rec.Workers, "none keeps the budget: the lowest p99 of the fast ones")
	assert.False(t, sw.Rec.WithinBudget)

	sw.Points[4].Interrupted = true
	sw.Budget = 10 * time.Millisecond
	sw.recommend()
	assert.Equal(t, 9700.0, sw.BestEventsPerSec, "a point cut short does not count")
	assert.Equal(t, 8, sw.Rec.Workers)

	empty := &sweepResult{}
	empty.recommend()
	assert.Zero(t, empty.Rec.Workers)
}
