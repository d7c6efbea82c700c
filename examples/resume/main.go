// Resume models a client of Brummer's logs_stream tool: it follows a
// process's log lines, loses its connection, and reconnects with the ID of
// the last line it saw, as MCP's streamable HTTP transport does. The bus
// retains the latest log lines (Config.Retain), so the client gets the
// lines it missed while it was away, then the live ones: every line
// exactly once, in order, though the process never stopped printing.
//
// Run it with:
//
//	go run ./examples/resume
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/brummer-dev/eventbus"
)

func main() {
	lines := flag.Int("lines", 20000, "log lines the process prints")
	drops := flag.Int("disconnects", 5, "times the client loses its connection")
	flag.Parse()
	if err := run(os.Stdout, *lines, *drops); err != nil {
		fmt.Fprintln(os.Stderr, "resume:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, lines, disconnects int) error {
	cfg := eventbus.DefaultConfig()
	// Every line must get through: the bus blocks the process rather than
	// drop its lines, and keeps the latest 5,000 for clients that
	// reconnect.
	cfg.BackpressureMode = eventbus.Block
	cfg.Retain = map[eventbus.EventType]int{eventbus.LogLine: 5000}
	bus, err := eventbus.NewEventBus(cfg)
	if err != nil {
		return err
	}
	defer bus.Shutdown()

	// The process prints its lines while the client comes and goes.
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		for n := 0; n < lines; n++ {
			bus.Publish(eventbus.Event{Type: eventbus.LogLine, ProcessID: "web",
				Data: map[string]interface{}{"n": n}})
			if n%500 == 0 {
				time.Sleep(time.Millisecond) // a process prints in bursts
			}
		}
	}()

	next := 0    // the line the client expects next
	lastID := "" // the ID of the last line it saw
	var missed int64
	for session := 0; next < lines; session++ {
		ctx, disconnect := context.WithCancel(context.Background())
		resume := eventbus.WithReplay(5000) // first connection: the history
		if lastID != "" {
			resume = eventbus.WithReplayAfter(lastID)
		}
		ch := bus.Chan(ctx, 64, eventbus.Block, []eventbus.EventType{eventbus.LogLine},
			eventbus.WithName("logs_stream"), resume,
			eventbus.WithFilter(func(ev eventbus.Event) bool { return ev.ProcessID == "web" }))
		// Each session but the last reads a share of the lines, then the
		// connection drops.
		quota := lines
		if session < disconnects {
			quota = (session + 1) * lines / (disconnects + 1)
		}
		for next < quota {
			ev, ok := <-ch
			if !ok {
				disconnect()
				return fmt.Errorf("session %d: the channel closed early", session)
			}
			if n := ev.Data["n"].(int); n != next {
				disconnect()
				return fmt.Errorf("session %d: got line %d, want %d (a hole or a duplicate)", session, n, next)
			}
			next++
			lastID = ev.ID
		}
		disconnect()
		for range ch { // lines sent before the bus closed the channel are seen again after the reconnect
		}
		for _, st := range bus.Metrics().EndedSubscriptions {
			missed = st.Missed
		}
		fmt.Fprintf(w, "session %d: read up to line %d, then disconnected\n", session, next-1)
	}
	<-printed
	fmt.Fprintf(w, "the client saw all %d lines exactly once, in order, across %d reconnects; missed %d\n",
		lines, disconnects, missed)
	return nil
}
