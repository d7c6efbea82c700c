package eventbus_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/brummer-dev/eventbus"
)

// The whole life of a bus: configure, subscribe, publish, wait, shut down.
func ExampleNewEventBus() {
	bus, err := eventbus.NewEventBus(eventbus.DefaultConfig())
	if err != nil {
		panic(err)
	}
	defer bus.Shutdown()

	bus.Subscribe(eventbus.ProcessExited, func(ev eventbus.Event) {
		fmt.Printf("%s exited with code %v\n", ev.ProcessID, ev.Data["code"])
	})
	bus.Publish(eventbus.Event{
		Type:      eventbus.ProcessExited,
		ProcessID: "npm-dev",
		Data:      map[string]interface{}{"code": 0},
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := bus.WaitIdle(ctx); err != nil {
		panic(err)
	}
	// Output: npm-dev exited with code 0
}

// A bad field is reported by name instead of failing later.
func ExampleNewEventBus_invalidConfig() {
	_, err := eventbus.NewEventBus(eventbus.Config{Workers: -2})
	fmt.Println(err)
	fmt.Println(errors.Is(err, eventbus.ErrInvalidConfig))
	// Output:
	// eventbus: invalid config: Workers is -2; it must be 0 (automatic) or more
	// true
}

// On returns a Subscription; after Unsubscribe and Done, the handler will
// never run again, so the channel it sends on can be closed safely.
func ExampleEventBus_On() {
	bus, _ := eventbus.NewEventBus(eventbus.Config{Workers: 2})
	defer bus.Shutdown()

	lines := make(chan string, 10)
	sub := bus.On(eventbus.LogLine, func(ev eventbus.Event) {
		lines <- ev.Data["line"].(string)
	})
	bus.Publish(eventbus.Event{Type: eventbus.LogLine, Data: map[string]interface{}{"line": "ready on :3000"}})
	_ = bus.WaitIdle(context.Background())

	sub.Unsubscribe()
	<-sub.Done()
	close(lines)
	bus.Publish(eventbus.Event{Type: eventbus.LogLine, Data: map[string]interface{}{"line": "never seen"}})
	_ = bus.WaitIdle(context.Background())

	for l := range lines {
		fmt.Println(l)
	}
	// Output: ready on :3000
}

// OnAll sees every event, whatever its type, including types the program
// invents.
func ExampleEventBus_OnAll() {
	bus, _ := eventbus.NewEventBus(eventbus.Config{Workers: 1})
	defer bus.Shutdown()

	var mu sync.Mutex
	var seen []string
	bus.OnAll(func(ev eventbus.Event) {
		mu.Lock()
		seen = append(seen, string(ev.Type))
		mu.Unlock()
	})
	bus.Publish(eventbus.Event{Type: eventbus.BuildEvent})
	bus.Publish(eventbus.Event{Type: eventbus.EventType("proxy.request")})
	_ = bus.WaitIdle(context.Background())
	fmt.Println(seen)
	// Output: [build.event proxy.request]
}

// PublishWithBackpressure gives an event an explicit priority and says
// whether it was queued.
func ExampleEventBus_PublishWithBackpressure() {
	bus, _ := eventbus.NewEventBus(eventbus.Config{Workers: 1, EnablePriority: true})
	defer bus.Shutdown()
	bus.Subscribe("deploy", func(eventbus.Event) {})

	err := bus.PublishWithBackpressure(eventbus.Event{Type: "deploy"}, eventbus.PriorityHigh)
	fmt.Println(err)
	err = bus.PublishWithBackpressure(eventbus.Event{Type: "deploy"}, 7)
	fmt.Println(err)
	// Output:
	// <nil>
	// eventbus: invalid priority
}

// Under Block, PublishContext waits for room and gives up with its context.
func ExampleEventBus_PublishContext() {
	bus, _ := eventbus.NewEventBus(eventbus.Config{Workers: 1, QueueSize: 1, BackpressureMode: eventbus.Block})

	release := make(chan struct{})
	started := make(chan struct{})
	var once sync.Once
	bus.Subscribe(eventbus.BuildEvent, func(eventbus.Event) {
		once.Do(func() { close(started) })
		<-release
	})
	bus.Publish(eventbus.Event{Type: eventbus.BuildEvent}) // taken by the worker
	<-started
	bus.Publish(eventbus.Event{Type: eventbus.BuildEvent}) // fills the queue

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := bus.PublishContext(ctx, eventbus.Event{Type: eventbus.BuildEvent})
	fmt.Println(err)

	close(release)
	bus.Shutdown()
	// Output: context deadline exceeded
}

// DropLowPri, the default policy, drops the lowest-priority event when the
// queue is full: here a full queue of log lines makes room for a
// process.exited event, and OnDrop reports which line went.
func ExampleDropPolicy() {
	release := make(chan struct{})
	cfg := eventbus.Config{
		Workers:          1,
		QueueSize:        2,
		EnablePriority:   true,
		BackpressureMode: eventbus.DropLowPri,
		OnDrop: func(ev eventbus.Event, reason error) {
			fmt.Printf("dropped %s: %v\n", ev.ID, reason)
		},
	}
	bus, _ := eventbus.NewEventBus(cfg)
	started := make(chan struct{})
	bus.Subscribe("hold", func(eventbus.Event) { close(started); <-release })
	bus.Subscribe(eventbus.LogLine, func(ev eventbus.Event) { fmt.Println("handled", ev.ID) })
	bus.Subscribe(eventbus.ProcessExited, func(ev eventbus.Event) { fmt.Println("handled", ev.ID) })

	bus.Publish(eventbus.Event{Type: "hold"}) // occupies the only worker
	<-started
	bus.Publish(eventbus.Event{ID: "line-1", Type: eventbus.LogLine})
	bus.Publish(eventbus.Event{ID: "line-2", Type: eventbus.LogLine})
	bus.Publish(eventbus.Event{ID: "exit", Type: eventbus.ProcessExited})
	close(release)
	bus.Shutdown()
	// Output:
	// dropped line-1: eventbus: queue full
	// handled exit
	// handled line-2
}

// WaitIdle returns once every event published before it was handled or
// dropped.
func ExampleEventBus_WaitIdle() {
	bus, _ := eventbus.NewEventBus(eventbus.Config{Workers: 4, BackpressureMode: eventbus.Block})
	defer bus.Shutdown()
	var mu sync.Mutex
	total := 0
	bus.Subscribe(eventbus.TestPassed, func(ev eventbus.Event) {
		mu.Lock()
		total += ev.Data["n"].(int)
		mu.Unlock()
	})
	for i := 1; i <= 100; i++ {
		bus.Publish(eventbus.Event{Type: eventbus.TestPassed, Data: map[string]interface{}{"n": i}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := bus.WaitIdle(ctx); err != nil {
		panic(err)
	}
	mu.Lock()
	fmt.Println(total)
	mu.Unlock()
	// Output: 5050
}

// A panicking handler is recovered and reported; the bus prints nothing.
func ExampleConfig_onPanic() {
	bus, _ := eventbus.NewEventBus(eventbus.Config{
		Workers: 1,
		OnPanic: func(ev eventbus.Event, recovered any, _ []byte) {
			fmt.Printf("handler for %s panicked: %v\n", ev.Type, recovered)
		},
	})
	bus.Subscribe(eventbus.ErrorDetected, func(eventbus.Event) { panic("nil map") })
	bus.Publish(eventbus.Event{Type: eventbus.ErrorDetected})
	bus.Shutdown()
	m := bus.Metrics()
	fmt.Println(m.HandlerPanics, m.EventsProcessed)
	// Output:
	// handler for error.detected panicked: nil map
	// 1 1
}

// Metrics counts every event: published = processed + dropped once the bus
// is quiet.
func ExampleEventBus_Metrics() {
	bus, _ := eventbus.NewEventBus(eventbus.Config{Workers: 2, BackpressureMode: eventbus.Block})
	bus.Subscribe(eventbus.LogLine, func(eventbus.Event) {})
	for i := 0; i < 1000; i++ {
		bus.Publish(eventbus.Event{Type: eventbus.LogLine})
	}
	bus.Shutdown()
	m := bus.Metrics()
	fmt.Println(m.EventsPublished, m.EventsProcessed, m.EventsDropped)
	// Output: 1000 1000 0
}

// GetStats gives the figures as a map, for code that prints maps.
func ExampleEventBus_GetStats() {
	bus, _ := eventbus.NewEventBus(eventbus.Config{Workers: 1})
	bus.Subscribe(eventbus.LogLine, func(eventbus.Event) {})
	bus.Publish(eventbus.Event{Type: eventbus.LogLine})
	bus.Shutdown()
	stats := bus.GetStats()
	keys := make([]string, 0, len(stats))
	for k := range stats {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != "avg_processing_time" {
			fmt.Println(k, stats[k])
		}
	}
	// Output:
	// current_queue_depth 0
	// events_dropped 0
	// events_processed 1
	// events_published 1
	// handler_panics 0
	// workers 1
}

// WaitSince gives the latency of an interval, where Wait covers the bus's
// whole life: keep the previous snapshot and compare.
func ExampleMetricsSnapshot_WaitSince() {
	bus, _ := eventbus.NewEventBus(eventbus.Config{Workers: 2, MonitoringEnabled: true,
		BackpressureMode: eventbus.Block})
	defer bus.Shutdown()
	bus.Subscribe(eventbus.BuildEvent, func(eventbus.Event) {})
	publish := func(n int) {
		for i := 0; i < n; i++ {
			bus.Publish(eventbus.Event{Type: eventbus.BuildEvent})
		}
		_ = bus.WaitIdle(context.Background())
	}

	publish(100)
	prev := bus.Metrics()
	publish(20)
	now := bus.Metrics()
	recent := now.WaitSince(prev)
	fmt.Println(now.Wait.Medium.Count, recent.Medium.Count, recent.Medium.P99 <= now.Wait.Medium.Max)
	// Output: 120 20 true
}
