// Backpressure shows what each drop policy does when an event arrives at a
// full queue. Every policy gets the same scenario: the bus's only worker is
// held busy, the queue (QueueSize 3) holds H1 (process.exited, high), L1
// and L2 (log.line, low), and one more log line arrives. Config.OnDrop
// reports which event the policy dropped; the handlers record what was
// delivered once the worker is released.
//
// Under Block nothing is dropped to make room: the publisher waits. The
// example shows a PublishContext with a short timeout giving up with
// context.DeadlineExceeded, and a waiting Publish admitted as soon as the
// worker frees a slot.
//
// Run it with:
//
//	go run ./examples/backpressure
//
// The output is the same on every run: one worker, held, makes every step
// deterministic.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/brummer-dev/eventbus"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "backpressure:", err)
		os.Exit(1)
	}
}

// blockWait is how long the Block scenario lets a publisher wait before it
// gives up (PublishContext) or before the worker is released (Publish).
const blockWait = 50 * time.Millisecond

// outcome is what one policy did with the scenario.
type outcome struct {
	policy    eventbus.DropPolicy
	dropped   []string // "label (reason)", as OnDrop saw them
	delivered []string // labels, in handling order
	metrics   eventbus.MetricsSnapshot
}

// run is the whole example; it writes to w so that the test can check the
// output.
func run(w io.Writer) error {
	fmt.Fprintln(w, "One worker, held busy; QueueSize 3.")
	fmt.Fprintln(w, "Queued: H1 (process.exited, high), L1, L2 (log.line, low). Then L3 (log.line) arrives.")
	fmt.Fprintln(w)

	var results []outcome
	for _, p := range []eventbus.DropPolicy{eventbus.DropOldest, eventbus.DropNewest, eventbus.DropLowPri, eventbus.Block} {
		o, err := scenario(w, p)
		if err != nil {
			return fmt.Errorf("%v: %w", p, err)
		}
		results = append(results, o)
	}
	fmt.Fprintln(w)
	return printTable(w, results)
}

// scenario runs the scenario under policy p. Only Block writes to w while
// it runs, to narrate the waiting publishers.
func scenario(w io.Writer, p eventbus.DropPolicy) (outcome, error) {
	o := outcome{policy: p}
	var mu sync.Mutex // guards o.dropped and o.delivered
	cfg := eventbus.Config{
		Workers:          1,
		QueueSize:        3,
		EnablePriority:   true,
		BackpressureMode: p,
		// OnDrop runs on the publisher that caused the drop, so it needs
		// the lock as much as the handler does.
		OnDrop: func(ev eventbus.Event, reason error) {
			mu.Lock()
			defer mu.Unlock()
			o.dropped = append(o.dropped, fmt.Sprintf("%s (%v)", label(ev), reason))
		},
	}
	bus, err := eventbus.NewEventBus(cfg)
	if err != nil {
		return o, err
	}
	defer bus.Shutdown()

	record := func(ev eventbus.Event) {
		mu.Lock()
		defer mu.Unlock()
		o.delivered = append(o.delivered, label(ev))
	}
	bus.Subscribe(eventbus.ProcessExited, record)
	bus.Subscribe(eventbus.LogLine, record)

	release := hold(bus)
	defer release() // never leave the worker stuck on an early return
	bus.Publish(event(eventbus.ProcessExited, "H1"))
	bus.Publish(event(eventbus.LogLine, "L1"))
	bus.Publish(event(eventbus.LogLine, "L2"))

	if p == eventbus.Block {
		if err := blockingPublishers(w, bus, release); err != nil {
			return o, err
		}
	} else {
		// The queue is full: the policy decides between H1, L1, L2
		// and L3 before Publish returns, and Publish never waits.
		bus.Publish(event(eventbus.LogLine, "L3"))
		release()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := bus.WaitIdle(ctx); err != nil {
		return o, fmt.Errorf("waiting for the handlers: %w", err)
	}
	bus.Shutdown()
	o.metrics = bus.Metrics()
	mu.Lock()
	defer mu.Unlock()
	return o, nil
}

// blockingPublishers shows the two ways a publisher waits under Block: one
// that gives up when its context ends, and one that waits until the worker
// is released and frees a slot.
func blockingPublishers(w io.Writer, bus *eventbus.EventBus, release func()) error {
	ctx, cancel := context.WithTimeout(context.Background(), blockWait)
	err := bus.PublishContext(ctx, event(eventbus.LogLine, "L3"))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("PublishContext(L3) returned %v, want context.DeadlineExceeded", err)
	}
	fmt.Fprintf(w, "block: PublishContext(L3) waited for room, gave up after its %v timeout: %v\n", blockWait, err)

	returned := make(chan struct{})
	go func() {
		defer close(returned)
		bus.Publish(event(eventbus.LogLine, "L4"))
	}()
	// Nothing can make room while the worker is held, so Publish cannot
	// have returned; the pause only gives it time to start waiting.
	select {
	case <-returned:
		return errors.New("Publish(L4) returned while the queue was full")
	case <-time.After(blockWait):
	}
	fmt.Fprintf(w, "block: Publish(L4) from another goroutine is still waiting after %v\n", blockWait)

	release()
	<-returned
	fmt.Fprintln(w, "block: worker released; it took H1, freeing a slot, and the waiting Publish(L4) returned: L4 admitted")
	return nil
}

// printTable prints one row per policy, with the accounting identity that
// the bus's counts must satisfy once it is idle.
func printTable(w io.Writer, results []outcome) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "policy\tdropped (reason)\tdelivered\tpublished = processed + dropped")
	for _, o := range results {
		m := o.metrics
		check := "ok"
		if m.EventsPublished != m.EventsProcessed+m.EventsDropped {
			check = "MISMATCH"
		}
		fmt.Fprintf(tw, "%v\t%s\t%s\t%d = %d + %d  %s\n", o.policy,
			orNone(o.dropped), orNone(o.delivered),
			m.EventsPublished, m.EventsProcessed, m.EventsDropped, check)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "(the counts include the event that holds the worker)")
	for _, o := range results {
		if m := o.metrics; m.EventsPublished != m.EventsProcessed+m.EventsDropped {
			return fmt.Errorf("%v: accounting mismatch: %v", o.policy, m)
		}
	}
	return nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// holdType is the event type of the event that keeps the worker busy.
const holdType eventbus.EventType = "example.hold"

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
	sub.Unsubscribe() // the running call carries on
	var once sync.Once
	return func() { once.Do(func() { close(gate) }) }
}

// event returns an event of type t whose Data carries a short label.
func event(t eventbus.EventType, label string) eventbus.Event {
	return eventbus.Event{Type: t, ProcessID: "demo", Data: map[string]interface{}{"label": label}}
}

func label(ev eventbus.Event) string {
	s, _ := ev.Data["label"].(string)
	return s
}
