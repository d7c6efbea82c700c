package bench

import (
	"context"
	"fmt"

	"github.com/brummer-dev/eventbus"
)

// library is this repository's bus, behind the Bus interface.
type library struct {
	b *eventbus.EventBus
}

// newLibrary starts the library with DefaultConfig(), monitoring as given,
// and the Block policy when the scenario needs every event to get through.
// Drops, whatever their reason, reach the harness through Config.OnDrop.
func newLibrary(o Options, monitoring bool) (Bus, error) {
	o = o.withDefaults()
	cfg := eventbus.DefaultConfig()
	cfg.MonitoringEnabled = monitoring
	if o.Lossless {
		cfg.BackpressureMode = eventbus.Block
	}
	onDrop := o.OnDrop
	cfg.OnDrop = func(ev eventbus.Event, _ error) { onDrop(ev) }
	b, err := eventbus.NewEventBus(cfg)
	if err != nil {
		return nil, err
	}
	return &library{b: b}, nil
}

func (l *library) Subscribe(t eventbus.EventType, h Handler) {
	l.b.Subscribe(t, eventbus.Handler(h))
}

func (l *library) Publish(ev eventbus.Event) { l.b.Publish(ev) }

// Close is ShutdownContext: it drains the queue until ctx is done and then
// drops what is still queued (through OnDrop).
func (l *library) Close(ctx context.Context) error { return l.b.ShutdownContext(ctx) }

// Verify checks the library's own counts against the harness's.
func (l *library) Verify(published, handled, dropped int64) error {
	m := l.b.Metrics()
	if m.EventsPublished != published || m.EventsProcessed != handled ||
		m.EventsDropped != dropped || m.EventsPending != 0 {
		return fmt.Errorf("library metrics disagree with the harness: metrics published=%d processed=%d dropped=%d pending=%d; harness published=%d handled=%d dropped=%d",
			m.EventsPublished, m.EventsProcessed, m.EventsDropped, m.EventsPending, published, handled, dropped)
	}
	if sum := m.Drops.QueueFull + m.Drops.Shutdown + m.Drops.Context + m.Drops.InvalidPriority; sum != m.EventsDropped {
		return fmt.Errorf("library drop reasons add up to %d, not EventsDropped=%d", sum, m.EventsDropped)
	}
	return nil
}

// Report gives the library's own view of the run: its high-priority wait
// (to compare with the harness's measurement) and its drops by reason.
func (l *library) Report() map[string]float64 {
	m := l.b.Metrics()
	r := map[string]float64{
		KeyBusDropFull:     float64(m.Drops.QueueFull),
		KeyBusDropShutdown: float64(m.Drops.Shutdown),
	}
	if m.MonitoringEnabled {
		r[KeyBusHighP99] = ms(m.Wait.High.P99)
		r[KeyBusAvgHandler] = ms(m.AvgProcessingTime)
	}
	return r
}
