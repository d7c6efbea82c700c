package eventbus

import "context"

// Chan subscribes a channel: it returns a channel of capacity size that
// receives the events of the given types (nil or empty: every event),
// one at a time, in the order of a WithConcurrency(1) subscription (High
// before Medium before Low among waiting events, admission order within a
// level). The subscription ends when ctx is done, or at Shutdown; the bus
// then closes the channel, exactly once, after its last send, so a reader
// can range over it and never sees a send on a closed channel, whatever
// it does.
//
// When the channel is full, p decides:
//   - DropOldest replaces the oldest unread event with the new one: the
//     reader ends up with the newest; the replaced one moves from
//     Delivered to Dropped in the subscription's figures.
//   - DropNewest drops the new event.
//   - Block waits for room, holding at most one worker, until the
//     subscription ends (ctx, or a WithContext context, is done) or the
//     shutdown deadline passes; the event is then dropped. Events
//     that arrive meanwhile wait without a worker, counted against the
//     bus's QueueSize, so a slow reader slows a Block bus's publishers
//     down rather than losing events.
//
// Under DropOldest and DropNewest a slow or absent reader never holds a
// worker. An event counts as delivered (for WaitIdle and Stats) once it is
// in the channel, and dropped events count in the subscription's figures
// (MetricsSnapshot.Subscriptions, and WithOnDrop with ErrQueueFull, or with
// ErrUnsubscribed or ErrEventBusShutdown when Block gives up).
//
// The options of On apply where they make sense: WithName, WithFilter,
// WithOnDrop, WithContext (the subscription ends with either context).
// WithConcurrency and WithBuffer do not apply and panic, like a nil ctx, a
// size below 1, or any other policy.
func (b *EventBus) Chan(ctx context.Context, size int, p DropPolicy, types []EventType, opts ...SubscribeOption) <-chan Event {
	if ctx == nil {
		panic("eventbus: Chan with a nil Context")
	}
	if size < 1 {
		optionPanic("Chan size %d: it must be at least 1", size)
	}
	if p != DropOldest && p != DropNewest && p != Block {
		optionPanic("Chan policy %v: it must be DropOldest, DropNewest or Block", p)
	}
	set := subSettings{forChan: true}
	set.apply(opts)
	set.limit = 1
	set.buffer, set.policy = b.cfg.QueueSize, p
	s := b.newSubscription(types, len(types) == 0, &set)
	ch := make(chan Event, size)
	switch p {
	case DropNewest:
		s.send = func(ev Event) error {
			select {
			case ch <- ev:
				return nil
			default:
				return ErrQueueFull
			}
		}
	case DropOldest:
		s.send = func(ev Event) error {
			for {
				select {
				case ch <- ev:
					return nil
				default:
				}
				// Full: take back the oldest unread event. The reader may
				// have made room meanwhile, in which case there is nothing
				// to take back and the send is tried again.
				select {
				case old := <-ch:
					s.unsent(old)
				default:
				}
			}
		}
	case Block:
		deadline := b.deadline
		s.ending = make(chan struct{})
		s.send = func(ev Event) error {
			select {
			case ch <- ev:
				return nil
			case <-ctx.Done():
				return ErrUnsubscribed
			case <-s.ending: // a WithContext context, or Shutdown's end
				select {
				case <-deadline:
					return ErrEventBusShutdown
				default:
					return ErrUnsubscribed
				}
			case <-deadline:
				return ErrEventBusShutdown
			}
		}
	}
	s.finished = func() { close(ch) }
	set.ctxs = append(set.ctxs, ctx)
	b.start(s, &set)
	return ch
}

// unsent moves an event that a channel subscription had delivered, and
// then took back from its channel, from Delivered to Dropped.
func (s *Subscription) unsent(ev Event) {
	s.stats.shards[0].unsent.Add(1)
	s.reportDrop(ev, ErrQueueFull)
}
