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

// seqLog records the "n" of the events its handler receives.
type seqLog struct {
	mu sync.Mutex
	ns []int
}

func (l *seqLog) handle(ev Event) {
	l.mu.Lock()
	l.ns = append(l.ns, ev.Data["n"].(int))
	l.mu.Unlock()
}

func (l *seqLog) snapshot() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.ns...)
}

// requireContiguous fails unless ns is first, first+1, ..., last.
func requireContiguous(t testing.TB, ns []int, last int) {
	t.Helper()
	require.NotEmpty(t, ns)
	for i := 1; i < len(ns); i++ {
		if ns[i] != ns[i-1]+1 {
			t.Fatalf("hole or duplicate at %d: %d after %d (of %d events)", i, ns[i], ns[i-1], len(ns))
		}
	}
	require.Equal(t, last, ns[len(ns)-1])
}

// A subscription made while a publisher keeps publishing gets the latest
// retained events, then the live ones: one contiguous sequence, no hole,
// no duplicate.
func TestReplayHandsOverWithoutHoleOrDuplicate(t *testing.T) {
	rounds := 40
	if raceEnabled || testing.Short() {
		rounds = 15
	}
	for r := 0; r < rounds; r++ {
		b := newBus(t, Config{Workers: 4, QueueSize: 64, BackpressureMode: Block, EnablePriority: true,
			Retain: map[EventType]int{LogLine: 100, BuildEvent: 100}})
		stop, ready, finished := make(chan struct{}), make(chan struct{}), make(chan struct{})
		go func() {
			defer close(finished)
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				// Two types, two levels: the replay follows admission
				// order, not priority.
				typ := LogLine
				if n%3 == 0 {
					typ = BuildEvent
				}
				b.Publish(Event{Type: typ, Data: map[string]interface{}{"n": n}})
				if n == 500 {
					close(ready) // enough history: the test subscribes now
				}
			}
		}()
		<-ready
		var log seqLog
		s := b.OnTypes([]EventType{LogLine, BuildEvent}, log.handle, WithReplay(50))
		for len(log.snapshot()) < 200 {
			runtime.Gosched()
		}
		close(stop)
		<-finished
		waitIdle(t, b)
		ns := log.snapshot()
		requireContiguous(t, ns, ns[len(ns)-1])
		require.GreaterOrEqual(t, len(ns), 200)
		st := s.Stats()
		require.EqualValues(t, len(ns), st.Delivered)
		require.Zero(t, st.Missed)
		m := requireAccounted(t, b)
		require.Equal(t, m.EventsPublished, m.EventsProcessed, "replays are not published events")
		b.Shutdown()
	}
}

// Resuming after an ID still retained: the events after it, then live
// ones; nothing was missed.
func TestReplayAfterARecentID(t *testing.T) {
	b := newBus(t, Config{Workers: 2, Retain: map[EventType]int{LogLine: 100}, BackpressureMode: Block})
	var ids []string
	for n := 0; n < 100; n++ {
		ev := Event{Type: LogLine, Data: map[string]interface{}{"n": n}}
		ev.ID = b.ids.next() // as Publish would, but known to the test
		ids = append(ids, ev.ID)
		b.Publish(ev)
	}
	waitIdle(t, b)
	var log seqLog
	s := b.On(LogLine, log.handle, WithReplayAfter(ids[60]))
	b.Publish(Event{Type: LogLine, Data: map[string]interface{}{"n": 100}})
	waitIdle(t, b)
	ns := log.snapshot()
	assert.Equal(t, 61, ns[0])
	requireContiguous(t, ns, 100)
	assert.Zero(t, s.Stats().Missed)
}

