// Sessions models the clients of Brummer's MCP server: while processes
// flood the bus with log lines, clients connect and disconnect at random,
// and each one reads its own channel from Chan, tied to the context of its
// connection. When a client goes away, its context ends, the bus closes
// its channel after the last send, and the subscription is gone: no send
// on a closed channel, no handler left behind.
//
// The program checks and prints that no client saw a panic, that every
// channel was closed, and that the subscription count and the goroutines
// are back where they started.
//
// Run it with:
//
//	go run ./examples/sessions
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brummer-dev/eventbus"
)

func main() {
	clients := flag.Int("clients", 2000, "client sessions to run")
	longest := flag.Duration("session", 20*time.Millisecond, "the longest a client stays connected")
	flag.Parse()
	if err := run(os.Stdout, *clients, *longest); err != nil {
		fmt.Fprintln(os.Stderr, "sessions:", err)
		os.Exit(1)
	}
}

// result is what the sessions saw.
type result struct {
	clients, closed, panics int64
	received, processExits  int64
}

func run(w io.Writer, clients int, longest time.Duration) error {
	goroutinesBefore := runtime.NumGoroutine()
	bus, err := eventbus.NewEventBus(eventbus.DefaultConfig())
	if err != nil {
		return err
	}
	defer bus.Shutdown()
	// The TUI lives as long as the bus.
	bus.On(eventbus.LogLine, func(eventbus.Event) {}, eventbus.WithName("tui"),
		eventbus.WithConcurrency(1), eventbus.WithBuffer(100, eventbus.DropOldest))
	subsBefore := len(bus.Metrics().Subscriptions)

	// Processes print log lines, and start and exit now and then, until
	// the last client has gone.
	stop := make(chan struct{})
	var procs sync.WaitGroup
	for p := 0; p < 4; p++ {
		procs.Add(1)
		go func() {
			defer procs.Done()
			id := fmt.Sprint("proc-", p)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				typ := eventbus.LogLine
				switch i % 200 {
				case 0:
					typ = eventbus.ProcessStarted
				case 199:
					typ = eventbus.ProcessExited
				}
				bus.Publish(eventbus.Event{Type: typ, ProcessID: id, Data: map[string]interface{}{"line": i}})
			}
		}()
	}

	// Clients connect, read for a while, and go away, several at a time.
	var res result
	var sessions sync.WaitGroup
	limit := make(chan struct{}, 64)
	for c := 0; c < clients; c++ {
		limit <- struct{}{}
		sessions.Add(1)
		go func() {
			defer sessions.Done()
			defer func() { <-limit }()
			session(bus, &res, c, longest)
		}()
	}
	sessions.Wait()
	close(stop)
	procs.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.WaitIdle(ctx); err != nil {
		return err
	}

	m := bus.Metrics()
	var ended eventbus.SubscriptionStats
	for _, st := range m.EndedSubscriptions {
		if st.Name == "session" {
			ended = st
		}
	}
	fmt.Fprintf(w, "clients: %d connected, %d channels closed by the bus, %d panics\n", res.clients, res.closed, res.panics)
	fmt.Fprintf(w, "received: %d events, %d of them process exits\n", res.received, res.processExits)
	fmt.Fprintf(w, "ended sessions: matched %d, delivered %d, dropped %d (full channels), pending %d\n",
		ended.Matched, ended.Delivered, ended.Dropped, ended.Pending)
	fmt.Fprintf(w, "subscriptions: %d before, %d after\n", subsBefore, len(m.Subscriptions))

	bus.Shutdown()
	// Goroutines of finished sessions may take a moment to be gone.
	goroutinesAfter := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); goroutinesAfter > goroutinesBefore && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		goroutinesAfter = runtime.NumGoroutine()
	}
	fmt.Fprintf(w, "goroutines: %d before, %d after\n", goroutinesBefore, goroutinesAfter)

	switch {
	case res.panics > 0:
		return fmt.Errorf("%d sessions panicked", res.panics)
	case res.closed != res.clients:
		return fmt.Errorf("%d of %d channels were closed", res.closed, res.clients)
	case len(m.Subscriptions) != subsBefore:
		return fmt.Errorf("%d subscriptions left, want %d", len(m.Subscriptions), subsBefore)
	case ended.Pending != 0:
		return fmt.Errorf("ended sessions still have %d deliveries pending", ended.Pending)
	case goroutinesAfter > goroutinesBefore:
		return fmt.Errorf("%d goroutines left, want at most %d", goroutinesAfter, goroutinesBefore)
	}
	fmt.Fprintln(w, "ok: every session's channel was closed by the bus, nothing panicked, nothing leaked")
	return nil
}

// session is one client: it subscribes a channel for the life of its
// connection, reads what comes, and disconnects after a random time,
// sometimes without reading at all, as a client that hangs would.
func session(bus *eventbus.EventBus, res *result, n int, longest time.Duration) {
	defer func() {
		if recover() != nil {
			atomic.AddInt64(&res.panics, 1)
		}
	}()
	atomic.AddInt64(&res.clients, 1)
	ctx, disconnect := context.WithTimeout(context.Background(), time.Duration(rand.Int64N(int64(longest))+1))
	defer disconnect()
	policy := eventbus.DropOldest
	if n%4 == 0 {
		policy = eventbus.Block // a client that wants every line
	}
	process := fmt.Sprint("proc-", n%4)
	ch := bus.Chan(ctx, 32, policy,
		[]eventbus.EventType{eventbus.LogLine, eventbus.ProcessStarted, eventbus.ProcessExited},
		eventbus.WithName("session"),
		eventbus.WithFilter(func(ev eventbus.Event) bool { return ev.ProcessID == process }))

	if n%10 != 0 { // one client in ten never reads
	read:
		for {
			select {
			case ev, ok := <-ch:
				if !ok {
					break read
				}
				atomic.AddInt64(&res.received, 1)
				if ev.Type == eventbus.ProcessExited {
					atomic.AddInt64(&res.processExits, 1)
				}
			case <-ctx.Done():
				break read
			}
		}
	}
	<-ctx.Done()   // the connection ends
	for range ch { // what the bus still sends before it closes the channel
		atomic.AddInt64(&res.received, 1)
	}
	atomic.AddInt64(&res.closed, 1)
}
