package bench

import (
	"context"
	"sync"

	"github.com/brummer-dev/eventbus"
	"github.com/panjf2000/ants/v2"
)

// antsBus submits one task per event and handler to an ants pool of
// Options.Workers goroutines. ants has no task queue: with every worker
// busy, Submit blocks (its default) until one is free. Close is
// ReleaseContext: no new task is taken, running ones finish.
type antsBus struct {
	r      routes
	p      *ants.Pool
	onDrop func(eventbus.Event)
	once   sync.Once
	err    error
}

func newAnts(o Options) (Bus, error) {
	o = o.withDefaults()
	p, err := ants.NewPool(o.Workers)
	if err != nil {
		return nil, err
	}
	return &antsBus{r: routes{}, p: p, onDrop: o.OnDrop}, nil
}

func (a *antsBus) Subscribe(t eventbus.EventType, h Handler) { a.r.add(t, h) }

func (a *antsBus) Publish(ev eventbus.Event) {
	for _, h := range a.r[ev.Type] {
		if err := a.p.Submit(func() { h(ev) }); err != nil {
			a.onDrop(ev)
		}
	}
}

func (a *antsBus) Close(ctx context.Context) error {
	first := false
	a.once.Do(func() {
		first = true
		a.err = a.p.ReleaseContext(ctx)
	})
	if first {
		return a.err
	}
	// ReleaseContext can only be called once; wait for the workers to be
	// gone by polling Running.
	return waitUntil(ctx, func() bool { return a.p.Running() == 0 })
}
