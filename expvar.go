package eventbus

import "expvar"

// Expvar returns an expvar.Var whose String is the JSON of a fresh
// snapshot of the bus's metrics. Put it in an expvar.Map of your own to
// control the name and to replace it when a bus is replaced; PublishExpvar
// does the common case.
func (b *EventBus) Expvar() expvar.Var {
	return expvar.Func(func() any { return b.Metrics() })
}

// PublishExpvar makes the bus's metrics visible through the standard
// library's expvar package under name, so that a program serving
// /debug/vars shows them as JSON (the fields of MetricsSnapshot). Each read
// takes a fresh snapshot. expvar has no way to remove a variable: the name
// keeps the bus reachable and shows its final figures after Shutdown, and
// it cannot be published again. A name that is already published gives
// ErrExpvarNameTaken instead of expvar's panic. A program that creates
// buses repeatedly (tests, reloads) should put Expvar into an expvar.Map
// of its own instead.
func (b *EventBus) PublishExpvar(name string) (err error) {
	if expvar.Get(name) != nil {
		return ErrExpvarNameTaken
	}
	defer func() {
		// Another goroutine may have taken the name since the check.
		if recover() != nil {
			err = ErrExpvarNameTaken
		}
	}()
	expvar.Publish(name, b.Expvar())
	return nil
}
