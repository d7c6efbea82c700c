// Priority shows that the bus's priorities decide the order in which queued
// events are handled: with its only worker held busy, events of mixed
// priority pile up in the queue, and once the worker is free it takes every
// High event before any Medium one and Medium before Low, first in first
// out within a level. It also shows the two ways to change an event's
// priority: PublishWithBackpressure for one event, and Config.Priorities
// for a whole type.
//
// Run it with:
//
//	go run ./examples/priority
//
// The output is the same on every run: one worker handles the events one
// at a time, in the order the queue gives them.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/brummer-dev/eventbus"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "priority:", err)
		os.Exit(1)
	}
}

// run is the whole example; it writes to w so that the test can check the
// output.
func run(w io.Writer) error {
	fmt.Fprintln(w, "One worker, held busy while events queue up, then released.")
	fmt.Fprintln(w, "X = process.exited (high), B = build.event (medium), L = log.line (low)")
	fmt.Fprintln(w)
	for _, demo := range []func(io.Writer) error{defaultOrder, perEvent, perType} {
		if err := demo(w); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	return nil
}

// defaultOrder publishes events of all three levels in mixed order under
// the default priorities.
func defaultOrder(w io.Writer) error {
	published := []eventbus.Event{
		event(eventbus.LogLine, "L1"), event(eventbus.BuildEvent, "B1"),
		event(eventbus.ProcessExited, "X1"), event(eventbus.LogLine, "L2"),
		event(eventbus.ProcessExited, "X2"), event(eventbus.BuildEvent, "B2"),
		event(eventbus.LogLine, "L3"), event(eventbus.ProcessExited, "X3"),
	}
	handled, err := handlingOrder(eventbus.DefaultConfig(), func(bus *eventbus.EventBus) error {
		for _, ev := range published {
			bus.Publish(ev)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "1. Default priorities: high first, then medium, then low; FIFO within a level")
	fmt.Fprintln(w, "   published:", labels(published))
	fmt.Fprintln(w, "   handled:  ", handled)
	return nil
}

// perEvent raises a single log line to High with PublishWithBackpressure,
// as Brummer might for a line that its error detector flagged.
func perEvent(w io.Writer) error {
	urgent := event(eventbus.LogLine, "L2!")
	handled, err := handlingOrder(eventbus.DefaultConfig(), func(bus *eventbus.EventBus) error {
		bus.Publish(event(eventbus.LogLine, "L1"))
		bus.Publish(event(eventbus.BuildEvent, "B1"))
		// The explicit priority wins over the type's (log.line: low) for
		// this one event only.
		if err := bus.PublishWithBackpressure(urgent, eventbus.PriorityHigh); err != nil {
			return fmt.Errorf("publishing %s: %w", label(urgent), err)
		}
		bus.Publish(event(eventbus.LogLine, "L3"))
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "2. PublishWithBackpressure(ev, PriorityHigh) overrides the type's priority for one event")
	fmt.Fprintln(w, "   published: L1 B1 L2! L3   (L2! is a log.line published with PriorityHigh)")
	fmt.Fprintln(w, "   handled:  ", handled)
	return nil
}

// perType runs the same sequence twice, with the default priorities and
// with Config.Priorities making build events High: they then share the
// High queue with process exits, in publish order.
func perType(w io.Writer) error {
	published := []eventbus.Event{
		event(eventbus.LogLine, "L1"), event(eventbus.BuildEvent, "B1"),
		event(eventbus.ProcessExited, "X1"), event(eventbus.BuildEvent, "B2"),
		event(eventbus.LogLine, "L2"),
	}
	publishAll := func(bus *eventbus.EventBus) error {
		for _, ev := range published {
			bus.Publish(ev)
		}
		return nil
	}
	byDefault, err := handlingOrder(eventbus.DefaultConfig(), publishAll)
	if err != nil {
		return err
	}
	cfg := eventbus.DefaultConfig()
	cfg.Priorities = map[eventbus.EventType]eventbus.Priority{eventbus.BuildEvent: eventbus.PriorityHigh}
	overridden, err := handlingOrder(cfg, publishAll)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "3. Config.Priorities overrides the default priority of a whole type")
	fmt.Fprintln(w, "   published:                        ", labels(published))
	fmt.Fprintln(w, "   handled, default priorities:      ", byDefault)
	fmt.Fprintln(w, "   handled, build.event set to high: ", overridden)
	return nil
}

// holdType is the event type of the event that keeps the worker busy.
const holdType eventbus.EventType = "example.hold"

// handlingOrder starts a bus from cfg with a single worker, holds that
// worker, lets publish queue events, releases the worker and returns the
// labels of the events in the order they were handled.
func handlingOrder(cfg eventbus.Config, publish func(*eventbus.EventBus) error) (string, error) {
	// One worker makes the order deterministic: it is exactly the order
	// in which the queue hands the events out. The queue is large enough
	// that nothing is dropped.
	cfg.Workers = 1
	cfg.QueueSize = 16
	bus, err := eventbus.NewEventBus(cfg)
	if err != nil {
		return "", err
	}
	defer bus.Shutdown()

	var mu sync.Mutex
	var order []string
	record := func(ev eventbus.Event) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, label(ev))
	}
	for _, t := range []eventbus.EventType{eventbus.LogLine, eventbus.BuildEvent, eventbus.ProcessExited} {
		bus.Subscribe(t, record)
	}

	release := hold(bus)
	// Deferred too, so that an early return never leaves the worker stuck
	// (and Shutdown waiting for it).
	defer release()
	if err := publish(bus); err != nil {
		return "", err
	}
	release()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := bus.WaitIdle(ctx); err != nil {
		return "", fmt.Errorf("waiting for the handlers: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return strings.Join(order, " "), nil
}

// hold occupies the bus's only worker with a handler that blocks until the
// returned release function is called. It returns once the worker is
// inside that handler, so that every event published afterwards waits in
// the queue. Release may be called more than once.
func hold(bus *eventbus.EventBus) (release func()) {
	started := make(chan struct{})
	gate := make(chan struct{})
	sub := bus.On(holdType, func(eventbus.Event) {
		close(started)
		<-gate
	})
	bus.Publish(eventbus.Event{Type: holdType})
	<-started
	// The running call carries on; removing the handler now just keeps
	// the bus tidy.
	sub.Unsubscribe()
	var once sync.Once
	return func() { once.Do(func() { close(gate) }) }
}

// event returns an event of type t whose Data carries a short label that
// the handlers record.
func event(t eventbus.EventType, label string) eventbus.Event {
	return eventbus.Event{Type: t, ProcessID: "demo", Data: map[string]interface{}{"label": label}}
}

func label(ev eventbus.Event) string {
	s, _ := ev.Data["label"].(string)
	return s
}

func labels(evs []eventbus.Event) string {
	s := make([]string, len(evs))
	for i, ev := range evs {
		s[i] = label(ev)
	}
	return strings.Join(s, " ")
}
