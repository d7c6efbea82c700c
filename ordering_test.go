package eventbus

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An event waiting behind an earlier event of its key is queued like any
// other: the drop policies pick among all queued events by their rule, so
// DropOldest and DropLowPri drop it when it is the oldest.
func TestDropPoliciesSeeEventsWaitingForTheirKey(t *testing.T) {
	for _, policy := range []DropPolicy{DropOldest, DropLowPri} {
		t.Run(policy.String(), func(t *testing.T) {
			var drops dropLog
			b := newBus(t, Config{Workers: 1, QueueSize: 2, BackpressureMode: policy,
				EnablePriority: true, OrderingKey: OrderByProcessID, OnDrop: drops.onDrop})
			var r recorder
			started, release := make(chan struct{}), make(chan struct{})
			b.Subscribe(LogLine, func(ev Event) {
				if ev.ID == "A1" {
					close(started)
					<-release
				}
				r.handle(ev)
			})
			b.Publish(Event{ID: "A1", Type: LogLine, ProcessID: "A"})
			receive(t, started)
			b.Publish(Event{ID: "A2", Type: LogLine, ProcessID: "A"}) // waits behind A1
			b.Publish(Event{ID: "B1", Type: LogLine, ProcessID: "B"})
			b.Publish(Event{ID: "C1", Type: LogLine, ProcessID: "C"}) // the queue is full
			ids, reasons := drops.snapshot()
			assert.Equal(t, []string{"A2"}, ids, "the oldest queued event is dropped")
			assert.Equal(t, []error{ErrQueueFull}, reasons)
			close(release)
			waitIdle(t, b)
			assert.Equal(t, []string{"A1", "B1", "C1"}, r.ids())
			requireAccounted(t, b)
		})
	}
}

// A key's waiting events and a worker's batch never hold other keys'
// events behind a stuck handler while a worker is free.
func TestAStuckKeyDoesNotStallOtherKeys(t *testing.T) {
	const keys, perKey = 8, 1000
	b := newBus(t, Config{Workers: 2, QueueSize: 64, BackpressureMode: Block,
		EnablePriority: true, OrderingKey: OrderByProcessID})
	var others atomic.Int64
	allOthers := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	b.Subscribe("work", func(ev Event) {
		if ev.ProcessID == "k7" {
			if ev.Data["seq"].(int) == 10 {
				<-release
			}
			return
		}
		if others.Add(1) == (keys-1)*perKey {
			close(allOthers)
		}
	})
	// Publish from one goroutine per key, as processes print, so that
	// k7's backlog waits in its lane while the others go on.
	var wg sync.WaitGroup
	for k := 0; k < keys; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; seq < perKey; seq++ {
				if k == 7 && seq > 10 {
					return // k7's later events would only fill the queue under Block
				}
				b.Publish(Event{Type: "work", ProcessID: fmt.Sprintf("k%d", k), Data: map[string]interface{}{"seq": seq}})
			}
		}()
	}
	select {
	case <-allOthers:
	case <-time.After(testTimeout):
		t.Fatalf("only %d of the other keys' %d events were handled while k7 was stuck", others.Load(), (keys-1)*perKey)
	}
	once.Do(func() { close(release) })
	wg.Wait()
	waitIdle(t, b)
	requireAccounted(t, b)
}

// Ordering holds per (key, level, subscription): a subscription stuck on
// one event of a key holds back only its own later deliveries of that
// key; other subscriptions get the key's events in order meanwhile, and
// the stuck one gets other keys'.
func TestOrderingIsPerSubscription(t *testing.T) {
	b := newBus(t, Config{Workers: 3, QueueSize: 100, EnablePriority: true, OrderingKey: OrderByProcessID})
	g := newGate(t)
	var stuck, other recorder
	b.On(BuildEvent, func(ev Event) {
		if ev.ID == "p1-0" {
			g.handle(ev)
		}
		stuck.handle(ev)
	})
	b.On(BuildEvent, other.handle)
	for i := 0; i < 5; i++ {
		for _, p := range []string{"p1", "p2"} {
			b.Publish(Event{ID: fmt.Sprintf("%s-%d", p, i), Type: BuildEvent, ProcessID: p})
		}
	}
	receive(t, g.began)
	require.Eventually(t, func() bool { return other.len() == 10 && stuck.len() == 5 }, testTimeout, time.Millisecond)
	assert.Equal(t, []string{"p2-0", "p2-1", "p2-2", "p2-3", "p2-4"}, stuck.ids(), "the stuck subscription gets other keys")
	assert.Equal(t, []string{"p1-0", "p1-1", "p1-2", "p1-3", "p1-4"}, keyOrder(other.ids(), "p1"))
	assert.Equal(t, []string{"p2-0", "p2-1", "p2-2", "p2-3", "p2-4"}, keyOrder(other.ids(), "p2"))
	g.release()
	waitIdle(t, b)
	assert.Equal(t, []string{"p1-0", "p1-1", "p1-2", "p1-3", "p1-4"}, keyOrder(stuck.ids(), "p1"))
	requireAccounted(t, b)
	assert.Zero(t, lanesAfterShutdown(t, b))
}

func keyOrder(ids []string, key string) []string {
	var out []string
	for _, id := range ids {
		if len(id) > len(key) && id[:len(key)] == key {
			out = append(out, id)
		}
	}
	return out
}
