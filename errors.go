package eventbus

import "errors"

// The errors of the package. Each names the package in its message, so
// that a log line tells where it came from; compare with errors.Is, since
// some are wrapped with details (the field of a bad Config, the bounds of
// a pool).
var (
	// ErrQueueFull is the reason an event was dropped by the drop policy:
	// refused on arrival, or evicted from the queue to make room.
	ErrQueueFull = errors.New("eventbus: queue full")

	// ErrEventBusShutdown is the reason an event was dropped because the
	// bus is shut down: it was published after Shutdown began, or was
	// still queued when the shutdown deadline passed.
	ErrEventBusShutdown = errors.New("eventbus: shut down")

	// ErrInvalidPriority is returned by PublishWithBackpressure for a
	// priority that is not PriorityLow, PriorityMedium or PriorityHigh; the
	// event is dropped with this reason.
	ErrInvalidPriority = errors.New("eventbus: invalid priority")

	// ErrInvalidConfig is wrapped by every error NewEventBus returns for a bad
	// Config; the message names the field.
	ErrInvalidConfig = errors.New("eventbus: invalid config")

	// ErrExpvarNameTaken is returned by PublishExpvar when another variable
	// already has the name.
	ErrExpvarNameTaken = errors.New("eventbus: expvar name already taken")

	// ErrHandlerExited is what Config.OnPanic receives as the recovered value
	// when a handler called runtime.Goexit. The goroutine it ran on ends; a
	// fresh worker takes its place and carries on with the deliveries the
	// old one had taken.
	ErrHandlerExited = errors.New("eventbus: handler called runtime.Goexit")

	// ErrInvalidSize is wrapped by the error Resize returns for a worker count
	// outside the pool's bounds.
	ErrInvalidSize = errors.New("eventbus: invalid pool size")

	// ErrUnsubscribed is the reason a delivery was dropped because its
	// subscription ended (Unsubscribe, its context, or the bus's
	// Shutdown) before the delivery began; WithOnDrop receives it.
	ErrUnsubscribed = errors.New("eventbus: subscription ended")
)
