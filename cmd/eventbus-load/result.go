package main

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/brummer-dev/eventbus/internal/loadgen"
)

// result is what one run measured.
type result struct {
	Scenario   string        `json:"scenario"`
	Bus        string        `json:"bus"` // "eventbus" or "naive"
	Workers    int           `json:"workers,omitempty"`
	Queue      int           `json:"queue,omitempty"`
	Policy     string        `json:"policy,omitempty"`
	Priority   bool          `json:"priority"`
	Publishers int           `json:"publishers"`
	Planned    int           `json:"planned_events,omitempty"` // load table
	Duration   time.Duration `json:"flood_duration_ns,omitempty"`
	LogRate    float64       `json:"flood_log_rate,omitempty"` // log lines/s offered

	Elapsed     time.Duration `json:"elapsed_ns"`    // first publish to idle
	PublishTime time.Duration `json:"publishing_ns"` // first publish to last
	Interrupted bool          `json:"interrupted"`

	Published    int64   `json:"published"`
	Delivered    int64   `json:"delivered"`
	Dropped      int64   `json:"dropped"`
	EventsPerSec float64 `json:"events_per_sec"`  // delivered per second of Elapsed
	OfferedPerS  float64 `json:"offered_per_sec"` // published per second of PublishTime

	PublishMean time.Duration `json:"publish_mean_ns"` // mean time of a Publish call
	PublishMax  time.Duration `json:"publish_max_ns"`

	Drops   eventbus.DropCounts         `json:"drops"`
	Levels  [loadgen.Levels]levelResult `json:"-"`
	ByLevel map[string]levelResult      `json:"priorities"`
	Metrics *eventbus.MetricsSnapshot   `json:"bus_metrics,omitempty"`
	TUI     *tuiResult                  `json:"tui,omitempty"` // the tui scenario's view

	PeakGoroutines int    `json:"peak_goroutines"` // started by the run, at most at once
	BaseGoroutines int    `json:"base_goroutines"` // the tool's own, before the run
	PeakHeap       uint64 `json:"peak_heap_bytes"` // live heap at most, absolute
	BaseHeap       uint64 `json:"base_heap_bytes"` // live heap at the start, after a GC

	Checks []check `json:"checks"`
	Err    string  `json:"error,omitempty"`
}

// levelResult are the figures of one priority level.
type levelResult struct {
	Published int64              `json:"published"`
	Delivered int64              `json:"delivered"`
	Dropped   int64              `json:"dropped"`
	Wait      waitFigures        `json:"wait"`
	BusWait   eventbus.WaitStats `json:"bus_wait"` // Metrics().Wait of the bus level; zero for naive
}

// waitFigures are the waits of one level measured by the tool's handler,
// from Event.Timestamp (set just before Publish) to the handler's start.
type waitFigures struct {
	Count int64         `json:"count"`
	P50   time.Duration `json:"p50_ns"`
	P99   time.Duration `json:"p99_ns"`
	Max   time.Duration `json:"max_ns"`
}

// check is one accounting check.
type check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// ok reports whether every check passed.
func (r *result) ok() bool {
	if r.Err != "" {
		return false
	}
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// heapGrowth is how far the live heap rose above its size at the start of
// the run (after a collection): what the run cost, without what earlier
// runs left behind (the runtime keeps a goroutine's descriptor for reuse
// after it exits, so a run that started 50,000 goroutines raises the heap
// of every later one).
func (r *result) heapGrowth() uint64 {
	if r.PeakHeap < r.BaseHeap {
		return 0
	}
	return r.PeakHeap - r.BaseHeap
}

// accountingChecks checks that every published event was delivered or
// dropped, by the tool's own counts per level and by the bus's.
func accountingChecks(r *result) []check {
	var checks []check
	own := check{Name: "published = delivered + dropped", OK: true}
	for l := levelHigh; l >= levelLow; l-- {
		lr := r.Levels[l]
		own.OK = own.OK && lr.Published == lr.Delivered+lr.Dropped
		if own.Detail != "" {
			own.Detail += ", "
		}
		own.Detail += fmt.Sprintf("%s %d = %d + %d", levelNames[l], lr.Published, lr.Delivered, lr.Dropped)
	}
	checks = append(checks, own)
	if m := r.Metrics; m != nil {
		checks = append(checks, check{
			Name: "bus: published = processed + dropped",
			OK: m.EventsPublished == m.EventsProcessed+m.EventsDropped && m.EventsPending == 0 &&
				m.EventsPublished == r.Published && m.EventsProcessed == r.Delivered && m.EventsDropped == r.Dropped,
			Detail: fmt.Sprintf("%d = %d + %d, pending %d (tool: %d = %d + %d)",
				m.EventsPublished, m.EventsProcessed, m.EventsDropped, m.EventsPending, r.Published, r.Delivered, r.Dropped),
		})
	}
	return checks
}

// waitsOf sorts d and returns its figures (nearest rank).
func waitsOf(d []time.Duration) waitFigures {
	if len(d) == 0 {
		return waitFigures{}
	}
	slices.Sort(d)
	return waitFigures{Count: int64(len(d)), P50: quantile(d, 0.50), P99: quantile(d, 0.99), Max: d[len(d)-1]}
}

// quantile returns the nearest-rank q-quantile of sorted samples.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
