package eventbus_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/brummer-dev/eventbus"
)

// A terminal UI renders log lines one at a time, in order, and must never
// hold up anyone else: WithConcurrency(1) gives it one worker at most, and
// a buffer of its own that drops the oldest lines when it falls behind.
// Beside it, an unlimited subscriber (an MCP client, say) gets every line
// at the pace of the pool. Here the UI is stuck on its first line while
// the other subscriber is served, and the UI's figures say what it missed.
func ExampleWithConcurrency() {
	bus, _ := eventbus.NewEventBus(eventbus.Config{Workers: 4, QueueSize: 100, BackpressureMode: eventbus.Block})
	defer bus.Shutdown()

	screenBusy := make(chan struct{})
	var (
		mu       sync.Mutex
		rendered []string
	)
	tui := bus.On(eventbus.LogLine, func(ev eventbus.Event) {
		if ev.ID == "line-0" {
			<-screenBusy // the terminal is slow for a while
		}
		mu.Lock()
		rendered = append(rendered, ev.ID)
		mu.Unlock()
	}, eventbus.WithName("tui"), eventbus.WithConcurrency(1), eventbus.WithBuffer(3, eventbus.DropOldest))

	var forwarded sync.WaitGroup
	forwarded.Add(10)
	bus.On(eventbus.LogLine, func(eventbus.Event) { forwarded.Done() }, eventbus.WithName("mcp"))

	for i := 0; i < 10; i++ {
		bus.Publish(eventbus.Event{ID: fmt.Sprint("line-", i), Type: eventbus.LogLine})
	}
	forwarded.Wait() // the MCP subscriber got all ten while the TUI was stuck
	close(screenBusy)
	_ = bus.WaitIdle(context.Background())

	fmt.Println("rendered:", strings.Join(rendered, " "))
	st := tui.Stats()
	fmt.Printf("tui: matched %d, delivered %d, dropped %d\n", st.Matched, st.Delivered, st.Dropped)
	// Output:
	// rendered: line-0 line-7 line-8 line-9
	// tui: matched 10, delivered 4, dropped 6
}

// A filter runs in the publisher: events for other processes never take
// room in the queue. WithOnDrop sees what the subscription's buffer drops.
func ExampleWithFilter() {
	bus, _ := eventbus.NewEventBus(eventbus.Config{Workers: 1})
	defer bus.Shutdown()

	bus.On(eventbus.LogLine, func(ev eventbus.Event) {
		fmt.Println(ev.ProcessID+":", ev.Data["line"])
	}, eventbus.WithFilter(func(ev eventbus.Event) bool { return ev.ProcessID == "api" }))

	bus.Publish(eventbus.Event{Type: eventbus.LogLine, ProcessID: "web", Data: map[string]interface{}{"line": "compiled"}})
	bus.Publish(eventbus.Event{Type: eventbus.LogLine, ProcessID: "api", Data: map[string]interface{}{"line": "listening on :8080"}})
	_ = bus.WaitIdle(context.Background())
	// Output: api: listening on :8080
}

// A request and its reply over the bus. The requester subscribes a channel
// to replies before it publishes the request, so the reply cannot come
// first and be missed; a filter keeps only the reply to its own request,
// and the request's timeout is the channel's context. When that context
// ends the bus closes the channel after its last send, so a reply that
// comes too late is dropped, never sent on a closed channel, and the
// requester keeps no registry of pending requests.
func ExampleEventBus_Chan() {
	bus, _ := eventbus.NewEventBus(eventbus.DefaultConfig())
	defer bus.Shutdown()

	const request, reply eventbus.EventType = "repl.request", "repl.reply"
	bus.On(request, func(ev eventbus.Event) { // the responder
		bus.Publish(eventbus.Event{Type: reply, Data: map[string]interface{}{
			"request_id": ev.ID, "result": len(ev.Data["code"].(string)),
		}})
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	replies := bus.Chan(ctx, 1, eventbus.DropNewest, []eventbus.EventType{reply},
		eventbus.WithFilter(func(ev eventbus.Event) bool { return ev.Data["request_id"] == "req-7" }))
	bus.Publish(eventbus.Event{ID: "req-7", Type: request, Data: map[string]interface{}{"code": "1+1"}})

	select {
	case ev := <-replies:
		fmt.Println("result:", ev.Data["result"])
	case <-ctx.Done():
		fmt.Println("no reply:", ctx.Err())
	}
	cancel()
	for range replies { // ends: the bus closes the channel
	}
	fmt.Println("channel closed")
	// Output:
	// result: 3
	// channel closed
}