// Resuming after an ID whose successors partly left the ring: the rest
// arrive in order, and Missed counts exactly the events lost in between.
func TestReplayAfterAnIDWhoseSuccessorsLeftTheRing(t *testing.T) {
	b := newBus(t, Config{Workers: 2, Retain: map[EventType]int{LogLine: 10}, BackpressureMode: Block})
	var ids []string
	for n := 0; n < 100; n++ {
		ev := Event{Type: LogLine, Data: map[string]interface{}{"n": n}}
		ev.ID = b.ids.next()
		ids = append(ids, ev.ID)
		b.Publish(ev)
	}
	waitIdle(t, b)
	var log seqLog
	s := b.On(LogLine, log.handle, WithReplayAfter(ids[50]))
	waitIdle(t, b)
	assert.Equal(t, []int{90, 91, 92, 93, 94, 95, 96, 97, 98, 99}, log.snapshot())
	assert.EqualValues(t, 39, s.Stats().Missed, "51 to 89")

	// Another type published in between makes the count an upper bound.
	b2 := newBus(t, Config{Workers: 2, Retain: map[EventType]int{LogLine: 5}, BackpressureMode: Block})
	var first string
	for n := 0; n < 20; n++ {
		ev := Event{Type: LogLine, Data: map[string]interface{}{"n": n}}
		ev.ID = b2.ids.next()
		if n == 0 {
			first = ev.ID
		}
		b2.Publish(ev)
		b2.Publish(Event{Type: BuildEvent}) // not retained, not subscribed to
	}
	waitIdle(t, b2)
	var log2 seqLog
	s2 := b2.On(LogLine, log2.handle, WithReplayAfter(first))
	waitIdle(t, b2)
	assert.Equal(t, []int{15, 16, 17, 18, 19}, log2.snapshot())
	missed := s2.Stats().Missed
	assert.GreaterOrEqual(t, missed, int64(14), "at least the 14 log lines lost")
	assert.LessOrEqual(t, missed, int64(2*14+1), "at most every event published in between")
}

// An ID the bus did not make and does not retain: everything retained is
// replayed, and Missed stays 0.
func TestReplayAfterAnUnknownID(t *testing.T) {
	b := newBus(t, Config{Workers: 1, Retain: map[EventType]int{LogLine: 5}, BackpressureMode: Block})
	for n := 0; n < 8; n++ {
		b.Publish(Event{Type: LogLine, Data: map[string]interface{}{"n": n}})
	}
	waitIdle(t, b)
	for _, id := range []string{"not-an-id", "zzzzzzzz-000000000001", b.ids.next()[:8] + "-zzzzzzzzzzzz"} {
		var log seqLog
		s := b.On(LogLine, log.handle, WithReplayAfter(id))
		waitIdle(t, b)
		assert.Equal(t, []int{3, 4, 5, 6, 7}, log.snapshot(), id)
		assert.Zero(t, s.Stats().Missed)
		s.Unsubscribe()
	}
	// An ID the bus made that is still retained by value: found by value,
	// also when set by the publisher.
	b.Publish(Event{ID: "bridge-42", Type: LogLine, Data: map[string]interface{}{"n": 8}})
	b.Publish(Event{Type: LogLine, Data: map[string]interface{}{"n": 9}})
	waitIdle(t, b)
	var log seqLog
	b.On(LogLine, log.handle, WithReplayAfter("bridge-42"))
	waitIdle(t, b)
	assert.Equal(t, []int{9}, log.snapshot())
}

// An ID the bus made but has not handed out yet is not an ID of its own:
// the subscription replays everything, as for any unknown ID.
func TestReplayAfterAnIDNeverIssued(t *testing.T) {
	b := newBus(t, Config{Workers: 1, Retain: map[EventType]int{LogLine: 5}})
	for n := 0; n < 3; n++ {
		b.Publish(Event{Type: LogLine, Data: map[string]interface{}{"n": n}})
	}
	waitIdle(t, b)
	id := b.ids.next()
	forged := id[:idPrefixLen] + "0000000000vv" // the bus's prefix; number 1023
	_, ours := b.ids.seqOf(forged)
	require.False(t, ours)
	var log seqLog
	s := b.On(LogLine, log.handle, WithReplayAfter(forged))
	waitIdle(t, b)
	assert.Equal(t, []int{0, 1, 2}, log.snapshot())
	assert.Zero(t, s.Stats().Missed)
}

