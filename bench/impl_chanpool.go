package bench

import (
	"context"
	"sync"

	"github.com/brummer-dev/eventbus"
)

// chanPool is the floor: Options.Workers goroutines receive from one
// channel of Options.QueueSize tasks, and Publish is a plain blocking send
// of one task per event and handler, as a pool that runs each handler as a
// task of its own would. No priorities, no drops, no metrics. Close closes
// the channel and waits for the workers to drain it.
type chanPool struct {
	r       routes
	ch      chan chanTask
	wg      sync.WaitGroup
	once    sync.Once
	stopped chan struct{}
}

func newChanPool(o Options) (Bus, error) {
	o = o.withDefaults()
	c := &chanPool{
		r:       routes{},
		ch:      make(chan chanTask, o.QueueSize),
		stopped: make(chan struct{}),
	}
	c.wg.Add(o.Workers)
	for range o.Workers {
		go func() {
			defer c.wg.Done()
			for t := range c.ch {
				t.h(t.ev)
			}
		}()
	}
	return c, nil
}

func (c *chanPool) Subscribe(t eventbus.EventType, h Handler) { c.r.add(t, h) }

// chanTask is one handler to run on one event.
type chanTask struct {
	ev eventbus.Event
	h  Handler
}

func (c *chanPool) Publish(ev eventbus.Event) {
	for _, h := range c.r[ev.Type] {
		c.ch <- chanTask{ev, h}
	}
}

func (c *chanPool) Close(ctx context.Context) error {
	c.once.Do(func() {
		close(c.ch)
		go func() {
			c.wg.Wait()
			close(c.stopped)
		}()
	})
	select {
	case <-c.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
