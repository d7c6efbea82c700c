// Package natsbridge carries the events of an eventbus.EventBus to other
// processes over NATS, and theirs into it, using the official client
// github.com/nats-io/nats.go. It lives in its own module so that the bus
// itself keeps no dependency.
//
// A Bridge joins one bus to one NATS connection. Events published on the
// bus (all types, or those in Options.Export) are encoded as JSON (see
// README.md, "Wire format") and sent to "<Prefix>.<type>"; messages on the
// subjects of Options.Import are decoded and published into the bus with
// their ID, Type, ProcessID and Timestamp unchanged, through the bus's own
// backpressure. A bridge never re-delivers its own events (their origin
// is in a header), handles each event ID once within a bounded window, and
// never sends back out an event it imported, so bridges connected in any
// topology do not loop.
//
// Two delivery modes, Core (at most once) and JetStream (at least once,
// through a durable consumer per instance), are described under Mode and,
// side by side, in README.md.
//
// The bridge uses the connection it is given and never closes it; the
// connection's reconnect logic keeps the bridge working across server
// restarts, and Metrics reports the disconnected periods.
package natsbridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/brummer-dev/eventbus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Bridge joins an eventbus.EventBus to NATS. Create one with New and stop
// it with Close. All its methods are safe for concurrent use.
type Bridge struct {
	bus    *eventbus.EventBus
	nc     *nats.Conn
	opts   Options // resolved
	prefix string  // Prefix + "."
	win    *window

	// ctx bounds the inbound publishes into the bus; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	busSubs []*eventbus.Subscription

	subMu         sync.Mutex
	natsSubs      []*nats.Subscription // Core mode inbound
	slowDropFinal int64                // slow-consumer drops of unsubscribed subscriptions
	consume       jetstream.ConsumeContext

	// The inbound gate: Close sets closing under gateMu, after which no
	// message handler starts work, and waits for those that had started.
	gateMu   sync.Mutex
	closing  bool
	inflight sync.WaitGroup

	js    jetstream.JetStream // nil in Core mode
	jsOut                     // JetStream outbound state

	conn connState
	c    counters

	closeOnce sync.Once
	closeErr  error
}

// New starts a bridge between bus and nc with the given options and
// returns it running: from its return on, events published on bus are
// exported and imported events are published into bus.
//
// It returns an error, and leaves nothing running, when bus or nc is nil,
// nc is closed, an option is invalid (errors wrapping ErrInvalidOptions
// name the field), or, in JetStream mode, the stream or the durable
// consumer cannot be looked up or created (JetStream must be enabled on
// the server). New does not take ownership of bus or nc: close the bridge
// before shutting down the bus or closing the connection.
func New(bus *eventbus.EventBus, nc *nats.Conn, opts Options) (*Bridge, error) {
	if bus == nil {
		return nil, fmt.Errorf("%w: nil *eventbus.EventBus", ErrInvalidOptions)
	}
	if nc == nil {
		return nil, fmt.Errorf("%w: nil *nats.Conn", ErrInvalidOptions)
	}
	if nc.IsClosed() {
		return nil, fmt.Errorf("%w: the NATS connection is closed", ErrInvalidOptions)
	}
	opts, err := opts.resolved(bus)
	if err != nil {
		return nil, err
	}
	b := &Bridge{
		bus:    bus,
		nc:     nc,
		opts:   opts,
		prefix: opts.Prefix + ".",
		win:    newWindow(opts.DedupWindow),
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.conn.start(nc)

	ok := false
	defer func() {
		if !ok {
			b.abort()
		}
	}()
	if opts.Mode == JetStream {
		if err := b.setupJetStream(); err != nil {
			return nil, err
		}
	} else if !opts.DisableImport {
		for _, p := range opts.Import {
			sub, err := nc.Subscribe(b.prefix+p, b.onCoreMsg)
			if err != nil {
				return nil, fmt.Errorf("natsbridge: subscribe to %q: %w", b.prefix+p, err)
			}
			b.natsSubs = append(b.natsSubs, sub)
		}
		// Make sure the server has the subscriptions before New returns,
		// so an event published right after is received.
		if nc.IsConnected() {
			if err := nc.FlushTimeout(DefaultAPITimeout); err != nil {
				return nil, fmt.Errorf("natsbridge: flush subscriptions: %w", err)
			}
		}
	}
	if !opts.DisableExport {
		if len(opts.Export) == 0 {
			b.busSubs = append(b.busSubs, bus.OnAll(b.export))
		} else {
			for _, t := range opts.Export {
				b.busSubs = append(b.busSubs, bus.On(t, b.export))
			}
		}
	}
	ok = true
	return b, nil
}

// abort undoes a New that failed half-way.
func (b *Bridge) abort() {
	for _, s := range b.busSubs {
		s.Unsubscribe()
	}
	if b.consume != nil {
		b.consume.Stop()
		<-b.consume.Closed()
	}
	for _, s := range b.natsSubs {
		_ = s.Unsubscribe()
	}
	b.gateMu.Lock()
	b.closing = true
	b.gateMu.Unlock()
	b.cancel()
	b.inflight.Wait()
	if b.js != nil {
		b.stopRetries()
		b.js.CleanupPublisher()
		b.ackWatchers.Wait() // CleanupPublisher ended every future
	}
	b.conn.stop(b.nc)
}

// Instance returns the bridge's instance name (Options.Instance, or the
// random name it was given).
func (b *Bridge) Instance() string { return b.opts.Instance }

// Options returns the options the bridge runs with, defaults filled in.
func (b *Bridge) Options() Options {
	o := b.opts
	o.Export = append([]eventbus.EventType(nil), o.Export...)
	o.Import = append([]string(nil), o.Import...)
	return o
}

// ---- outbound ----

// export is the bus handler that sends local events. It runs on bus
// workers, concurrently.
func (b *Bridge) export(ev eventbus.Event) {
	if !b.win.exportable(ev.ID) {
		b.c.loopsPrevented.Add(1)
		return
	}
	subject, err := subjectFor(b.opts.Prefix, ev.Type)
	if err != nil {
		b.encodeFailed(ev, err)
		return
	}
	body, err := encodeEvent(&ev)
	if err != nil {
		b.encodeFailed(ev, err)
		return
	}
	if len(body) > b.opts.MaxMessageSize {
		b.encodeFailed(ev, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(body), b.opts.MaxMessageSize))
		return
	}
	msg := newMsg(subject, b.opts.Instance, ev.ID, body)
	if b.js != nil {
		b.publishJS(msg, ev)
		return
	}
	if err := b.nc.PublishMsg(msg); err != nil {
		b.sendFailed(ev, err)
		return
	}
	b.c.sent.Add(1)
}

