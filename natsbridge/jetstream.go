package natsbridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// jsOut is the JetStream outbound state: the exports awaiting the stream's
// acknowledgement, and the queue of those to be sent again.
type jsOut struct {
	pendMu   sync.Mutex
	pend     map[*nats.Msg]*pendingPub
	idleCh   chan struct{} // closed when pend empties; nil when nobody waits
	stopping bool          // no more retries: failures are final

	// sendMu makes sendClosed and a publish exclusive: once Close has set
	// sendClosed, no export reaches the publisher it cleans up.
	sendMu     sync.RWMutex
	sendClosed bool

	retryCh   chan *nats.Msg
	retryStop chan struct{}
	retryDone chan struct{}
	stopOnce  sync.Once

	ackWatchers sync.WaitGroup // the goroutines of awaitAck
}

type pendingPub struct {
	ev       eventbus.Event
	attempts int       // retries made
	retryAt  time.Time // when the queued retry may go
}

// setupJetStream creates the JetStream context, the stream if missing, the
// durable consumer and its Consume loop.
func (b *Bridge) setupJetStream() error {
	o := b.opts.JetStream
	// No WithPublishAsyncErrHandler: in nats.go v1.49 the handler for the
	// publishes that a reconnect fails runs only when the publisher is
	// cleaned up, so awaitAck takes every failure from its future instead.
	js, err := jetstream.New(b.nc,
		jetstream.WithPublishAsyncMaxPending(o.MaxPendingPublishes),
		jetstream.WithPublishAsyncTimeout(o.PublishTimeout),
		jetstream.WithDefaultTimeout(o.APITimeout),
	)
	if err != nil {
		return fmt.Errorf("natsbridge: jetstream: %w", err)
	}
	b.js = js
	b.pend = make(map[*nats.Msg]*pendingPub)
	b.retryCh = make(chan *nats.Msg, o.MaxPendingPublishes)
	b.retryStop = make(chan struct{})
	b.retryDone = make(chan struct{})
	go b.retryLoop()

	ctx, cancel := context.WithTimeout(context.Background(), o.APITimeout)
	defer cancel()
	if st, err := js.Stream(ctx, o.Stream); err == nil {
		if err := b.checkStreamSubjects(st.CachedInfo().Config.Subjects); err != nil {
			return err
		}
	} else if errors.Is(err, jetstream.ErrStreamNotFound) {
		dup := 2 * time.Minute
		if o.MaxAge < dup {
			dup = o.MaxAge
		}
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:       o.Stream,
			Subjects:   []string{b.prefix + ">"},
			Storage:    jetstream.FileStorage,
			MaxAge:     o.MaxAge,
			Duplicates: dup,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			_, err = js.Stream(ctx, o.Stream) // another instance created it first
		}
		if err != nil {
			return fmt.Errorf("natsbridge: create stream %q: %w", o.Stream, err)
		}
	} else {
		return fmt.Errorf("natsbridge: look up stream %q: %w", o.Stream, err)
	}
	if b.opts.DisableImport {
		return nil
	}

	filters := make([]string, len(b.opts.Import))
	for i, p := range b.opts.Import {
		filters[i] = b.prefix + p
	}
	deliver := jetstream.DeliverNewPolicy
	if o.DeliverAll {
		deliver = jetstream.DeliverAllPolicy
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, o.Stream, jetstream.ConsumerConfig{
		Durable:        o.Durable,
		Description:    "natsbridge instance " + b.opts.Instance,
		FilterSubjects: filters,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        o.AckWait,
		MaxAckPending:  o.MaxAckPending,
		DeliverPolicy:  deliver,
	})
	if err != nil {
		return fmt.Errorf("natsbridge: durable consumer %q on stream %q: %w", o.Durable, o.Stream, err)
	}
	cc, err := cons.Consume(b.onJSMsg,
		// nats.go recovers from missed heartbeats and reconnects by
		// itself; its reports are of no use to the bridge's user.
		jetstream.ConsumeErrHandler(func(jetstream.ConsumeContext, error) {}))
	if err != nil {
		return fmt.Errorf("natsbridge: consume %q: %w", o.Durable, err)
	}
	b.consume = cc
	return nil
}

