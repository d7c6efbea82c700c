package bench

import (
	"context"

	"github.com/brummer-dev/eventbus"
)

// naive starts a goroutine per event and handler: go handler(ev). It has
// nothing to stop, so Close returns at once; the harness waits for the
// goroutines through its own counts.
type naive struct {
	r routes
}

func newNaive(Options) (Bus, error) { return &naive{r: routes{}}, nil }

func (n *naive) Subscribe(t eventbus.EventType, h Handler) { n.r.add(t, h) }

func (n *naive) Publish(ev eventbus.Event) {
	for _, h := range n.r[ev.Type] {
		go h(ev)
	}
}

func (n *naive) Close(context.Context) error { return nil }
