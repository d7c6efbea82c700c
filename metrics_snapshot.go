package eventbus

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// MetricsSnapshot is a copy of the bus's figures at one moment. It shares
// nothing with the bus: a caller may keep it and read it at leisure.
//
// The counts are always kept. Published, processed and dropped obey
// EventsPublished == EventsProcessed + EventsDropped + EventsPending, and
// EventsPending is 0 whenever the bus is quiet (nothing queued or running).
// The timing figures (AvgProcessingTime, Wait, WorkerUtilization,
// QueueDepthHistory) are only recorded with Config.MonitoringEnabled; without
// it they are zero and MonitoringEnabled is false.
type MetricsSnapshot struct {
	Time              time.Time `json:"time"`
	MonitoringEnabled bool      `json:"monitoring_enabled"`
	// Workers is the pool's size now: the workers that take events (a
	// dynamic pool's current size; a stuck worker that was replaced no
	// longer counts).
	Workers int `json:"workers"`
	// ScaleUps and ScaleDowns count the changes of the pool's size, by the
	// autoscaler of a dynamic pool or by Resize; Resizes lists the latest ones,
	// the oldest first.
	ScaleUps      int64         `json:"scale_ups"`
	ScaleDowns    int64         `json:"scale_downs"`
	Resizes       []ResizeEvent `json:"resizes"`
	QueueCapacity int           `json:"queue_capacity"`

	// EventsPublished counts every event handed to a publish call, once
	// the call has queued, refused or dropped it: a publisher still
	// waiting for room is counted in PublishersWaiting until then.
	EventsPublished int64 `json:"events_published"`
	// EventsProcessed counts events whose deliveries have all finished:
	// handled, or dropped, coalesced or skipped by their subscriptions (an
	// event that no subscription takes counts when published).
	EventsProcessed int64 `json:"events_processed"`
	// EventsDropped counts events dropped for any reason; Drops says why.
	EventsDropped int64 `json:"events_dropped"`
	// EventsPending counts events queued or being handled.
	EventsPending int64 `json:"events_pending"`
	// EventsPublishedByPriority and EventsProcessedByPriority break the
	// counts above down by the priority each event was published with
	// (Drops.ByPriority does the same for EventsDropped).
	EventsPublishedByPriority PriorityCounts `json:"events_published_by_priority"`
	EventsProcessedByPriority PriorityCounts `json:"events_processed_by_priority"`
	// PublishersWaiting is the number of publish calls waiting for room
	// in a full queue now (under Block, or within TimeoutDuration).
	PublishersWaiting int `json:"publishers_waiting"`
	// HandlerPanics counts handler calls that panicked or called
	// runtime.Goexit, and filter or coalescing key functions that panicked.
	HandlerPanics int64 `json:"handler_panics"`

	Drops DropCounts `json:"drops"`

	// SlowHandlers counts the handler calls the watchdog reported as
	// running longer than Config.HandlerTimeout; WorkersReplaced counts the
	// workers it started in place of stuck ones, and StuckWorkers is the
	// number of those stuck workers that have not left yet: their handler
	// has not returned, or they are finishing the deliveries they had
	// taken (see Config.ReplaceStuckWorkers).
	SlowHandlers    int64 `json:"slow_handlers"`
	WorkersReplaced int64 `json:"workers_replaced"`
	StuckWorkers    int   `json:"stuck_workers"`

	// QueueDepth is the number of events queued now, per priority, in the
	// priority queues: events waiting for their ordering key and
	// deliveries set aside by Block buffers take room in the queue too
	// (see Config.QueueSize) but are not in it.
	QueueDepth PriorityCounts `json:"queue_depth"`

	// AvgProcessingTime is the moving average of the time a handler call
	// takes: each worker keeps an exponential moving average with alpha 0.1
	// over its calls, and this is the mean of the workers' averages. When a
	// worker runs several fast calls back to back, each counts with their
	// mean time.
	AvgProcessingTime time.Duration `json:"avg_processing_time_ns"`
	// Wait is the time from publish until a worker takes the event, per
	// priority, over the bus's whole life; WaitSince gives it for the
	// interval between two snapshots. (A worker takes several events at
	// once only while handlers are fast; see the package documentation.)
	Wait PriorityWaits `json:"wait"`
	// WorkerUtilization is, per worker, the share of the last sampling
	// window (Config.MetricsWindow) it spent running handlers, 0 to 1. A
	// call still running counts up to the window's end, so a worker held
	// by a stuck handler reads 1. Before the first window closes it covers
	// the time since the bus started; once the bus has shut down and its
	// workers have exited, it is 0.
	WorkerUtilization []float64 `json:"worker_utilization"`
	// QueueDepthHistory holds the queue depth sampled once per window, the
	// oldest first, at most MetricsHistory samples.
	QueueDepthHistory []DepthSample `json:"queue_depth_history"`

	// Subscriptions holds the figures of every subscription that has not
	// ended, sorted by name (see SubscriptionStats).
	Subscriptions []SubscriptionStats `json:"subscriptions"`
	// EndedSubscriptions holds, per name, the totals of the subscriptions
	// that have ended, sorted by name: with Subscriptions, the per-name
	// counts never go backwards as subscriptions come and go. An ended
	// subscription's deliveries still running or waiting to be skipped
	// show as Pending here until they finish.
	EndedSubscriptions []SubscriptionStats `json:"ended_subscriptions"`

	waits waitTotals // the histograms behind Wait, for WaitSince
}