// publishJS sends an export to the stream asynchronously; awaitAck settles
// it through pubAcked or pubFailed.
func (b *Bridge) publishJS(msg *nats.Msg, ev eventbus.Event) {
	b.pendMu.Lock()
	b.pend[msg] = &pendingPub{ev: ev}
	b.pendMu.Unlock()
	b.sendJS(msg)
}

func (b *Bridge) sendJS(msg *nats.Msg) {
	b.sendMu.RLock()
	if b.sendClosed {
		b.sendMu.RUnlock()
		b.pubFailed(msg, ErrClosed)
		return
	}
	paf, err := b.js.PublishMsgAsync(msg, jetstream.WithStallWait(b.opts.JetStream.StallWait))
	if err == nil {
		b.awaitAck(msg, paf) // counted before Close waits for the watchers
	}
	b.sendMu.RUnlock()
	if err != nil {
		b.pubFailed(msg, err)
	}
}

// closeSends makes every later send fail with ErrClosed, after the sends
// in progress.
func (b *Bridge) closeSends() {
	b.sendMu.Lock()
	b.sendClosed = true
	b.sendMu.Unlock()
}

// awaitAck settles one publish of msg when its future ends: pubAcked once
// the stream acknowledges it, pubFailed when it fails. nats.go v1.49 (the
// last release for Go 1.24) has no acknowledgement callback
// (WithPublishAsyncAckHandler), so a goroutine waits on the future. Every
// future ends: acknowledged, failed (by a reconnect or the stream),
// timed out after PublishTimeout, or failed by CleanupPublisher.
func (b *Bridge) awaitAck(msg *nats.Msg, paf jetstream.PubAckFuture) {
	b.ackWatchers.Add(1)
	go func() {
		defer b.ackWatchers.Done()
		select {
		case <-paf.Ok():
			b.pubAcked(msg)
		case err := <-paf.Err():
			b.pubFailed(msg, err)
		}
	}()
}

// pubAcked settles an export the stream stored.
func (b *Bridge) pubAcked(msg *nats.Msg) {
	b.pendMu.Lock()
	_, ok := b.pend[msg]
	if ok {
		b.settleLocked(msg)
	}
	b.pendMu.Unlock()
	if ok {
		b.c.sent.Add(1)
	}
}

// pubFailed queues a retry of an export that failed for a transient
// reason and has retries left, and settles it as a send error otherwise.
func (b *Bridge) pubFailed(msg *nats.Msg, err error) {
	b.pendMu.Lock()
	p, ok := b.pend[msg]
	if !ok {
		b.pendMu.Unlock()
		return
	}
	if !b.stopping && retryable(err) && p.attempts < b.opts.JetStream.PublishRetries {
		p.attempts++
		p.retryAt = time.Now().Add(b.opts.JetStream.RetryWait)
		select {
		case b.retryCh <- msg:
			b.pendMu.Unlock()
			b.c.sendRetries.Add(1)
			return
		default: // the retry queue is full: give up on this one
		}
	}
	if errors.Is(err, jetstream.ErrJetStreamPublisherClosed) || (b.stopping && retryable(err)) {
		// Close gave up waiting and released the publisher, or stopped
		// the retry that this failure would have had.
		err = ErrClosed
	}
	b.settleLocked(msg)
	b.pendMu.Unlock()
	b.sendFailed(p.ev, err)
}

// settleLocked removes msg from the pending exports. pendMu must be held.
func (b *Bridge) settleLocked(msg *nats.Msg) {
	delete(b.pend, msg)
	if len(b.pend) == 0 && b.idleCh != nil {
		close(b.idleCh)
		b.idleCh = nil
	}
}

