// Serve runs a bus under a small, steady load and serves its figures for
// Prometheus at /metrics, as a program embedding the bus would: one
// registry, the bus's collector and Go's own runtime collector on it,
// promhttp in front.
//
// The load, per 10 ms tick: 4 log lines (Low) for a "tui" subscription
// whose handler takes 200µs, a build event (Medium) for a "builds"
// subscription, and every tenth tick a process.started (High) for an
// unnamed subscription. Every tenth tick also brings a spike of 40 log
// lines, more than the queue holds, so DropLowPri sheds some of them and
// the drop counters move.
//
// Run it and scrape it:
//
//	go run ./examples/serve                     # serves 127.0.0.1:9464 until Ctrl-C
//	go run ./examples/serve -addr 127.0.0.1:0   # any free port; the log says which
//	curl -s http://127.0.0.1:9464/metrics | grep '^brummer_'
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/brummer-dev/eventbus/promexporter"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9464", "address to serve /metrics on")
	duration := flag.Duration("for", 0, "stop after this long (0: until interrupted)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	a, err := start(ln)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("serving http://%s/metrics", ln.Addr())
	a.load(ctx)
	a.close()
}

const (
	tick        = 10 * time.Millisecond
	logBurst    = 4  // log lines per tick
	logSpike    = 40 // log lines on every tenth tick, more than the queue holds
	handlerTime = 200 * time.Microsecond
)

// app is the bus, the registry and the HTTP server in front of it.
type app struct {
	bus    *eventbus.EventBus
	srv    *http.Server
	served chan error
	ticks  int
}

// start creates the bus and serves its metrics on ln.
func start(ln net.Listener) (*app, error) {
	cfg := eventbus.DefaultConfig()
	cfg.Workers = 2
	cfg.QueueSize = 32
	bus, err := eventbus.NewEventBus(cfg)
	if err != nil {
		return nil, err
	}
	bus.On(eventbus.LogLine, func(eventbus.Event) { time.Sleep(handlerTime) }, eventbus.WithName("tui"))
	bus.On(eventbus.BuildEvent, func(eventbus.Event) {}, eventbus.WithName("builds"))
	bus.On(eventbus.ProcessStarted, func(eventbus.Event) {})

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		promexporter.New(bus, promexporter.Options{Namespace: "brummer"}),
		collectors.NewGoCollector(),
	)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	a := &app{
		bus:    bus,
		srv:    &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		served: make(chan error, 1),
	}
	go func() { a.served <- a.srv.Serve(ln) }()
	return a, nil
}

// burst publishes one tick's worth of events.
func (a *app) burst() {
	n := logBurst
	if a.ticks%10 == 5 {
		n = logSpike
	}
	for range n {
		a.bus.Publish(eventbus.Event{Type: eventbus.LogLine, ProcessID: "web"})
	}
	a.bus.Publish(eventbus.Event{Type: eventbus.BuildEvent, ProcessID: "web"})
	if a.ticks%10 == 0 {
		a.bus.Publish(eventbus.Event{Type: eventbus.ProcessStarted, ProcessID: "web"})
	}
	a.ticks++
}

// load publishes a burst every tick until ctx is done.
func (a *app) load(ctx context.Context) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.burst()
		}
	}
}

// close stops serving, then shuts the bus down.
func (a *app) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		log.Printf("http shutdown: %v", err)
	}
	if err := <-a.served; !errors.Is(err, http.ErrServerClosed) {
		log.Printf("http: %v", err)
	}
	a.bus.Shutdown()
}
