package eventbus

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each case holds a WithConcurrency(1) subscription in its first call,
// fills its buffer of two, sends one more delivery, and checks exactly
// which one its policy dropped and what the handler then gets.
func TestBufferPolicies(t *testing.T) {
	cases := []struct {
		policy  DropPolicy
		waiting []string
		arrives string
		dropped string
		handled []string
	}{
		{DropOldest, []string{"L1", "H1"}, "L2", "L1", []string{"H1", "L2"}},
		{DropOldest, []string{"H1", "L1"}, "L2", "H1", []string{"L1", "L2"}},
		{DropNewest, []string{"L1", "H1"}, "H2", "H2", []string{"H1", "L1"}},
		{DropLowPri, []string{"H1", "L1"}, "L2", "L1", []string{"H1", "L2"}},
		{DropLowPri, []string{"H1", "M1"}, "L1", "L1", []string{"H1", "M1"}},
		{DropLowPri, []string{"H1", "M1"}, "H2", "M1", []string{"H1", "H2"}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%v/%v+%v", c.policy, c.waiting, c.arrives), func(t *testing.T) {
			var busDrops dropLog
			b := newBus(t, Config{Workers: 2, EnablePriority: true, ReservedWorkers: -1, OnDrop: busDrops.onDrop})
			g := newGate(t)
			var hook dropLog
			var r recorder
			s := b.OnTypes([]EventType{LogLine, BuildEvent, ProcessExited}, func(ev Event) {
				if ev.ID == "gate" {
					g.handle(ev)
					return
				}
				r.handle(ev)
			}, WithConcurrency(1), WithBuffer(2, c.policy), WithOnDrop(hook.onDrop))
			b.Publish(Event{ID: "gate", Type: BuildEvent})
			receive(t, g.began)
			for i, n := range append(c.waiting, c.arrives) {
				b.Publish(Event{ID: n, Type: typeOfLevel(n)})
				// One at a time into the buffer, so that the order of
				// arrival is the order of publishing.
				waitSub(t, s, func(st SubscriptionStats) bool { return st.Matched == int64(i+2) })
			}
			// The drop is reported once the worker has let go of the lock.
			require.Eventually(t, func() bool { ids, _ := hook.snapshot(); return len(ids) > 0 }, testTimeout, 100*time.Microsecond)
			ids, reasons := hook.snapshot()
			require.Equal(t, []string{c.dropped}, ids)
			assert.ErrorIs(t, reasons[0], ErrQueueFull)
			g.release()
			waitIdle(t, b)
			assert.Equal(t, c.handled, r.ids())
			st := s.Stats()
			assert.EqualValues(t, 1, st.Dropped)
			assert.EqualValues(t, 3, st.Delivered)
			m := requireAccounted(t, b)
			assert.Zero(t, m.EventsDropped, "a subscription's drops are not the bus's")
			busIDs, _ := busDrops.snapshot()
			assert.Empty(t, busIDs)
		})
	}
}

// Under Block, a full buffer drops nothing: deliveries beyond it wait set
// aside and take room in the bus's queue, so that a Block bus's publishers
// end up waiting, and everything is delivered once the subscriber goes on.
func TestBlockBufferSetsDeliveriesAsideAgainstTheQueue(t *testing.T) {
	b := newBus(t, Config{Workers: 2, QueueSize: 3, BackpressureMode: Block})
	g := newGate(t)
	var r recorder
	s := b.On("x", func(ev Event) {
		if ev.ID == "gate" {
			g.handle(ev)
			return
		}
		r.handle(ev)
	}, WithConcurrency(1), WithBuffer(2, Block))
	b.Publish(Event{ID: "gate", Type: "x"})
	receive(t, g.began)
	// Two fill the buffer, three more are set aside and fill the queue.
	for i := 0; i < 5; i++ {
		require.NoError(t, b.PublishContext(context.Background(), Event{ID: fmt.Sprint(i), Type: "x"}))
	}
	waitSub(t, s, func(st SubscriptionStats) bool { return st.Matched == 6 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := b.PublishContext(ctx, Event{ID: "late", Type: "x"})
	require.ErrorIs(t, err, context.DeadlineExceeded, "the set-aside deliveries fill the queue")
	g.release()
	waitIdle(t, b)
	assert.Equal(t, []string{"0", "1", "2", "3", "4"}, r.ids())
	st := s.Stats()
	assert.Zero(t, st.Dropped)
	m := requireAccounted(t, b)
	assert.EqualValues(t, 1, m.Drops.Context)
}

// On a bus whose policy drops, the deliveries a Block buffer sets aside
// take room in the queue like events, and the policy picks among them by
// its rule: a High event is not refused for Low deliveries set aside, and
// DropOldest drops the oldest of them rather than the new event. The
// dropped delivery's event, which never reached a handler, is dropped at
// the event level too.
func TestThePolicyPicksAmongSetAsideDeliveries(t *testing.T) {
	for _, policy := range []DropPolicy{DropLowPri, DropOldest} {
		t.Run(policy.String(), func(t *testing.T) {
			var drops, subDrops dropLog
			b := newBus(t, Config{Workers: 3, QueueSize: 2, BackpressureMode: policy, EnablePriority: true,
				OnDrop: drops.onDrop})
			tui := newGate(t)
			var r recorder
			s := b.On(LogLine, func(ev Event) {
				if ev.ID == "L1" {
					tui.handle(ev)
				}
				r.handle(ev)
			}, WithConcurrency(1), WithBuffer(1, Block), WithOnDrop(subDrops.onDrop))
			alerts := make(chan Event, 1)
			b.On(ProcessExited, func(ev Event) { alerts <- ev })

			b.Publish(Event{ID: "L1", Type: LogLine})
			receive(t, tui.began)
			for i, id := range []string{"L2", "L3", "L4"} { // one buffered, two set aside
				b.Publish(Event{ID: id, Type: LogLine})
				waitSub(t, s, func(st SubscriptionStats) bool { return st.Matched == int64(i+2) })
			}
			require.NoError(t, b.PublishWithBackpressure(Event{ID: "H1", Type: ProcessExited}, PriorityHigh))
			assert.Equal(t, "H1", receive(t, alerts).ID)
			ids, reasons := drops.snapshot()
			assert.Equal(t, []string{"L2"}, ids, "the oldest of the lowest level waiting")
			assert.Equal(t, []error{ErrQueueFull}, reasons)
			ids, reasons = subDrops.snapshot()
			assert.Equal(t, []string{"L2"}, ids)
			assert.Equal(t, []error{ErrQueueFull}, reasons)

			tui.release()
			waitIdle(t, b)
			assert.Equal(t, []string{"L1", "L3", "L4"}, r.ids())
			st := s.Stats()
			assert.EqualValues(t, 4, st.Matched)
			assert.EqualValues(t, 1, st.Dropped)
			m := requireAccounted(t, b)
			assert.EqualValues(t, 1, m.EventsDropped)
		})
	}
}

// A buffer without WithConcurrency has no effect: every delivery runs.
func TestBufferWithoutLimitHasNoEffect(t *testing.T) {
	b := newBus(t, Config{Workers: 1, QueueSize: 100})
	release := holdWorker(t, b)
	var r recorder
	b.On("x", r.handle, WithBuffer(1, DropNewest))
	for i := 0; i < 10; i++ {
		b.Publish(Event{Type: "x"})
	}
	release()
	waitIdle(t, b)
	assert.Equal(t, 10, r.len())
}
