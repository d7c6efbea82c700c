package eventbus

import (
	"errors"
	"sync/atomic"
	"time"
)

// defaultMetricsWindow is the sampling window when Config.MetricsWindow
// is 0.
const defaultMetricsWindow = time.Second

// dropCounts are the drop counters, one per reason and priority, so that a
// snapshot derives the totals by reason and by priority from the same
// reads and they always agree. Drops are the exception, so plain shared
// atomics serve.
type dropCounts struct {
	n [numDropReasons][numLevels]atomic.Int64
	// evicted counts, per WaitIdle parity, dropped events that had been
	// queued; WaitIdle counts them as finished.
	evicted [2]atomic.Int64
	// rejected counts dropped events that were never queued, per level. It
	// is counted before the drop's cell, so a snapshot that sees the drop
	// sees it too.
	rejected [numLevels]atomic.Int64
	// unreported counts drops not passed to OnDrop (see maxDropReports).
	unreported atomic.Int64
}

const (
	reasonQueueFull = iota
	reasonShutdown
	reasonContext
	reasonInvalid
	numDropReasons
)

func (d *dropCounts) record(p Priority, reason error) {
	r := reasonContext
	switch {
	case errors.Is(reason, ErrQueueFull):
		r = reasonQueueFull
	case errors.Is(reason, ErrEventBusShutdown):
		r = reasonShutdown
	case errors.Is(reason, ErrInvalidPriority):
		r = reasonInvalid
	}
	d.n[r][p-1].Add(1)
}

func (d *dropCounts) snapshot() (c DropCounts, total int64) {
	var cell [numDropReasons][numLevels]int64
	for r := range d.n {
		for lv := range d.n[r] {
			cell[r][lv] = d.n[r][lv].Load()
			total += cell[r][lv]
		}
	}
	c.ByReason = DropReasons{
		QueueFull:       levelCounts(cell[reasonQueueFull]),
		Shutdown:        levelCounts(cell[reasonShutdown]),
		Context:         levelCounts(cell[reasonContext]),
		InvalidPriority: levelCounts(cell[reasonInvalid]),
	}
	c.QueueFull = c.ByReason.QueueFull.Total()
	c.Shutdown = c.ByReason.Shutdown.Total()
	c.Context = c.ByReason.Context.Total()
	c.InvalidPriority = c.ByReason.InvalidPriority.Total()
	for r := range cell {
		byLevel := levelCounts(cell[r])
		c.ByPriority.Low += byLevel.Low
		c.ByPriority.Medium += byLevel.Medium
		c.ByPriority.High += byLevel.High
	}
	c.Unreported = d.unreported.Load()
	return c, total
}

// levelCounts makes a PriorityCounts of counts indexed by level.
func levelCounts(n [numLevels]int64) PriorityCounts {
	return PriorityCounts{Low: n[0], Medium: n[1], High: n[2]}
}

// loadLevels reads counters indexed by level.
func loadLevels(c *[numLevels]atomic.Int64) (n [numLevels]int64) {
	for i := range c {
		n[i] = c[i].Load()
	}
	return n
}

// Metrics returns a snapshot of the bus's figures. It takes the queue's
// lock for a moment and reads every worker's counters; it may be called at
// any time, also after Shutdown.
func (b *EventBus) Metrics() MetricsSnapshot {
	m := MetricsSnapshot{
		Time:              time.Now(),
		MonitoringEnabled: b.mon != nil,
		QueueCapacity:     b.cfg.QueueSize,
	}
	// Read the later stages first: an event moving along while we read is
	// then counted at an earlier stage, never twice, and pending is never
	// negative. Published is a sum of counts that only grow, read once
	// each, so no snapshot's is below an earlier one's.
	processed := b.pool.tally.processedByLevel()
	unroutedFirst := loadLevels(&b.unrouted)
	for i := range processed {
		processed[i] += unroutedFirst[i]
	}
	drops, dropped := b.drops.snapshot()
	depth, admitted, waiting := b.q.counts()
	rejected := loadLevels(&b.drops.rejected)
	unrouted := loadLevels(&b.unrouted)
	var published [numLevels]int64
	for i := range published {
		published[i] = admitted[i] + rejected[i] + unrouted[i]
	}

	m.EventsProcessedByPriority = levelCounts(processed)
	m.EventsPublishedByPriority = levelCounts(published)
	m.EventsProcessed = m.EventsProcessedByPriority.Total()
	m.EventsDropped = dropped
	m.Drops = drops
	m.EventsPublished = m.EventsPublishedByPriority.Total()
	m.EventsPending = max(m.EventsPublished-m.EventsProcessed-dropped, 0)
	m.HandlerPanics = b.pool.tally.panics()
	b.size.fill(&m)
	if b.wd != nil {
		m.SlowHandlers = b.wd.slow.Load()
		m.WorkersReplaced = b.wd.replaced.Load()
		m.StuckWorkers = int(b.wd.stuck.Load())
	}
	m.PublishersWaiting = waiting
	m.Subscriptions, m.EndedSubscriptions = b.subs.snapshot()
	m.QueueDepth = PriorityCounts{Low: int64(depth[0]), Medium: int64(depth[1]), High: int64(depth[2])}
	if b.mon != nil {
		b.mon.fill(&m)
	}
	return m
}

// GetStats returns the main figures as a map, under the keys of the design
// research (docs/design-research.md): "events_processed", "events_dropped"
// (int64), "avg_processing_time" (time.Duration) and "current_queue_depth"
// (int, the number of events queued now), plus "events_published",
// "handler_panics" and "workers".
func (b *EventBus) GetStats() map[string]interface{} {
	m := b.Metrics()
	return map[string]interface{}{
		"events_published":    m.EventsPublished,
		"events_processed":    m.EventsProcessed,
		"events_dropped":      m.EventsDropped,
		"handler_panics":      m.HandlerPanics,
		"avg_processing_time": m.AvgProcessingTime,
		"current_queue_depth": int(m.QueueDepth.Total()),
		"workers":             m.Workers,
	}
}