// PriorityCounts is a count per priority level.
type PriorityCounts struct {
	Low    int64 `json:"low"`
	Medium int64 `json:"medium"`
	High   int64 `json:"high"`
}

// Total returns Low + Medium + High.
func (c PriorityCounts) Total() int64 { return c.Low + c.Medium + c.High }

// DropCounts says why and at which priority events were dropped. The
// reasons add up to MetricsSnapshot.EventsDropped, and so do the
// priorities.
type DropCounts struct {
	QueueFull       int64          `json:"queue_full"`
	Shutdown        int64          `json:"shutdown"`
	Context         int64          `json:"context"`
	InvalidPriority int64          `json:"invalid_priority"`
	ByPriority      PriorityCounts `json:"by_priority"`
	// ByReason breaks each reason down by priority.
	ByReason DropReasons `json:"by_reason"`
	// Unreported counts the drops that were not passed to Config.OnDrop
	// because too many OnDrop calls were in progress at once, as when an
	// OnDrop publishes and its publish is dropped in turn (see
	// Config.OnDrop). They are counted above like any other drop.
	Unreported int64 `json:"unreported"`
}

// DropReasons holds a count per priority for each reason of a drop.
type DropReasons struct {
	QueueFull       PriorityCounts `json:"queue_full"`
	Shutdown        PriorityCounts `json:"shutdown"`
	Context         PriorityCounts `json:"context"`
	InvalidPriority PriorityCounts `json:"invalid_priority"`
}

// PriorityWaits holds the wait figures of each priority level.
type PriorityWaits struct {
	Low    WaitStats `json:"low"`
	Medium WaitStats `json:"medium"`
	High   WaitStats `json:"high"`
}

// WaitStats summarises the waits from publish to handler start of the
// events a level has had since the bus started. The percentiles come from
// a histogram whose buckets double in width from 1µs, so each is an upper
// bound at most twice the true value (and exact to the bucket).
type WaitStats struct {
	Count int64         `json:"count"`
	P50   time.Duration `json:"p50_ns"`
	P95   time.Duration `json:"p95_ns"`
	P99   time.Duration `json:"p99_ns"`
	Max   time.Duration `json:"max_ns"`
	// Sum is the total of the waits, so that Sum/Count is their mean.
	Sum time.Duration `json:"sum_ns"`
	// Buckets is the histogram itself, for exporters: Buckets[i] counts
	// the waits below WaitBucketBounds()[i] and at or above the bound
	// before it; the last bucket counts the waits beyond the last bound.
	// nil while Count is 0.
	Buckets []int64 `json:"buckets,omitempty"`
}

// WaitBucketBounds returns the upper bounds of the wait histograms'
// buckets (WaitStats.Buckets), in increasing order: 1.024µs doubling up to
// about 69 s. The slice is a new copy on each call.
func WaitBucketBounds() []time.Duration {
	b := make([]time.Duration, waitBuckets-1)
	for i := range b {
		b[i] = time.Duration(bucketUpper(i))
	}
	return b
}

// DepthSample is the queue depth per priority at one moment.
type DepthSample struct {
	Time  time.Time      `json:"time"`
	Depth PriorityCounts `json:"depth"`
}

// MetricsHistory is the number of samples QueueDepthHistory keeps.
const MetricsHistory = 60

