// Package events shows the whole of Brummer's pkg/events once it adopts
// this library: type aliases keep every composite literal and conversion
// in Brummer compiling, and embedding *eventbus.EventBus keeps Publish,
// Subscribe and Shutdown with their exact signatures. The tests beside it
// are Brummer's expectations of its bus, run through this wrapper.
package events

import "github.com/brummer-dev/eventbus"

// The types Brummer's code names stay where they were.
type (
	EventType = eventbus.EventType
	Event     = eventbus.Event
	Handler   = eventbus.Handler
)

// Brummer's ten event types.
const (
	ProcessStarted  = eventbus.ProcessStarted
	ProcessExited   = eventbus.ProcessExited
	LogLine         = eventbus.LogLine
	ErrorDetected   = eventbus.ErrorDetected
	BuildEvent      = eventbus.BuildEvent
	TestFailed      = eventbus.TestFailed
	TestPassed      = eventbus.TestPassed
	MCPActivity     = eventbus.MCPActivity
	MCPConnected    = eventbus.MCPConnected
	MCPDisconnected = eventbus.MCPDisconnected
)

// EventBus is Brummer's bus. Everything the library adds (On, OnAll,
// PublishContext, WaitIdle, Metrics, ...) is available through the
// embedded field.
type EventBus struct {
	*eventbus.EventBus
}

// NewEventBus returns a bus sized for the machine and the environment
// (CI, low memory), with the default policy: Publish never blocks, and a
// log flood drops log lines, never process or error events. The queue is
// deeper than the library's default so that a burst of output (a test
// run, a build) is delivered whole rather than trimmed.
func NewEventBus() *EventBus {
	cfg := eventbus.GetEnvironmentSpecificConfig()
	cfg.QueueSize = max(cfg.QueueSize, brummerQueueSize)
	return mustBus(cfg)
}

// brummerQueueSize holds a few seconds of a busy dev server's output; a
// queued event takes about 130 bytes besides its Data, so the queue
// costs at most about 1.3 MB.
const brummerQueueSize = 10_000

// NewEventBusWithConfig returns a lossless bus with a given pool size and
// queue: publishers wait for room instead of dropping, as Brummer's tests
// of small buffers expect.
func NewEventBusWithConfig(workers, bufferSize int) *EventBus {
	cfg := eventbus.DefaultConfig()
	cfg.Workers, cfg.QueueSize = workers, bufferSize
	cfg.BackpressureMode = eventbus.Block
	return mustBus(cfg)
}

func mustBus(cfg eventbus.Config) *EventBus {
	b, err := eventbus.NewEventBus(cfg)
	if err != nil {
		// The configurations above are built in code; an error here is a
		// bug in this file, not a condition to handle at run time.
		panic(err)
	}
	return &EventBus{b}
}
