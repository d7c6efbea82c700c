package bench

import (
	"context"
	"sync"

	"github.com/brummer-dev/eventbus"
)

// brummerQueue is the channel capacity of Brummer's current bus.
const brummerQueue = 1000

// brummerToday models Brummer's current bus: brummerWorkers() workers read
// one buffered channel of 1000 events; when the channel is full, Publish
// starts a goroutine for the event instead, so nothing is ever dropped and
// nothing bounds the goroutine count. Close closes the channel and waits
// for the workers to drain it; the overflow goroutines are not tracked, as
// in the original.
type brummerToday struct {
	r       routes
	ch      chan eventbus.Event
	wg      sync.WaitGroup
	once    sync.Once
	stopped chan struct{}
}

func newBrummerToday(Options) (Bus, error) {
	b := &brummerToday{
		r:       routes{},
		ch:      make(chan eventbus.Event, brummerQueue),
		stopped: make(chan struct{}),
	}
	n := brummerWorkers()
	b.wg.Add(n)
	for range n {
		go func() {
			defer b.wg.Done()
			for ev := range b.ch {
				b.dispatch(ev)
			}
		}()
	}
	return b, nil
}

func (b *brummerToday) dispatch(ev eventbus.Event) {
	for _, h := range b.r[ev.Type] {
		h(ev)
	}
}

func (b *brummerToday) Subscribe(t eventbus.EventType, h Handler) { b.r.add(t, h) }

func (b *brummerToday) Publish(ev eventbus.Event) {
	select {
	case b.ch <- ev:
	default:
		go b.dispatch(ev)
	}
}

func (b *brummerToday) Close(ctx context.Context) error {
	b.once.Do(func() {
		close(b.ch)
		go func() {
			b.wg.Wait()
			close(b.stopped)
		}()
	})
	select {
	case <-b.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
