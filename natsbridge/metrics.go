package natsbridge

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Metrics is a snapshot of a bridge's counts, from Bridge.Metrics. It
// shares nothing with the bridge.
//
// Outbound, every event the bridge's bus handler received is, once
// settled, exactly one of Sent, SendErrors, EncodeFailures or
// LoopsPrevented; InFlight counts JetStream exports not settled yet.
// Inbound, every message handed to the bridge is exactly one of Imported,
// DuplicatesSkipped, OwnEchoesSkipped, Malformed or Dropped: when nothing
// is being handled, Received equals their sum.
type Metrics struct {
	// Sent counts exported events handed to NATS: in Core mode accepted
	// by the connection (possibly into its reconnect buffer), in
	// JetStream mode acknowledged by the stream.
	Sent int64
	// SendErrors counts exported events NATS did not take: the connection
	// is closed, its reconnect buffer is full, or, in JetStream mode, the
	// stream did not acknowledge them after the retries (or before Close
	// gave up). Each was reported to Options.OnSendError.
	SendErrors int64
	// SendRetries counts JetStream publishes sent again after a transient
	// failure (each retry counts once).
	SendRetries int64
	// EncodeFailures counts events that could not become a message: Data
	// not encodable as JSON, a type too long for a subject, a body over
	// MaxMessageSize. Each was reported to Options.OnSendError.
	EncodeFailures int64
	// LoopsPrevented counts events met by the bus handler that the bridge
	// had imported itself, and so did not send back out.
	LoopsPrevented int64
	// InFlight is the number of JetStream exports awaiting the stream's
	// acknowledgement now (0 in Core mode).
	InFlight int64

	// Received counts the messages delivered to the bridge by NATS.
	Received int64
	// Imported counts events the local bus accepted (queued).
	Imported int64
	// DuplicatesSkipped counts messages whose event ID was in the dedup
	// window: redeliveries and repeats.
	DuplicatesSkipped int64
	// OwnEchoesSkipped counts messages this bridge had sent itself.
	OwnEchoesSkipped int64
	// Malformed counts messages skipped because they were not events in
	// the wire format (see ErrMalformed, ErrVersion, ErrTooLarge).
	Malformed int64
	// Dropped counts received events the local bus refused, by reason.
	Dropped DropCounts
	// SlowConsumerDropped counts messages the NATS client discarded
	// before the bridge saw them because a Core subscription's pending
	// buffer was full (the local bus too slow for too long). They are not
	// in Received.
	SlowConsumerDropped int64

	// Connected reports whether the connection is up now.
	Connected bool
	// Disconnects counts the periods the connection was down since New
	// (including one in progress, and the initial one if New was called
	// while it was down).
	Disconnects int64
	// DisconnectedTime is the total length of those periods, up to now
	// for one in progress.
	DisconnectedTime time.Duration
}

// DropCounts says why the local bus refused received events.
type DropCounts struct {
	// QueueFull counts events refused by the bus's drop policy
	// (eventbus.ErrQueueFull). They are not delivered again, in either
	// mode.
	QueueFull int64
	// Shutdown counts events refused because the bus was shut down
	// (eventbus.ErrEventBusShutdown). In JetStream mode they are given
	// back for redelivery.
	Shutdown int64
	// Canceled counts events not published because the bridge was closing.
	// In JetStream mode they are given back for redelivery.
	Canceled int64
	// Other counts events refused for any other reason.
	Other int64
}

// Total returns the sum of the counts.
func (d DropCounts) Total() int64 { return d.QueueFull + d.Shutdown + d.Canceled + d.Other }

type counters struct {
	sent, sendErrors, sendRetries, encodeFailures, loopsPrevented atomic.Int64

	received, imported, duplicates, ownEchoes, malformed atomic.Int64

	dropQueueFull, dropShutdown, dropCanceled, dropOther atomic.Int64
}

// Metrics returns a snapshot of the bridge's counts. It may be called at
// any time, also after Close.
func (b *Bridge) Metrics() Metrics {
	m := Metrics{
		Sent:              b.c.sent.Load(),
		SendErrors:        b.c.sendErrors.Load(),
		SendRetries:       b.c.sendRetries.Load(),
		EncodeFailures:    b.c.encodeFailures.Load(),
		LoopsPrevented:    b.c.loopsPrevented.Load(),
		InFlight:          int64(b.pendingCount()),
		Received:          b.c.received.Load(),
		Imported:          b.c.imported.Load(),
		DuplicatesSkipped: b.c.duplicates.Load(),
		OwnEchoesSkipped:  b.c.ownEchoes.Load(),
		Malformed:         b.c.malformed.Load(),
		Dropped: DropCounts{
			QueueFull: b.c.dropQueueFull.Load(),
			Shutdown:  b.c.dropShutdown.Load(),
			Canceled:  b.c.dropCanceled.Load(),
			Other:     b.c.dropOther.Load(),
		},
	}
	b.subMu.Lock()
	m.SlowConsumerDropped = b.slowDropFinal
	for _, s := range b.natsSubs {
		if n, err := s.Dropped(); err == nil {
			m.SlowConsumerDropped += int64(n)
		}
	}
	b.subMu.Unlock()
	m.Connected, m.Disconnects, m.DisconnectedTime = b.conn.snapshot()
	return m
}

// connState follows the connection's status through a status listener of
// nats.go, which does not replace the handlers the connection's owner set.
type connState struct {
	mu          sync.Mutex
	up          bool
	disconnects int64
	downSince   time.Time
	downTotal   time.Duration

	ch   chan nats.Status
	quit chan struct{}
	done chan struct{}
}

func (c *connState) start(nc *nats.Conn) {
	c.ch = nc.StatusChanged(nats.CONNECTED, nats.RECONNECTING, nats.DISCONNECTED, nats.CLOSED)
	c.set(nc.IsConnected())
	c.listen()
}

// listen follows c.ch on a goroutine until halt.
func (c *connState) listen() {
	c.quit = make(chan struct{})
	c.done = make(chan struct{})
	go func() {
		defer close(c.done)
		for {
			select {
			case st, ok := <-c.ch:
				if !ok {
					return
				}
				c.set(st == nats.CONNECTED)
			case <-c.quit:
				return
			}
		}
	}()
}

// stop ends the listener. RemoveStatusListener closes c.ch only if no
// status is waiting in it (it takes the waiting one instead), so the
// goroutine is told to quit on a channel of its own.
func (c *connState) stop(nc *nats.Conn) {
	nc.RemoveStatusListener(c.ch)
	c.halt()
}

// halt ends the goroutine of listen, whether c.ch was closed or not.
func (c *connState) halt() {
	close(c.quit)
	<-c.done
}

func (c *connState) set(up bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	switch {
	case up && !c.up:
		if !c.downSince.IsZero() {
			c.downTotal += now.Sub(c.downSince)
		}
		c.up = true
	case !up && (c.up || c.downSince.IsZero()):
		c.up = false
		c.disconnects++
		c.downSince = now
	}
}

func (c *connState) snapshot() (up bool, n int64, total time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	total = c.downTotal
	if !c.up && !c.downSince.IsZero() {
		total += time.Since(c.downSince)
	}
	return c.up, c.disconnects, total
}
