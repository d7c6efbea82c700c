package bench

import (
	"fmt"
	"time"

	"github.com/brummer-dev/eventbus"
)

// Config holds the sizes of the scenarios. DefaultConfig gives the ones
// the README describes; the program and the benchmarks take flags for
// them.
type Config struct {
	// Workers and QueueSize size the pooled peers (and are what the
	// library's DefaultConfig picks): CalculateOptimalWorkers() and ten
	// events per worker.
	Workers   int
	QueueSize int

	// Handler is how long the blocking handlers sleep (I/O-bound, flood,
	// burst).
	Handler time.Duration

	ThroughputEvents     int
	ThroughputPublishers int

	// The fan-out scenario publishes FanOutEvents events from
	// ThroughputPublishers publishers to FanOutHandlers no-op handlers of
	// the same type.
	FanOutEvents   int
	FanOutHandlers int

	PublishEvents int

	IOEvents     int
	IOPublishers int

	// The flood is loadgen's, for FloodDuration, with log lines at
	// FloodFactor times the pool's capacity (Workers / Handler events per
	// second). Then the bus has FloodDrain to finish.
	FloodDuration time.Duration
	FloodFactor   float64
	FloodDrain    time.Duration

	// The burst publishes BurstEvents log lines (BurstEventsUnbounded for
	// the implementations that start a goroutine per event, when not 0)
	// from BurstPublishers goroutines as fast as they can, for
	// BurstWindow at most; then the bus is closed with ShutdownDeadline.
	BurstEvents          int
	BurstEventsUnbounded int
	BurstPublishers      int
	BurstWindow          time.Duration
	ShutdownDeadline     time.Duration

	// Grace is added to a shutdown deadline for handlers that were
	// running at the deadline to return.
	Grace time.Duration
	// SettleTimeout bounds every other wait of the harness; a run that
	// exceeds it fails.
	SettleTimeout time.Duration
	// SampleEvery is the sampling interval of goroutines and memory.
	SampleEvery time.Duration
}

// DefaultConfig returns the sizes the README describes.
func DefaultConfig() Config {
	lib := eventbus.DefaultConfig()
	return Config{
		Workers:   lib.Workers,
		QueueSize: lib.QueueSize,
		Handler:   time.Millisecond,

		ThroughputEvents:     1_000_000,
		ThroughputPublishers: 4,

		FanOutEvents:   250_000,
		FanOutHandlers: 8,

		PublishEvents: 1_000_000,

		IOEvents:     20_000,
		IOPublishers: 8,

		FloodDuration: 2 * time.Second,
		FloodFactor:   5,
		FloodDrain:    time.Second,

		BurstEvents:          1_000_000,
		BurstEventsUnbounded: 0,
		BurstPublishers:      8,
		BurstWindow:          6 * time.Second,
		ShutdownDeadline:     time.Second,

		Grace:         250 * time.Millisecond,
		SettleTimeout: 60 * time.Second,
		SampleEvery:   time.Millisecond,
	}
}

// FloodRate returns the total rate of log lines in the flood, per second.
func (c Config) FloodRate() float64 {
	return c.FloodFactor * float64(c.Workers) / c.Handler.Seconds()
}

// burstEvents returns the burst size for impl.
func (c Config) burstEvents(impl Impl) int {
	if impl.Unbounded && c.BurstEventsUnbounded > 0 {
		return c.BurstEventsUnbounded
	}
	return c.BurstEvents
}

// Validate reports a size that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Workers <= 0 || c.QueueSize <= 0:
		return fmt.Errorf("workers %d and queue size %d must be positive", c.Workers, c.QueueSize)
	case c.Handler < time.Millisecond:
		return fmt.Errorf("handler time %v: sleeps under 1ms take about 1ms here; use at least 1ms", c.Handler)
	case c.FanOutEvents < 0 || c.FanOutHandlers <= 0:
		return fmt.Errorf("fan-out needs events >= 0 and handlers > 0 (have %d, %d)", c.FanOutEvents, c.FanOutHandlers)
	case c.ThroughputPublishers <= 0 || c.IOPublishers <= 0 || c.BurstPublishers <= 0:
		return fmt.Errorf("publisher counts must be positive")
	case c.SampleEvery <= 0:
		return fmt.Errorf("the sampling interval must be positive")
	}
	return nil
}
