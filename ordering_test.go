package eventbus

import (
	"context"
	"fmt"
	"runtime"
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
			r, release := stuckOnA1(t, b)
			b.Publish(Event{ID: "A2", Type: LogLine, ProcessID: "A"}) // waits behind A1
			b.Publish(Event{ID: "B1", Type: LogLine, ProcessID: "B"})
			b.Publish(Event{ID: "C1", Type: LogLine, ProcessID: "C"}) // the queue is full
			ids, reasons := drops.snapshot()
			assert.Equal(t, []string{"A2"}, ids, "the oldest queued event is dropped")
			assert.Equal(t, []error{ErrQueueFull}, reasons)
			release()
			waitIdle(t, b)
			assert.Equal(t, []string{"A1", "B1", "C1"}, r.ids())
			requireAccounted(t, b)
		})
	}
}

// With a second worker free, an event waiting behind its key leaves the
// queue for its key's stream; it still counts as queued, and the policy
// still picks it by its rule.
func TestDropPoliciesSeeEventsParkedBehindTheirKey(t *testing.T) {
	for _, policy := range []DropPolicy{DropOldest, DropLowPri} {
		t.Run(policy.String(), func(t *testing.T) {
			var drops dropLog
			b := newBus(t, Config{Workers: 2, QueueSize: 2, BackpressureMode: policy, ReservedWorkers: -1,
				EnablePriority: true, OrderingKey: OrderByProcessID, OnDrop: drops.onDrop})
			hold := newGate(t)
			b.Subscribe(BuildEvent, hold.handle)
			r, release := stuckOnA1(t, b)
			b.Publish(Event{ID: "A2", Type: LogLine, ProcessID: "A"})
			waitInLanes(t, b, 1) // the free worker moved A2 behind A1
			b.Publish(Event{ID: "G", Type: BuildEvent})
			receive(t, hold.began) // and is held now, so the rest stays queued
			b.Publish(Event{ID: "B1", Type: LogLine, ProcessID: "B"})
			b.Publish(Event{ID: "C1", Type: LogLine, ProcessID: "C"}) // the queue is full
			ids, reasons := drops.snapshot()
			assert.Equal(t, []string{"A2"}, ids, "the oldest waiting event is dropped")
			assert.Equal(t, []error{ErrQueueFull}, reasons)
			release()
			hold.release()
			waitIdle(t, b)
			assert.ElementsMatch(t, []string{"A1", "B1", "C1"}, r.ids())
			requireAccounted(t, b)
		})
	}
}

// Events waiting behind their key take room in the queue: a Block bus's
// publishers wait for it instead of filling memory behind a stuck key.
func TestBlockWaitsForRoomBehindAStuckKey(t *testing.T) {
	b := newBus(t, Config{Workers: 2, QueueSize: 2, BackpressureMode: Block, OrderingKey: OrderByProcessID})
	r, release := stuckOnA1(t, b)
	for i := 2; i <= 3; i++ {
		b.Publish(Event{ID: fmt.Sprint("A", i), Type: LogLine, ProcessID: "A"})
		waitInLanes(t, b, i-1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := b.PublishContext(ctx, Event{ID: "A4", Type: LogLine, ProcessID: "A"})
	require.ErrorIs(t, err, context.DeadlineExceeded, "A2 and A3 fill the queue while they wait for A1")

	done := make(chan error, 1)
	go func() { done <- b.PublishContext(context.Background(), Event{ID: "A5", Type: LogLine, ProcessID: "A"}) }()
	require.Eventually(t, func() bool { return b.Metrics().PublishersWaiting == 1 }, testTimeout, time.Millisecond)
	release()
	require.NoError(t, receive(t, done), "room is made as the key's events run")
	waitIdle(t, b)
	assert.Equal(t, []string{"A1", "A2", "A3", "A5"}, r.ids())
	requireAccounted(t, b)
}

// stuckOnA1 subscribes a recorder of log lines whose handler blocks on the
// line "A1" of process A, publishes that line and waits until its handler
// runs. release lets it return.
func stuckOnA1(t testing.TB, b *EventBus) (*recorder, func()) {
	t.Helper()
	r := new(recorder)
	started := make(chan struct{})
	g := newGate(t)
	b.Subscribe(LogLine, func(ev Event) {
		if ev.ID == "A1" {
			close(started)
			<-g.open
		}
		r.handle(ev)
	})
	b.Publish(Event{ID: "A1", Type: LogLine, ProcessID: "A"})
	receive(t, started)
	return r, g.release
}

// waitInLanes waits until n deliveries wait in ordered streams.
func waitInLanes(t testing.TB, b *EventBus, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		b.q.mu.Lock()
		defer b.q.mu.Unlock()
		parked := 0
		for _, p := range b.q.lanes.parked {
			parked += p
		}
		return parked == n
	}, testTimeout, 100*time.Microsecond)
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

// keyedChecker is a handler that checks, per key, that events arrive one at
// a time with strictly increasing sequence numbers.
type keyedChecker struct {
	t       testing.TB
	mu      sync.Mutex
	last    map[string]int
	running map[string]int
	handled atomic.Int64
}

func newKeyedChecker(t testing.TB) *keyedChecker {
	return &keyedChecker{t: t, last: map[string]int{}, running: map[string]int{}}
}

func (c *keyedChecker) handle(ev Event) {
	key, seq := ev.ProcessID, ev.Data["seq"].(int)
	c.mu.Lock()
	c.running[key]++
	if c.running[key] > 1 {
		c.t.Errorf("key %s: two events handled at once", key)
	}
	if last, ok := c.last[key]; ok && seq <= last {
		c.t.Errorf("key %s: seq %d after %d", key, seq, last)
	}
	c.last[key] = seq
	c.mu.Unlock()
	runtime.Gosched() // give another worker the chance to break the order
	c.mu.Lock()
	c.running[key]--
	c.mu.Unlock()
	c.handled.Add(1)
}

// publishKeyed has publishers each own keys/publishers keys and publish
// each key's events in sequence, interleaving their keys.
func publishKeyed(b *EventBus, publishers, keys, perKey int) {
	var wg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; seq < perKey; seq++ {
				for k := p; k < keys; k += publishers {
					b.Publish(Event{Type: LogLine, ProcessID: fmt.Sprintf("proc-%d", k),
						Data: map[string]interface{}{"seq": seq}})
				}
			}
		}()
	}
	wg.Wait()
}