// The retention buffers keep events in admission order, which differs
// from the order of their IDs when a publisher took its ID before another
// but was admitted after it (it waited for room, say). A client resuming
// after an ID that has just left the buffer still gets exactly the events
// admitted after it; so it does when the events after it carry IDs their
// publisher set, and Missed counts those that left.
func TestReplayAfterAnIDThatLeftTheRingRecently(t *testing.T) {
	b := newBus(t, Config{Workers: 1, Retain: map[EventType]int{LogLine: 2}})
	idZ, idY := b.ids.next(), b.ids.next() // Z took its ID first...
	b.Publish(Event{ID: idY, Type: LogLine, Data: map[string]interface{}{"n": 0}})
	b.Publish(Event{ID: idZ, Type: LogLine, Data: map[string]interface{}{"n": 1}}) // ...but came after Y
	b.Publish(Event{Type: LogLine, Data: map[string]interface{}{"n": 2}})          // Y leaves the ring
	waitIdle(t, b)
	var log seqLog
	s := b.On(LogLine, log.handle, WithReplayAfter(idY))
	waitIdle(t, b)
	assert.Equal(t, []int{1, 2}, log.snapshot(), "Z was admitted after Y")
	assert.Zero(t, s.Stats().Missed)

	b2 := newBus(t, Config{Workers: 1, Retain: map[EventType]int{LogLine: 3}})
	var seen []string
	rec := b2.On(LogLine, func(ev Event) { seen = append(seen, ev.ID) })
	b2.Publish(Event{Type: LogLine, Data: map[string]interface{}{"n": 0}})
	waitIdle(t, b2)
	rec.Unsubscribe()
	for n := 1; n <= 4; n++ { // the first two leave the ring
		b2.Publish(Event{ID: fmt.Sprint("bridge-", n), Type: LogLine, Data: map[string]interface{}{"n": n}})
	}
	waitIdle(t, b2)
	var log2 seqLog
	s2 := b2.On(LogLine, log2.handle, WithReplayAfter(seen[0]))
	waitIdle(t, b2)
	assert.Equal(t, []int{2, 3, 4}, log2.snapshot())
	assert.EqualValues(t, 1, s2.Stats().Missed, "bridge-1 left the ring")
}

// An ID the bus no longer remembers (it left the ring long ago, or its
// type is not retained) is placed by the IDs admitted since: everything
// admitted after it is replayed, also an event that took its ID before it
// but was admitted after it.
func TestReplayAfterAnIDThatLeftLongAgo(t *testing.T) {
	b := newBus(t, Config{Workers: 1, Retain: map[EventType]int{LogLine: 2}})
	var seen []string
	rec := b.On(BuildEvent, func(ev Event) { seen = append(seen, ev.ID) })
	b.Publish(Event{Type: LogLine, Data: map[string]interface{}{"n": 0}})
	idZ := b.ids.next()
	b.Publish(Event{Type: BuildEvent}) // not retained: the ID to resume after
	b.Publish(Event{Type: LogLine, Data: map[string]interface{}{"n": 1}})
	b.Publish(Event{ID: idZ, Type: LogLine, Data: map[string]interface{}{"n": 2}})
	b.Publish(Event{Type: LogLine, Data: map[string]interface{}{"n": 3}}) // lines 0 and 1 have left
	waitIdle(t, b)
	rec.Unsubscribe()
	var log seqLog
	s := b.On(LogLine, log.handle, WithReplayAfter(seen[0]))
	waitIdle(t, b)
	assert.Equal(t, []int{2, 3}, log.snapshot(), "line 2 took its ID first but came after")
	assert.EqualValues(t, 1, s.Stats().Missed, "line 1 left the ring")
}

// A replayed event meets the subscription's filter like a live one: a
// refused event is neither called nor matched.
func TestReplayMeetsTheFilter(t *testing.T) {
	var panics atomic.Int32
	b := newBus(t, Config{Workers: 2, Retain: map[EventType]int{LogLine: 10},
		OnPanic: func(Event, any, []byte) { panics.Add(1) }})
	procs := []string{"api", "web", "db"}
	for n := 0; n < 6; n++ {
		b.Publish(Event{Type: LogLine, ProcessID: procs[n%3], Data: map[string]interface{}{"n": n}})
	}
	waitIdle(t, b)
	var log seqLog
	s := b.On(LogLine, log.handle, WithReplay(10), WithFilter(func(ev Event) bool {
		if ev.ProcessID == "db" {
			panic("a filter that fails refuses")
		}
		return ev.ProcessID == "api"
	}))
	waitIdle(t, b)
	assert.Equal(t, []int{0, 3}, log.snapshot())
	assert.EqualValues(t, 2, panics.Load())
	st := s.Stats()
	assert.EqualValues(t, 2, st.Matched)
	assert.EqualValues(t, 2, st.Delivered)
	assert.Zero(t, st.Pending)

	ch := b.Chan(context.Background(), 10, DropNewest, []EventType{LogLine}, WithReplay(10),
		WithFilter(func(ev Event) bool { return ev.ProcessID == "web" }))
	assert.Equal(t, 1, (<-ch).Data["n"])
	assert.Equal(t, 4, (<-ch).Data["n"])
	waitIdle(t, b)
	assert.Empty(t, ch)
}

