// Command crossing shows an event crossing from one eventbus.EventBus to
// another over NATS, through two natsbridge.Bridges and a NATS server
// embedded in the process (loopback, random port, JetStream in a temporary
// directory), and measures, for both delivery modes:
//
//   - one-way latency: one event at a time, from Publish on bus A to the
//     handler on bus B (the same process, so one monotonic clock);
//   - throughput: -n events published on A as fast as the bus takes them,
//     until the last one reaches B's handler.
//
// Run it with
//
//	go run ./examples/crossing            # inside natsbridge/
//	go run ./examples/crossing -n 50000 -samples 2000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/brummer-dev/eventbus/natsbridge"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

func main() {
	n := flag.Int("n", 10000, "events in the throughput run")
	samples := flag.Int("samples", 1000, "events in the latency run, sent one at a time")
	flag.Parse()
	if err := run(os.Stdout, *n, *samples); err != nil {
		fmt.Fprintln(os.Stderr, "crossing:", err)
		os.Exit(1)
	}
}

// run starts the server, runs both modes, and stops everything it started.
func run(w io.Writer, n, samples int) error {
	dir, err := os.MkdirTemp("", "crossing-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: dir,
	})
	if err != nil {
		return err
	}
	srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	if !srv.ReadyForConnections(10 * time.Second) {
		return errors.New("server did not start")
	}
	url := fmt.Sprintf("nats://127.0.0.1:%d", srv.Addr().(*net.TCPAddr).Port)
	fmt.Fprintf(w, "embedded NATS server %s at %s; %s, %s/%s, GOMAXPROCS=%d\n\n",
		server.VERSION, url, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))

	for _, mode := range []natsbridge.Mode{natsbridge.Core, natsbridge.JetStream} {
		if err := runMode(w, url, mode, n, samples); err != nil {
			return fmt.Errorf("%v: %w", mode, err)
		}
	}
	return nil
}

func runMode(w io.Writer, url string, mode natsbridge.Mode, n, samples int) (err error) {
	// Both buses keep every event (Block), so the figures count no drops;
	// the receiving bus orders by process so arrival order is kept.
	cfg := eventbus.Config{Workers: 4, QueueSize: 1024, BackpressureMode: eventbus.Block, OrderingKey: eventbus.OrderByProcessID}
	busA, err := eventbus.NewEventBus(cfg)
	if err != nil {
		return err
	}
	defer busA.Shutdown()
	busB, err := eventbus.NewEventBus(cfg)
	if err != nil {
		return err
	}
	defer busB.Shutdown()

	ncA, err := nats.Connect(url, nats.Name("crossing-a"))
	if err != nil {
		return err
	}
	defer ncA.Close()
	ncB, err := nats.Connect(url, nats.Name("crossing-b"))
	if err != nil {
		return err
	}
	defer ncB.Close()

	prefix := "crossing." + mode.String()
	brA, err := natsbridge.New(busA, ncA, natsbridge.Options{Prefix: prefix, Instance: "a", Mode: mode, DisableImport: true})
	if err != nil {
		return err
	}
	defer closeBridge(brA, &err)
	brB, err := natsbridge.New(busB, ncB, natsbridge.Options{Prefix: prefix, Instance: "b", Mode: mode, DisableExport: true})
	if err != nil {
		return err
	}
	defer closeBridge(brB, &err)

	arrived := make(chan eventbus.Event, 1)
	var count atomic.Int64
	var target atomic.Int64
	done := make(chan struct{}, 1)
	sub := busB.OnAll(func(ev eventbus.Event) {
		if ev.Type == "bench.throughput" {
			if count.Add(1) == target.Load() {
				done <- struct{}{}
			}
			return
		}
		arrived <- ev
	})
	defer func() { sub.Unsubscribe(); <-sub.Done() }()

	fmt.Fprintf(w, "== %s mode (subjects %s.<type>)\n", mode, prefix)

	// One event crossing, shown whole.
	sent := eventbus.Event{Type: eventbus.ProcessStarted, ProcessID: "web-1", Data: map[string]interface{}{"cmd": "npm run dev", "pid": 4242}}
	start := time.Now()
	busA.Publish(sent)
	got, err := await(arrived)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "crossed in %v: ID=%s Type=%s ProcessID=%s Timestamp=%s Data=%v\n",
		time.Since(start).Round(time.Microsecond), got.ID, got.Type, got.ProcessID, got.Timestamp.Format(time.RFC3339Nano), got.Data)

	// Latency: one event at a time.
	lat := make([]time.Duration, 0, samples)
	for i := 0; i < samples; i++ {
		start := time.Now()
		busA.Publish(eventbus.Event{Type: "bench.latency", ProcessID: "p", Data: map[string]interface{}{"i": i}})
		if _, err := await(arrived); err != nil {
			return err
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	if samples > 0 {
		pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))].Round(time.Microsecond) }
		fmt.Fprintf(w, "one-way latency over %d events, one at a time: p50 %v  p90 %v  p99 %v  max %v\n",
			samples, pct(0.50), pct(0.90), pct(0.99), lat[len(lat)-1].Round(time.Microsecond))
	}

	// Throughput: n events as fast as bus A takes them.
	target.Store(int64(n))
	payload := map[string]interface{}{"line": "GET /api/items 200 12ms", "stream": "stdout"}
	start = time.Now()
	for i := 0; i < n; i++ {
		busA.Publish(eventbus.Event{Type: "bench.throughput", ProcessID: "p", Data: payload})
	}
	published := time.Since(start)
	if n > 0 {
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			return fmt.Errorf("throughput run: %d of %d events arrived", count.Load(), n)
		}
	}
	elapsed := time.Since(start)
	fmt.Fprintf(w, "throughput: %d events in %v (published in %v): %.0f events/s\n",
		n, elapsed.Round(time.Millisecond), published.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	ma, mb := brA.Metrics(), brB.Metrics()
	fmt.Fprintf(w, "sender: sent=%d send_errors=%d encode_failures=%d retries=%d; receiver: received=%d imported=%d duplicates=%d dropped=%d\n\n",
		ma.Sent, ma.SendErrors, ma.EncodeFailures, ma.SendRetries, mb.Received, mb.Imported, mb.DuplicatesSkipped, mb.Dropped.Total())
	return nil
}

// await waits for the next latency or crossing event on B.
func await(ch <-chan eventbus.Event) (eventbus.Event, error) {
	select {
	case ev := <-ch:
		return ev, nil
	case <-time.After(10 * time.Second):
		return eventbus.Event{}, errors.New("event did not arrive within 10s")
	}
}

func closeBridge(br *natsbridge.Bridge, err *error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cerr := br.Close(ctx); cerr != nil && *err == nil {
		*err = cerr
	}
}