// retryable reports whether a JetStream publish error may go away by
// itself: the connection is down or reconnecting (a write on the socket
// failed as the server went away: nats.go reconnects), or the stream did
// not answer in time.
func retryable(err error) bool {
	var netErr *net.OpError
	if errors.As(err, &netErr) {
		return true
	}
	for _, e := range []error{
		nats.ErrDisconnected, nats.ErrConnectionReconnecting, nats.ErrReconnectBufExceeded,
		nats.ErrNoResponders, nats.ErrTimeout, nats.ErrSlowConsumer,
		jetstream.ErrAsyncPublishTimeout, jetstream.ErrNoStreamResponse, jetstream.ErrTooManyStalledMsgs,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// retryLoop sends queued retries again once their RetryWait has passed.
// Retries queued together (all pending exports fail at once on a
// disconnect) go out together after one wait.
func (b *Bridge) retryLoop() {
	defer close(b.retryDone)
	for {
		select {
		case <-b.retryStop:
			return
		case msg := <-b.retryCh:
			b.pendMu.Lock()
			p, ok := b.pend[msg]
			var at time.Time
			if ok {
				at = p.retryAt
			}
			b.pendMu.Unlock()
			if !ok {
				continue
			}
			if d := time.Until(at); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-b.retryStop:
					t.Stop()
					b.pubFailed(msg, ErrClosed)
					return
				}
			}
			b.sendJS(msg)
		}
	}
}

// jsIdle returns a channel closed once no export awaits an acknowledgement.
func (b *Bridge) jsIdle() <-chan struct{} {
	b.pendMu.Lock()
	defer b.pendMu.Unlock()
	if len(b.pend) == 0 {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	if b.idleCh == nil {
		b.idleCh = make(chan struct{})
	}
	return b.idleCh
}

// stopRetries ends the retry loop; failures after it are final.
func (b *Bridge) stopRetries() {
	b.pendMu.Lock()
	b.stopping = true
	b.pendMu.Unlock()
	b.stopOnce.Do(func() { close(b.retryStop) })
	<-b.retryDone
}

// failPending settles every export still pending as a send error.
func (b *Bridge) failPending(err error) {
	b.pendMu.Lock()
	var evs []eventbus.Event
	for msg, p := range b.pend {
		evs = append(evs, p.ev)
		b.settleLocked(msg)
	}
	b.pendMu.Unlock()
	for _, ev := range evs {
		b.sendFailed(ev, err)
	}
}

// pendingCount returns the exports awaiting an acknowledgement.
func (b *Bridge) pendingCount() int {
	if b.js == nil {
		return 0
	}
	b.pendMu.Lock()
	defer b.pendMu.Unlock()
	return len(b.pend)
}

// checkStreamSubjects makes sure an existing stream stores what the bridge
// exports: "<Prefix>.>", or each subject of Options.Export.
func (b *Bridge) checkStreamSubjects(streamSubjects []string) error {
	if b.opts.DisableExport {
		return nil
	}
	want := []string{b.prefix + ">"}
	if len(b.opts.Export) > 0 {
		want = want[:0]
		for _, t := range b.opts.Export {
			s, _ := subjectFor(b.opts.Prefix, t) // validated in New
			want = append(want, s)
		}
	}
	for _, w := range want {
		if !slices.ContainsFunc(streamSubjects, func(s string) bool { return covers(s, w) }) {
			return fmt.Errorf("%w: JetStream.Stream %q (subjects %q) does not store %q, which this bridge exports",
				ErrInvalidOptions, b.opts.JetStream.Stream, streamSubjects, w)
		}
	}
	return nil
}

// covers reports whether the subject filter f matches every subject that
// s matches; s may end in the wildcard ">".
func covers(f, s string) bool {
	ft, st := strings.Split(f, "."), strings.Split(s, ".")
	for i, t := range ft {
		if t == ">" {
			return i < len(st)
		}
		if i >= len(st) || st[i] == ">" {
			return false
		}
		if t != "*" && t != st[i] {
			return false
		}
	}
	return len(ft) == len(st)
}
