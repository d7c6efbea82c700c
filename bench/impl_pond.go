package bench

import (
	"context"
	"sync"

	"github.com/alitto/pond/v2"
	"github.com/brummer-dev/eventbus"
)

// pondBus submits one task per event and handler with Go (no future) to a
// pond pool of Options.Workers goroutines. Its queue is pond's default:
// unbounded, so Go never blocks and never drops. Close is Stop, which runs
// every queued task before it completes: pond cannot discard its queue.
type pondBus struct {
	r      routes
	p      pond.Pool
	onDrop func(eventbus.Event)
	once   sync.Once
	stop   pond.Task
}

func newPond(o Options) (Bus, error) {
	o = o.withDefaults()
	return &pondBus{r: routes{}, p: pond.NewPool(o.Workers), onDrop: o.OnDrop}, nil
}

func (p *pondBus) Subscribe(t eventbus.EventType, h Handler) { p.r.add(t, h) }

func (p *pondBus) Publish(ev eventbus.Event) {
	for _, h := range p.r[ev.Type] {
		if err := p.p.Go(func() { h(ev) }); err != nil {
			p.onDrop(ev)
		}
	}
}

func (p *pondBus) Close(ctx context.Context) error {
	p.once.Do(func() { p.stop = p.p.Stop() })
	select {
	case <-p.stop.Done():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