// WaitSince returns the wait figures of the events that workers took
// between prev and s, two snapshots of the same bus with prev taken first:
// the latency of that interval alone, where Wait covers the bus's whole
// life. Sampling Metrics every few seconds and calling WaitSince on the
// last two gives a moving view. Count and the percentiles are as precise
// as Wait's; Max is an upper bound (the end of the interval's highest
// bucket, capped by Wait's Max). Counts that went down, as when prev comes
// from another bus or was taken after s, count as zero. With monitoring
// off both snapshots hold no waits, and the result is all zeros.
func (s MetricsSnapshot) WaitSince(prev MetricsSnapshot) PriorityWaits {
	return s.waits.since(&prev.waits).stats()
}

// String formats the snapshot as one line for a log, for example:
//
//	published=1200 processed=1150 dropped=50 (full=50) pending=0 panics=0 queue(low/med/high)=0/0/0 of 50 wait.high.p99=1.02ms avg=210µs util=0.97
//
// The timing figures appear only with monitoring on.
func (m MetricsSnapshot) String() string {
	var s strings.Builder
	field := func(name string, v int64) {
		if s.Len() > 0 {
			s.WriteByte(' ')
		}
		s.WriteString(name)
		s.WriteByte('=')
		s.WriteString(strconv.FormatInt(v, 10))
	}
	field("published", m.EventsPublished)
	field("processed", m.EventsProcessed)
	field("dropped", m.EventsDropped)
	if m.EventsDropped > 0 {
		var why []string
		for _, r := range []struct {
			name string
			n    int64
		}{{"full", m.Drops.QueueFull}, {"shutdown", m.Drops.Shutdown}, {"context", m.Drops.Context}, {"invalid", m.Drops.InvalidPriority}} {
			if r.n > 0 {
				why = append(why, r.name+"="+strconv.FormatInt(r.n, 10))
			}
		}
		s.WriteString(" (" + strings.Join(why, " ") + ")")
	}
	field("pending", m.EventsPending)
	field("panics", m.HandlerPanics)
	if m.SlowHandlers > 0 {
		field("slow", m.SlowHandlers)
		field("stuck", int64(m.StuckWorkers))
	}
	if m.PublishersWaiting > 0 {
		field("waiting", int64(m.PublishersWaiting))
	}
	s.WriteString(" queue(low/med/high)=" + strconv.FormatInt(m.QueueDepth.Low, 10) + "/" +
		strconv.FormatInt(m.QueueDepth.Medium, 10) + "/" + strconv.FormatInt(m.QueueDepth.High, 10) +
		" of " + strconv.Itoa(m.QueueCapacity))
	if !m.MonitoringEnabled {
		s.WriteString(" monitoring=off")
		return s.String()
	}
	for _, w := range []struct {
		name string
		st   WaitStats
	}{{"high", m.Wait.High}, {"medium", m.Wait.Medium}, {"low", m.Wait.Low}} {
		if w.st.Count > 0 {
			s.WriteString(" wait." + w.name + ".p99=" + roundDuration(w.st.P99).String())
		}
	}
	s.WriteString(" avg=" + roundDuration(m.AvgProcessingTime).String())
	var util float64
	for _, u := range m.WorkerUtilization {
		util += u
	}
	if n := len(m.WorkerUtilization); n > 0 {
		s.WriteString(" util=" + strconv.FormatFloat(util/float64(n), 'f', 2, 64))
	}
	return s.String()
}

// roundDuration keeps three significant digits, enough for a log line.
func roundDuration(d time.Duration) time.Duration {
	for unit := time.Duration(1); unit < time.Hour; unit *= 10 {
		if d < 1000*unit {
			return d.Round(unit)
		}
	}
	return d.Round(time.Second)
}

// SubscriptionTotals returns, per subscription name, the figures of the
// active subscriptions of that name and the totals of the ended ones,
// summed, sorted by name: counts that never go backwards as subscriptions
// come and go, for exporters that keep one series per name. Subscriptions
// without a name are summed under "". Types and Wait are not summed.
func (m MetricsSnapshot) SubscriptionTotals() []SubscriptionStats {
	byName := make(map[string]*SubscriptionStats)
	var names []string
	for _, list := range [][]SubscriptionStats{m.Subscriptions, m.EndedSubscriptions} {
		for i := range list {
			st := &list[i]
			tot := byName[st.Name]
			if tot == nil {
				tot = &SubscriptionStats{Name: st.Name}
				byName[st.Name] = tot
				names = append(names, st.Name)
			}
			tot.add(st)
		}
	}
	slices.Sort(names)
	out := make([]SubscriptionStats, len(names))
	for i, n := range names {
		out[i] = *byName[n]
	}
	return out
}
