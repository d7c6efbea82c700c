package eventbus

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Slow handlers run one event per batch, so a High event that arrives while
// Low events queue waits for one handler at most.
func TestSlowHandlersAreNotBatched(t *testing.T) {
	b := newBus(t, Config{Workers: 1, QueueSize: 100, EnablePriority: true})
	var r recorder
	started := make(chan struct{}, 16)
	gate := make(chan struct{})
	b.Subscribe(LogLine, func(ev Event) {
		started <- struct{}{}
		<-gate
		// Slow for sure: run past the batch budget after the gate.
		for t0 := time.Now(); time.Since(t0) < 2*time.Duration(batchBudget); {
		}
		r.handle(ev)
	})
	b.Subscribe(ProcessExited, r.handle)
	b.Publish(Event{ID: "L0", Type: LogLine})
	receive(t, started) // a fresh worker's first batch holds one event
	for i := 1; i < 10; i++ {
		b.Publish(Event{ID: fmt.Sprint("L", i), Type: LogLine})
	}
	gate <- struct{}{} // L0 ends, slowly: the next batch holds one event
	receive(t, started)
	b.Publish(Event{ID: "H", Type: ProcessExited})
	close(gate)
	waitIdle(t, b)
	assert.Equal(t, 2, indexOf(r.ids(), "H"), "the High event waited behind the running Low event only: %v", r.ids())
}

// Fast handlers are taken several at a time, which is what keeps the
// queue's lock from being taken twice per event.
func TestFastHandlersAreBatched(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector slows batches past their time budget")
	}
	b := newBus(t, Config{Workers: 1, QueueSize: 1000})
	b.Subscribe(BuildEvent, func(Event) {})
	release := holdWorker(t, b)
	for i := 0; i < 1000; i++ {
		b.Publish(Event{Type: BuildEvent})
	}
	release()
	waitIdle(t, b)
	requireAccounted(t, b)
	w := b.pool.slots()[0]
	b.Shutdown() // the worker has exited: its view can be read
	assert.Greater(t, w.v.target, 1)
}

func TestBatchAdapts(t *testing.T) {
	var v view
	v.target = 1
	for i := 0; i < 10; i++ {
		v.adapt(batchBudget/2, maxBatch)
	}
	assert.Equal(t, maxBatch, v.target, "fast views grow to the limit")
	v.adapt(batchBudget+1, maxBatch)
	assert.Equal(t, 1, v.target, "one slow view falls back to single events")
	v.adapt(0, 1)
	assert.Equal(t, 1, v.target, "a limit of one, with a watchdog, never batches")
}

// Two events whose handlers wait for each other need two workers. A
// worker that took both in one batch would wait forever for itself; the
// free worker takes the second from its batch instead of parking.
func TestRendezvousHandlersNeverDeadlockOnABatch(t *testing.T) {
	b := newBus(t, Config{Workers: 2, QueueSize: 100})
	b.Subscribe(LogLine, func(Event) {}) // fast events grow the batches
	var pair sync.WaitGroup
	b.Subscribe(BuildEvent, func(Event) { pair.Done(); pair.Wait() })
	for round := 0; round < 200; round++ {
		for i := 0; i < 64; i++ {
			b.Publish(Event{Type: LogLine})
		}
		pair.Add(2)
		b.Publish(Event{Type: BuildEvent})
		b.Publish(Event{Type: BuildEvent})
		waitIdle(t, b)
	}
	requireAccounted(t, b)
}
