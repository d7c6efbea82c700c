package eventbus

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// publishHeld queues events (given as "L1", "M2", "H3": level and name) on
// a bus whose only worker is held, then releases it and returns the names
// in the order the handler saw them.
func publishHeld(t *testing.T, cfg Config, names ...string) []string {
	t.Helper()
	cfg.Workers = 1
	if cfg.QueueSize == 0 {
		cfg.QueueSize = len(names)
	}
	b := newBus(t, cfg)
	var r recorder
	for _, typ := range []EventType{LogLine, BuildEvent, ProcessExited} {
		b.Subscribe(typ, r.handle)
	}
	release := holdWorker(t, b)
	for _, n := range names {
		b.Publish(Event{ID: n, Type: typeOfLevel(n)})
	}
	release()
	waitIdle(t, b)
	return r.ids()
}

// typeOfLevel maps the level letter of a test event name to an event type
// of that default priority.
func typeOfLevel(name string) EventType {
	switch name[0] {
	case 'H':
		return ProcessExited
	case 'M':
		return BuildEvent
	}
	return LogLine
}

// A worker that selects over three channels picks at random among the
// ready ones; this order can only come out of a real priority queue.
func TestWorkersTakeHigherPriorityFirst(t *testing.T) {
	got := publishHeld(t, Config{EnablePriority: true},
		"L1", "M1", "L2", "H1", "M2", "L3", "H2", "M3", "H3")
	assert.Equal(t, []string{"H1", "H2", "H3", "M1", "M2", "M3", "L1", "L2", "L3"}, got)
}

func TestWithoutPriorityOneFIFO(t *testing.T) {
	names := []string{"L1", "M1", "L2", "H1", "M2", "L3", "H2"}
	got := publishHeld(t, Config{EnablePriority: false}, names...)
	assert.Equal(t, names, got)
}

func TestPrioritiesOverride(t *testing.T) {
	got := publishHeld(t, Config{EnablePriority: true, Priorities: map[EventType]Priority{
		LogLine:       PriorityHigh,
		ProcessExited: PriorityLow,
	}}, "H1", "L1", "M1")
	// H1 is a process.exited, now Low; L1 is a log line, now High.
	assert.Equal(t, []string{"L1", "M1", "H1"}, got)
}

func TestPublishWithBackpressureOverridesThePriority(t *testing.T) {
	b := newBus(t, Config{Workers: 1, QueueSize: 4, EnablePriority: true})
	var r recorder
	b.Subscribe(LogLine, r.handle)
	release := holdWorker(t, b)
	require.NoError(t, b.PublishWithBackpressure(Event{ID: "low", Type: LogLine}, PriorityLow))
	require.NoError(t, b.PublishWithBackpressure(Event{ID: "high", Type: LogLine}, PriorityHigh))
	release()
	waitIdle(t, b)
	assert.Equal(t, []string{"high", "low"}, r.ids())
}

// The starvation bound: with a limit of 4, a waiting Low event is served
// after four High dispatches even though High events keep waiting.
func TestLowerLevelsDoNotStarve(t *testing.T) {
	for _, limit := range []int{1, 4, DefaultStarvationLimit} {
		names := []string{"L1"}
		for i := 0; i < 2*limit+4; i++ {
			names = append(names, "H")
		}
		got := publishHeld(t, Config{EnablePriority: true, StarvationLimit: limit}, names...)
		pos := indexOf(got, "L1")
		assert.Equal(t, limit, pos, "limit %d: %v", limit, got)
	}
}

func TestMediumAndLowBothServedWithinTheBound(t *testing.T) {
	const limit = 3
	names := []string{"L1", "L2", "M1", "M2"}
	for i := 0; i < 20; i++ {
		names = append(names, "H")
	}
	got := publishHeld(t, Config{EnablePriority: true, StarvationLimit: limit}, names...)
	// Each waiting level gets a turn after at most limit dispatches of
	// higher levels: the run of H before every M and L is at most limit.
	run := 0
	for _, n := range got {
		if n == "H" {
			run++
			continue
		}
		assert.LessOrEqual(t, run, limit, "order %s", strings.Join(got, " "))
		run = 0
	}
	assert.Less(t, indexOf(got, "L2"), len(got)-1, "Low events are served while High ones still wait")
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// With several workers, the first worker to come free takes the High
// event, however many Low events were queued before it. Low handlers wait
// for the High one, so if a worker took a Low event first, every worker
// would end up waiting and the High event would never run.
func TestHighEventsOvertakeAFloodOfLowOnes(t *testing.T) {
	const workers = 4
	b := newBus(t, Config{Workers: workers, QueueSize: 1000, EnablePriority: true, ReservedWorkers: -1})
	var lowSeen atomic.Int64
	highAt := make(chan int64, 1)
	highDone := make(chan struct{})
	b.Subscribe(LogLine, func(Event) { lowSeen.Add(1); <-highDone })
	b.Subscribe(ProcessExited, func(Event) { highAt <- lowSeen.Load(); close(highDone) })
	var releases []func()
	for i := 0; i < workers; i++ {
		releases = append(releases, holdWorker(t, b))
	}
	for i := 0; i < 900; i++ {
		b.Publish(Event{Type: LogLine})
	}
	b.Publish(Event{Type: ProcessExited})
	for _, release := range releases {
		release()
	}
	// The other workers may each have started a Low event by the time the
	// High handler looks, never more.
	assert.LessOrEqual(t, receive(t, highAt), int64(workers-1))
	waitIdle(t, b)
}

// The starvation bound counts events, not batches: after StarvationLimit
// higher-level events, exactly one event of the waiting level runs, even
// while handlers are fast enough for workers to take events in batches.
func TestStarvationTurnIsOneEvent(t *testing.T) {
	for _, limit := range []int{1, 4, DefaultStarvationLimit} {
		var names []string
		for i := 0; i < 200; i++ {
			names = append(names, "H")
		}
		for i := 0; i < 200; i++ {
			names = append(names, "L")
		}
		got := publishHeld(t, Config{EnablePriority: true, StarvationLimit: limit, QueueSize: 400}, names...)
		lastHigh := 0
		for i, n := range got {
			if n == "H" {
				lastHigh = i
			}
		}
		// Before the last High event, Low gets one turn per limit High
		// events: 200/limit of them, rounded up.
		lowBefore := lastHigh + 1 - 200
		assert.LessOrEqual(t, lowBefore, (200+limit-1)/limit, "limit %d", limit)
		// And every run of High events between two Low ones is exactly
		// the limit while both levels wait.
		run := 0
		for _, n := range got[:lastHigh] {
			if n == "H" {
				run++
				continue
			}
			assert.Equal(t, limit, run, "limit %d: a run of High events between Low turns", limit)
			run = 0
		}
	}
}