func TestOrderingPerKey(t *testing.T) {
	keys, perKey := 64, 10_000
	if raceEnabled || testing.Short() {
		perKey = 1_000
	}
	b := newBus(t, Config{Workers: 4, QueueSize: 256, BackpressureMode: Block,
		EnablePriority: true, OrderingKey: OrderByProcessID})
	c := newKeyedChecker(t)
	b.Subscribe(LogLine, c.handle)
	publishKeyed(b, 8, keys, perKey)
	waitIdle(t, b)
	assert.EqualValues(t, keys*perKey, c.handled.Load())
	for k := 0; k < keys; k++ {
		assert.Equal(t, perKey-1, c.last[fmt.Sprintf("proc-%d", k)])
	}
	requireAccounted(t, b)
	assert.Zero(t, lanesAfterShutdown(t, b), "idle keys hold no memory")
}

func TestOrderingSurvivesDrops(t *testing.T) {
	for _, policy := range []DropPolicy{DropOldest, DropNewest, DropLowPri} {
		t.Run(policy.String(), func(t *testing.T) {
			b := newBus(t, Config{Workers: 3, QueueSize: 8, BackpressureMode: policy,
				EnablePriority: true, OrderingKey: OrderByProcessID})
			c := newKeyedChecker(t)
			b.Subscribe(LogLine, c.handle)
			publishKeyed(b, 4, 8, 2000)
			// A dropped event must not stall its key: WaitIdle returns.
			waitIdle(t, b)
			m := requireAccounted(t, b)
			assert.Positive(t, m.EventsDropped)
			assert.Equal(t, c.handled.Load(), m.EventsProcessed)
			assert.Zero(t, lanesAfterShutdown(t, b))
		})
	}
}

// Ordering holds within a key and a level: a process's High event is not
// held back behind its own backlog of Low log lines.
func TestOrderingIsPerLevel(t *testing.T) {
	b := newBus(t, Config{Workers: 2, QueueSize: 100, EnablePriority: true,
		OrderingKey: OrderByProcessID, ReservedWorkers: -1})
	var r recorder
	block := make(chan struct{})
	started := make(chan struct{}, 1)
	b.Subscribe(LogLine, func(ev Event) {
		if ev.ID == "L0" {
			started <- struct{}{}
			<-block
		}
		r.handle(ev)
	})
	b.Subscribe(ProcessExited, r.handle)
	b.Publish(Event{ID: "L0", Type: LogLine, ProcessID: "web"})
	receive(t, started)
	for i := 1; i <= 5; i++ {
		b.Publish(Event{ID: fmt.Sprintf("L%d", i), Type: LogLine, ProcessID: "web"})
	}
	b.Publish(Event{ID: "exit", Type: ProcessExited, ProcessID: "web"})
	// The second worker is free: it takes the exit although L0 of the
	// same process is still running, while L1..L5 wait for L0.
	require.Eventually(t, func() bool { return r.len() == 1 }, testTimeout, time.Millisecond)
	assert.Equal(t, []string{"exit"}, r.ids())
	close(block)
	waitIdle(t, b)
	assert.Equal(t, []string{"exit", "L0", "L1", "L2", "L3", "L4", "L5"}, r.ids())
}

// A million distinct keys over time cost no more memory than the busiest
// moment: a key's lane goes when its events do.
func TestIdleKeysReleaseTheirMemory(t *testing.T) {
	keys := 1_000_000
	if raceEnabled || testing.Short() {
		keys = 100_000
	}
	b := newBus(t, Config{Workers: 2, QueueSize: 64, BackpressureMode: Block, OrderingKey: OrderByProcessID})
	b.Subscribe(LogLine, func(Event) {})
	ids := make([]string, 4096) // reused so the test itself allocates little
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < keys; i++ {
		if i < len(ids) {
			ids[i] = fmt.Sprint("k", i)
		}
		key := ids[i%len(ids)]
		if i >= len(ids) {
			key = fmt.Sprint("k", i) // a new key each time
		}
		b.Publish(Event{ID: "x", Timestamp: clockBase, Type: LogLine, ProcessID: key})
	}
	waitIdle(t, b)
	assert.Zero(t, lanesAfterShutdown(t, b))
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	assert.Less(t, grown, int64(4<<20), "heap grew by %d bytes over %d keys", grown, keys)
	requireAccounted(t, b)
}