func (b *Bridge) encodeFailed(ev eventbus.Event, err error) {
	b.c.encodeFailures.Add(1)
	b.hookSend(ev, err)
}

func (b *Bridge) sendFailed(ev eventbus.Event, err error) {
	b.c.sendErrors.Add(1)
	b.hookSend(ev, err)
}

func (b *Bridge) hookSend(ev eventbus.Event, err error) {
	if b.opts.OnSendError == nil {
		return
	}
	defer func() { _ = recover() }()
	b.opts.OnSendError(ev, err)
}

// ---- inbound ----

// outcome is what happens to a received message: for JetStream, whether
// it is acknowledged, given back for redelivery, or terminated.
type outcome int

const (
	outcomeDone outcome = iota
	outcomeRedeliver
	outcomeMalformed
)

// enter opens the inbound gate for one message, or reports that the bridge
// is closing.
func (b *Bridge) enter() bool {
	b.gateMu.Lock()
	defer b.gateMu.Unlock()
	if b.closing {
		return false
	}
	b.inflight.Add(1)
	return true
}

func (b *Bridge) onCoreMsg(msg *nats.Msg) {
	b.receive(msg)
	if b.opts.afterReceive != nil {
		b.opts.afterReceive()
	}
}

func (b *Bridge) onJSMsg(m jetstream.Msg) {
	msg := &nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()}
	switch b.receive(msg) {
	case outcomeDone:
		_ = m.Ack()
	case outcomeRedeliver:
		_ = m.NakWithDelay(b.opts.JetStream.NakDelay)
	case outcomeMalformed:
		_ = m.TermWithReason("natsbridge: malformed")
	}
	if b.opts.afterReceive != nil {
		b.opts.afterReceive()
	}
}

// receive handles one message: it runs on the goroutine nats.go delivers
// the subscription's messages on, one message at a time per subscription.
func (b *Bridge) receive(msg *nats.Msg) outcome {
	b.c.received.Add(1)
	if !b.enter() {
		b.c.dropCanceled.Add(1)
		return outcomeRedeliver
	}
	defer b.inflight.Done()

	if msg.Header.Get(HeaderOrigin) == b.opts.Instance {
		b.c.ownEchoes.Add(1)
		return outcomeDone
	}
	if len(msg.Data) > b.opts.MaxMessageSize {
		return b.malformed(msg, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(msg.Data), b.opts.MaxMessageSize))
	}
	token, ok := strings.CutPrefix(msg.Subject, b.prefix)
	if !ok {
		return b.malformed(msg, fmt.Errorf("%w: subject %q is not under prefix %q", ErrMalformed, msg.Subject, b.opts.Prefix))
	}
	ev, err := decodeEvent(msg.Data, token)
	if err != nil {
		return b.malformed(msg, err)
	}
	if !b.win.reserveImport(ev.ID) {
		b.c.duplicates.Add(1)
		return outcomeDone
	}
	err = b.bus.PublishContext(b.ctx, ev)
	switch {
	case err == nil:
		b.c.imported.Add(1)
		return outcomeDone
	case errors.Is(err, eventbus.ErrQueueFull):
		// The bus's drop policy decided; the ID stays in the window so a
		// redelivery is not imported after all.
		b.c.dropQueueFull.Add(1)
		b.hookDrop(ev, err)
		return outcomeDone
	case errors.Is(err, eventbus.ErrEventBusShutdown):
		b.win.release(ev.ID)
		b.c.dropShutdown.Add(1)
		b.hookDrop(ev, err)
		return outcomeRedeliver
	case b.ctx.Err() != nil:
		b.win.release(ev.ID)
		b.c.dropCanceled.Add(1)
		b.hookDrop(ev, err)
		return outcomeRedeliver
	default:
		b.c.dropOther.Add(1)
		b.hookDrop(ev, err)
		return outcomeDone
	}
}