// A publisher waiting for room holds an event routed before a replaying
// subscription existed, and not retained yet: the subscription must get it
// all the same, live, once, after the replayed ones.
func TestReplayGetsTheEventsOfWaitingPublishers(t *testing.T) {
	for _, cfg := range []Config{
		{Workers: 1, QueueSize: 1, BackpressureMode: Block},
		{Workers: 1, QueueSize: 1, BackpressureMode: DropNewest, TimeoutDuration: time.Minute},
	} {
		cfg.Retain = map[EventType]int{LogLine: 10}
		b := newBus(t, cfg)
		b.Subscribe(LogLine, func(Event) {})
		release := holdWorker(t, b)
		b.Publish(Event{Type: LogLine, Data: map[string]interface{}{"n": 0}}) // fills the queue
		published := make(chan error, 1)
		go func() {
			published <- b.PublishContext(context.Background(), Event{Type: LogLine, Data: map[string]interface{}{"n": 1}})
		}()
		require.Eventually(t, func() bool { return b.Metrics().PublishersWaiting == 1 }, testTimeout, time.Millisecond)
		var log seqLog
		s := b.On(LogLine, log.handle, WithReplay(10))
		release()
		require.NoError(t, receive(t, published))
		waitIdle(t, b)
		assert.Equal(t, []int{0, 1}, log.snapshot(), "%v", cfg.BackpressureMode)
		assert.EqualValues(t, 2, s.Stats().Delivered)
		requireAccounted(t, b)
		b.Shutdown()
	}
}

// Replayed events that wait for the subscription's filter are not matched
// yet, but the subscription's figures are not final while any wait: a
// subscription that ends with them waiting is added to the totals of its
// name only once they are all counted.
func TestEndedReplayingFilteredSubscriptionIsTotalledWhole(t *testing.T) {
	b := newBus(t, Config{Workers: 1, Retain: map[EventType]int{LogLine: 50}})
	for n := 0; n < 50; n++ {
		b.Publish(Event{Type: LogLine, Data: map[string]interface{}{"n": n}})
	}
	waitIdle(t, b)
	release := holdWorker(t, b) // the replays stay in the mailbox
	s := b.On(LogLine, func(Event) {}, WithName("resumed"), WithReplay(50),
		WithFilter(func(Event) bool { return true }))
	s.Unsubscribe() // drops the 50 waiting replays
	release()
	waitIdle(t, b)
	receive(t, s.Done())
	st := s.Stats()
	assert.EqualValues(t, 50, st.Matched)
	assert.EqualValues(t, 50, st.Dropped)
	var total SubscriptionStats
	for _, tot := range b.Metrics().SubscriptionTotals() {
		if tot.Name == "resumed" {
			total = tot
		}
	}
	assert.EqualValues(t, 50, total.Matched, "%+v", total)
	assert.EqualValues(t, 50, total.Dropped, "%+v", total)
}

