package bench

import (
	"context"
	"sync"

	"github.com/brummer-dev/eventbus"
)

// chanPool is the floor: Options.Workers goroutines receive from one
// channel of Options.QueueSize events, and Publish is a plain blocking
// send. No priorities, no drops, no metrics. Close closes the channel and
// waits for the workers to drain it.
type chanPool struct {
	r       routes
	ch      chan eventbus.Event
	wg      sync.WaitGroup
	once    sync.Once
	stopped chan struct{}
}

func newChanPool(o Options) (Bus, error) {
	o = o.withDefaults()
	c := &chanPool{
		r:       routes{},
		ch:      make(chan eventbus.Event, o.QueueSize),
		stopped: make(chan struct{}),
	}
	c.wg.Add(o.Workers)
	for range o.Workers {
		go func() {
			defer c.wg.Done()
			for ev := range c.ch {
				for _, h := range c.r[ev.Type] {
					h(ev)
				}
			}
		}()
	}
	return c, nil
}

func (c *chanPool) Subscribe(t eventbus.EventType, h Handler) { c.r.add(t, h) }

func (c *chanPool) Publish(ev eventbus.Event) { c.ch <- ev }

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
