// Metrics shows what the bus's metrics tell about a bus under load. It
// floods a bus (eventbus.DefaultConfig) for a few seconds with log lines,
// four times faster than the handlers (1 ms each) can take them, plus a
// process.exited every 10 ms, and prints bus.Metrics() once a second: the
// queue fills with low-priority events, drops pile up under the "full"
// reason, and the high-priority wait stays at a millisecond or two while
// log lines wait for the whole queue, because DropLowPri sheds log lines
// first and workers take High events first.
//
// It also publishes the metrics through the standard library's expvar
// package, as a program serving /debug/vars would (this one serves
// nothing), and prints that JSON at the end.
//
// Run it with:
//
//	go run ./examples/metrics
//	go run ./examples/metrics -duration 10s
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/brummer-dev/eventbus"
)

func main() {
	duration := flag.Duration("duration", 4*time.Second, "how long to flood the bus")
	flag.Parse()
	if *duration <= 0 {
		fmt.Fprintln(os.Stderr, "metrics: -duration must be positive")
		os.Exit(2)
	}
	if err := run(os.Stdout, *duration, "eventbus"); err != nil {
		fmt.Fprintln(os.Stderr, "metrics:", err)
		os.Exit(1)
	}
}

const (
	handlerTime  = time.Millisecond      // each handler's simulated I/O
	overload     = 4                     // log lines per second, in multiples of what the pool can handle
	logTick      = 2 * time.Millisecond  // the flood publishes a batch per tick
	exitInterval = 10 * time.Millisecond // a process.exited
)

// run floods a bus for duration, printing its metrics every second, and
// finally prints the expvar variable expvarName, under which it published
// the bus's metrics. expvar names cannot be reused within a process, so the
// test passes a fresh one on every run.
func run(w io.Writer, duration time.Duration, expvarName string) error {
	cfg := eventbus.DefaultConfig()
	// Utilization is that of the last closed window, and reads 0 until
	// the first one closes: a window shorter than the one-second print
	// interval makes every printed line show a real figure.
	cfg.MetricsWindow = 500 * time.Millisecond
	bus, err := eventbus.NewEventBus(cfg)
	if err != nil {
		return err
	}
	defer bus.Shutdown() // for early returns; the normal path shuts down below
	if err := bus.PublishExpvar(expvarName); err != nil {
		return fmt.Errorf("PublishExpvar(%q): %w", expvarName, err)
	}

	work := func(eventbus.Event) { time.Sleep(handlerTime) }
	bus.Subscribe(eventbus.LogLine, work)
	bus.Subscribe(eventbus.ProcessExited, work)

	cfg = bus.Config() // with the automatic values filled in
	rate := overload * cfg.Workers * int(time.Second/handlerTime)
	fmt.Fprintf(w, "flooding for %v: %d log lines/s and a process.exited every %v; %d workers, queue %d, %v\n",
		duration, rate, exitInterval, cfg.Workers, cfg.QueueSize, cfg.BackpressureMode)

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); floodLogs(ctx, bus, rate) }()
	go func() { defer wg.Done(); publishExits(ctx, bus) }()

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case now := <-tick.C:
			fmt.Fprintf(w, "%4.1fs  %v\n", now.Sub(start).Seconds(), bus.Metrics())
		}
	}
	wg.Wait()

	// Shutdown lets the workers drain the queue; the figures are final
	// afterwards, and expvar keeps showing them.
	bus.Shutdown()
	m := bus.Metrics()
	fmt.Fprintf(w, "final  %v\n", m)
	fmt.Fprintf(w, "dropped by priority: high=%d medium=%d low=%d\n",
		m.Drops.ByPriority.High, m.Drops.ByPriority.Medium, m.Drops.ByPriority.Low)
	for _, l := range []struct {
		name string
		st   eventbus.WaitStats
	}{{"high", m.Wait.High}, {"low", m.Wait.Low}} {
		fmt.Fprintf(w, "wait %-4s p50=%v p99=%v max=%v (%d events)\n",
			l.name, fmtDur(l.st.P50), fmtDur(l.st.P99), fmtDur(l.st.Max), l.st.Count)
	}

	if err := printExpvar(w, expvarName); err != nil {
		return err
	}

	ok := m.EventsPublished == m.EventsProcessed+m.EventsDropped
	verdict := "ok"
	if !ok {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "accounting: published %d == processed %d + dropped %d: %s\n",
		m.EventsPublished, m.EventsProcessed, m.EventsDropped, verdict)
	if !ok {
		return errors.New("accounting check failed")
	}
	return nil
}

// floodLogs publishes perSecond log lines a second until ctx is done, in a
// batch per tick.
func floodLogs(ctx context.Context, bus *eventbus.EventBus, perSecond int) {
	t := time.NewTicker(logTick)
	defer t.Stop()
	start := time.Now()
	var sent int64
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			// What is due by now, so that late ticks are made up for.
			due := int64(now.Sub(start).Seconds() * float64(perSecond))
			for ; sent < due; sent++ {
				bus.Publish(eventbus.Event{
					Type:      eventbus.LogLine,
					ProcessID: "web",
					Data:      map[string]interface{}{"line": "request " + strconv.FormatInt(sent, 10)},
				})
			}
		}
	}
}

// publishExits publishes a process.exited every exitInterval until ctx is
// done.
func publishExits(ctx context.Context, bus *eventbus.EventBus) {
	t := time.NewTicker(exitInterval)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			bus.Publish(eventbus.Event{
				Type:      eventbus.ProcessExited,
				ProcessID: "job-" + strconv.Itoa(n),
				Data:      map[string]interface{}{"exitCode": 0},
			})
		}
	}
}

// fmtDur rounds d to three significant digits: the percentiles are
// histogram bucket bounds such as 2.097152ms, whose digits mean nothing.
func fmtDur(d time.Duration) time.Duration {
	for unit := time.Duration(1); unit < time.Hour; unit *= 10 {
		if d < 1000*unit {
			return d.Round(unit)
		}
	}
	return d.Round(time.Second)
}

// printExpvar prints the expvar variable name as indented JSON: what
// GET /debug/vars would show under that key.
func printExpvar(w io.Writer, name string) error {
	v := expvar.Get(name)
	if v == nil {
		return fmt.Errorf("expvar %q is not published", name)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, []byte(v.String()), "", "  "); err != nil {
		return fmt.Errorf("expvar %q is not JSON: %w", name, err)
	}
	fmt.Fprintf(w, "expvar %q:\n%s\n", name, pretty.Bytes())
	return nil
}
