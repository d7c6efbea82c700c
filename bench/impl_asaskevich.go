package bench

import (
	"context"
	"sync"

	asaskevich "github.com/asaskevich/EventBus"
	"github.com/brummer-dev/eventbus"
)

// asaskevichBus is github.com/asaskevich/EventBus with asynchronous,
// non-transactional subscribers: each Publish starts a goroutine per
// subscriber, under the bus's one mutex, and calls the handler through
// reflection. Close is WaitAsync, which waits for every goroutine; it
// cannot cancel anything.
type asaskevichBus struct {
	b       asaskevich.Bus
	once    sync.Once
	stopped chan struct{}
}

func newAsaskevich(Options) (Bus, error) {
	return &asaskevichBus{b: asaskevich.New(), stopped: make(chan struct{})}, nil
}

func (a *asaskevichBus) Subscribe(t eventbus.EventType, h Handler) {
	// The function must have the exact signature Publish's arguments
	// call it with; a Handler value has it.
	if err := a.b.SubscribeAsync(string(t), func(ev eventbus.Event) { h(ev) }, false); err != nil {
		panic(err)
	}
}

func (a *asaskevichBus) Publish(ev eventbus.Event) { a.b.Publish(string(ev.Type), ev) }

func (a *asaskevichBus) Close(ctx context.Context) error {
	a.once.Do(func() {
		go func() {
			a.b.WaitAsync()
			close(a.stopped)
		}()
	})
	select {
	case <-a.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