func (b *Bridge) malformed(msg *nats.Msg, err error) outcome {
	b.c.malformed.Add(1)
	if b.opts.OnMalformed != nil {
		func() {
			defer func() { _ = recover() }()
			b.opts.OnMalformed(msg, err)
		}()
	}
	return outcomeMalformed
}

func (b *Bridge) hookDrop(ev eventbus.Event, reason error) {
	if b.opts.OnDrop == nil {
		return
	}
	defer func() { _ = recover() }()
	b.opts.OnDrop(ev, reason)
}

// ---- closing ----

// Close stops the bridge and releases what it started; it closes neither
// the bus nor the connection. In order, it:
//
//  1. stops receiving (unsubscribes, or drains the JetStream consumer) and
//     cancels the publishes into the bus that are waiting for room. In
//     JetStream mode every message delivered to the client and not yet
//     accepted by the bus is given back to the server (a negative
//     acknowledgement with NakDelay), so the next run of the instance
//     receives it promptly; in Core mode such messages are lost;
//  2. removes its bus handler and waits for the exports running in it;
//  3. waits for the exported events to leave: in Core mode a flush of the
//     connection (skipped while disconnected: the events wait in the
//     connection's reconnect buffer), in JetStream mode the stream's
//     acknowledgements, retries included. Those still unacknowledged when
//     ctx ends are counted in SendErrors and reported with ErrClosed.
//
// It returns nil, or ctx.Err() when ctx ended before it finished waiting
// (everything is stopped all the same), joined with a flush error. A nil
// ctx means context.Background(). Calls after the first wait for nothing
// and return the first call's result.
func (b *Bridge) Close(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	b.closeOnce.Do(func() { b.closeErr = b.close(ctx) })
	return b.closeErr
}

func (b *Bridge) close(ctx context.Context) error {
	var errs []error
	wait := func(ch <-chan struct{}) {
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}

	// 1. Inbound.
	if b.consume != nil {
		// Drain, not Stop: the messages already in the client still reach
		// the handler, which gives them back (the gate is closed below)
		// instead of leaving them unacknowledged until AckWait.
		b.consume.Drain()
	}
	b.subMu.Lock()
	for _, s := range b.natsSubs {
		if n, err := s.Dropped(); err == nil {
			b.slowDropFinal += int64(n)
		}
		_ = s.Unsubscribe()
	}
	b.natsSubs = nil
	b.subMu.Unlock()
	b.gateMu.Lock()
	b.closing = true
	b.gateMu.Unlock()
	b.cancel()
	idle := make(chan struct{})
	go func() { b.inflight.Wait(); close(idle) }()
	wait(idle)
	if b.consume != nil {
		wait(b.consume.Closed())
	}

	// 2. Outbound handler.
	for _, s := range b.busSubs {
		s.Unsubscribe()
	}
	for _, s := range b.busSubs {
		wait(s.Done())
	}

	// 3. Outbound flush.
	if b.js != nil {
		wait(b.jsIdle())
		b.stopRetries()
		b.closeSends() // an export still running after ctx fails, not sends
		b.js.CleanupPublisher()
		b.ackWatchers.Wait() // CleanupPublisher ended every future
		b.failPending(ErrClosed)
	} else if !b.opts.DisableExport && b.nc.IsConnected() && ctx.Err() == nil {
		fctx := ctx
		if _, ok := ctx.Deadline(); !ok { // FlushWithContext needs a deadline
			var cancel context.CancelFunc
			fctx, cancel = context.WithTimeout(ctx, DefaultAPITimeout)
			defer cancel()
		}
		if err := b.nc.FlushWithContext(fctx); err != nil && ctx.Err() == nil {
			errs = append(errs, fmt.Errorf("natsbridge: flush: %w", err))
		}
	}

	b.conn.stop(b.nc)
	if err := ctx.Err(); err != nil {
		errs = append([]error{err}, errs...)
	}
	return errors.Join(errs...)
}
