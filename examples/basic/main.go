// Basic shows the everyday use of the event bus: create it from
// eventbus.DefaultConfig, register handlers with Subscribe and On, publish a
// few Brummer-like events, wait until they are handled, remove a handler
// with Unsubscribe, print what each handler received and the bus's metrics,
// and shut down.
//
// Run it with:
//
//	go run ./examples/basic
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/brummer-dev/eventbus"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "basic:", err)
		os.Exit(1)
	}
}

// run is the whole example; it writes to w so that the test can check the
// output.
func run(w io.Writer) error {
	bus, err := eventbus.NewEventBus(eventbus.DefaultConfig())
	if err != nil {
		return err
	}
	// Shutdown is idempotent: the deferred call only matters on an early
	// return, the explicit one at the end is the normal path.
	defer bus.Shutdown()

	// Subscribe is the signature Brummer's bus already has. One handler may
	// be registered for several types.
	logs := &recorder{name: "log view"}
	procs := &recorder{name: "process list"}
	bus.Subscribe(eventbus.LogLine, logs.handle)
	bus.Subscribe(eventbus.ProcessStarted, procs.handle)
	bus.Subscribe(eventbus.ProcessExited, procs.handle)

	// On returns a Subscription, for a handler that must be removed later.
	notifier := &recorder{name: "exit notifier (unsubscribed after web's run)"}
	sub := bus.On(eventbus.ProcessExited, notifier.handle)

	for _, ev := range processRun("web", "npm run dev", 0,
		"> vite dev", "ready in 412 ms", "Local: http://localhost:5173/") {
		bus.Publish(ev)
	}
	if err := waitIdle(bus); err != nil {
		return err
	}

	// After Unsubscribe returns, the notifier is not called for new events;
	// Done closes once no call of it is still running, so from then on
	// its state may be read or torn down without a lock.
	sub.Unsubscribe()
	<-sub.Done()

	for _, ev := range processRun("test", "go test ./...", 1, "--- FAIL: TestLogin (0.02s)") {
		bus.Publish(ev)
	}
	if err := waitIdle(bus); err != nil {
		return err
	}

	for _, r := range []*recorder{procs, logs, notifier} {
		r.print(w)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "metrics:", bus.Metrics())

	bus.Shutdown()
	fmt.Fprintln(w, "bus shut down")
	return nil
}

// waitIdle waits until every event published so far has been handled. The
// timeout turns a hung handler into an error instead of a hung program.
func waitIdle(bus *eventbus.EventBus) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := bus.WaitIdle(ctx); err != nil {
		return fmt.Errorf("waiting for the handlers: %w", err)
	}
	return nil
}

// processRun returns the events Brummer publishes for one run of a
// process: it starts, prints some lines, and exits.
func processRun(name, command string, exitCode int, lines ...string) []eventbus.Event {
	evs := []eventbus.Event{{
		Type:      eventbus.ProcessStarted,
		ProcessID: name,
		Data:      map[string]interface{}{"name": name, "command": command},
	}}
	for _, line := range lines {
		evs = append(evs, eventbus.Event{
			Type:      eventbus.LogLine,
			ProcessID: name,
			Data:      map[string]interface{}{"line": line, "stream": "stdout"},
		})
	}
	return append(evs, eventbus.Event{
		Type:      eventbus.ProcessExited,
		ProcessID: name,
		Data:      map[string]interface{}{"name": name, "exitCode": exitCode},
	})
}

// recorder is a handler that keeps the events it receives. Handlers run on
// several workers at once, so it takes a lock.
type recorder struct {
	name string
	mu   sync.Mutex
	got  []eventbus.Event
}

func (r *recorder) handle(ev eventbus.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, ev)
}

// print lists the events r received in publish order. With several
// workers, events may reach a handler in a different order than they were
// published (priorities, and workers racing each other), so the list is
// sorted by the Timestamp that Publish filled in.
func (r *recorder) print(w io.Writer) {
	r.mu.Lock()
	got := slices.Clone(r.got)
	r.mu.Unlock()
	slices.SortStableFunc(got, func(a, b eventbus.Event) int { return a.Timestamp.Compare(b.Timestamp) })

	noun := "events"
	if len(got) == 1 {
		noun = "event"
	}
	fmt.Fprintf(w, "%s received %d %s:\n", r.name, len(got), noun)
	for _, ev := range got {
		fmt.Fprintf(w, "  %-15s %-4s %s\n", ev.Type, ev.ProcessID, describe(ev))
	}
}

// describe formats the Data of the event types this example publishes.
// Handlers share the Data map, so they only read it.
func describe(ev eventbus.Event) string {
	switch ev.Type {
	case eventbus.ProcessStarted:
		return fmt.Sprintf("$ %v", ev.Data["command"])
	case eventbus.ProcessExited:
		return fmt.Sprintf("exit code %v", ev.Data["exitCode"])
	case eventbus.LogLine:
		return fmt.Sprintf("%q", ev.Data["line"])
	}
	return fmt.Sprint(ev.Data)
}