// Events no one was subscribed to are retained; events the bus refused
// are not; WaitIdle waits for the replayed deliveries.
func TestRetainedMeansAccepted(t *testing.T) {
	b := newBus(t, Config{Workers: 1, Retain: map[EventType]int{ProcessExited: 10}})
	b.Publish(Event{Type: ProcessExited, Data: map[string]interface{}{"n": 1}}) // no subscriber yet
	require.ErrorIs(t, b.PublishWithBackpressure(Event{Type: ProcessExited, Data: map[string]interface{}{"n": 99}}, 0), ErrInvalidPriority)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	require.Error(t, b.PublishContext(done, Event{Type: ProcessExited, Data: map[string]interface{}{"n": 98}}))
	var calls atomic.Int64
	var log seqLog
	b.On(ProcessExited, func(ev Event) {
		time.Sleep(time.Millisecond) // the replay takes a while
		calls.Add(1)
		log.handle(ev)
	}, WithReplay(10))
	waitIdle(t, b)
	assert.EqualValues(t, 1, calls.Load(), "WaitIdle waited for the replay")
	assert.Equal(t, []int{1}, log.snapshot())
}

// A million events through a ring of 1,000 leave the heap where it was,
// and retention starts no goroutine.
func TestRetentionIsBounded(t *testing.T) {
	events := 1_000_000
	if raceEnabled || testing.Short() {
		events = 100_000
	}
	b := newBus(t, Config{Workers: 2, Retain: map[EventType]int{LogLine: 1000}})
	data := func(n int) map[string]interface{} { return map[string]interface{}{"n": n, "line": "some log output"} }
	for n := 0; n < 2000; n++ {
		b.Publish(Event{Type: LogLine, Data: data(n)}) // fill the ring first
	}
	g0 := runtime.NumGoroutine()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for n := 0; n < events; n++ {
		b.Publish(Event{Type: LogLine, Data: data(n)})
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	assert.Less(t, int64(after.HeapInuse)-int64(before.HeapInuse), int64(2<<20), "heap grew by %d", int64(after.HeapInuse)-int64(before.HeapInuse))
	assert.LessOrEqual(t, runtime.NumGoroutine(), g0)
	var log seqLog
	b.On(LogLine, log.handle, WithReplay(1000))
	waitIdle(t, b)
	assert.Len(t, log.snapshot(), 1000)
	assert.Equal(t, events-1, log.snapshot()[999])
}

// Unsubscribe, WithContext and Shutdown during a replay behave as for any
// subscription; the identities hold.
func TestEndingDuringAReplay(t *testing.T) {
	b := newBus(t, Config{Workers: 2, Retain: map[EventType]int{LogLine: 100}})
	for n := 0; n < 100; n++ {
		b.Publish(Event{Type: LogLine, Data: map[string]interface{}{"n": n}})
	}
	waitIdle(t, b)
	g := newGate(t)
	var hook dropLog
	s := b.On(LogLine, g.handle, WithReplay(100), WithOnDrop(hook.onDrop))
	receive(t, g.began)
	s.Unsubscribe()
	ids, _ := hook.snapshot()
	assert.Len(t, ids, 99, "the replay not yet delivered is dropped")
	g.release()
	receive(t, s.Done())
	st := s.Stats()
	assert.Equal(t, SubscriptionStats{Types: []EventType{LogLine}, Matched: 100, Delivered: 1, Dropped: 99}, st)
	waitIdle(t, b)
	requireAccounted(t, b)

	ctx, cancel := context.WithCancel(context.Background())
	ch := b.Chan(ctx, 1, Block, []EventType{LogLine}, WithReplay(100))
	<-ch
	cancel()
	for range ch {
	}
	waitIdle(t, b)
	requireAccounted(t, b)
}

func TestReplayOptionsPanic(t *testing.T) {
	b := newBus(t, Config{Workers: 1})
	h := func(Event) {}
	for name, call := range map[string]func(){
		"WithReplay(0)":      func() { b.On("x", h, WithReplay(0)) },
		"WithReplayAfter":    func() { b.On("x", h, WithReplayAfter("")) },
		"do not combine":     func() { b.On("x", h, WithReplay(1), WithCoalesce(0, nil)) },
		"WithConcurrency(2)": func() { b.On("x", h, WithReplay(1), WithConcurrency(2)) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				r := recover()
				require.NotNil(t, r)
				assert.Contains(t, fmt.Sprint(r), name)
			}()
			call()
		})
	}
	_, err := NewEventBus(Config{Retain: map[EventType]int{LogLine: 0}})
	assert.ErrorIs(t, err, ErrInvalidConfig)
	assert.Contains(t, err.Error(), "Retain")
}
