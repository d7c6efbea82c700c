// Print registers a bus's instruments on an OpenTelemetry SDK meter
// provider, runs a short load, and prints what a collection reads: every
// instrument with its kind and unit, and its data points. A program would
// put a periodic reader and an OTLP exporter where this one has a manual
// reader and a printer.
//
// The load, per 10 ms tick: 4 log lines (Low) for a "tui" subscription
// whose handler takes 200µs, a build event (Medium) for a "builds"
// subscription, and every tenth tick a process.started (High) for an
// unnamed subscription and a spike of 40 log lines, more than the queue
// of 32 holds, so DropLowPri sheds some of them.
//
// Run it with:
//
//	go run ./examples/print
//	go run ./examples/print -ticks 100
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/brummer-dev/eventbus/otelexporter"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func main() {
	ticks := flag.Int("ticks", 50, "how many 10 ms ticks of load to run")
	flag.Parse()
	if *ticks < 1 {
		fmt.Fprintln(os.Stderr, "print: -ticks must be at least 1")
		os.Exit(2)
	}
	if err := run(os.Stdout, *ticks); err != nil {
		fmt.Fprintln(os.Stderr, "print:", err)
		os.Exit(1)
	}
}

const (
	tick        = 10 * time.Millisecond
	logBurst    = 4  // log lines per tick
	logSpike    = 40 // log lines on every tenth tick, more than the queue holds
	handlerTime = 200 * time.Microsecond
)

// run loads a bus for ticks ticks, waits until it is idle, and prints one
// collection of its instruments to out.
func run(out io.Writer, ticks int) error {
	cfg := eventbus.DefaultConfig()
	cfg.Workers = 2
	cfg.QueueSize = 32
	bus, err := eventbus.NewEventBus(cfg)
	if err != nil {
		return err
	}
	defer bus.Shutdown()
	bus.On(eventbus.LogLine, func(eventbus.Event) { time.Sleep(handlerTime) }, eventbus.WithName("tui"))
	bus.On(eventbus.BuildEvent, func(eventbus.Event) {}, eventbus.WithName("builds"))
	bus.On(eventbus.ProcessStarted, func(eventbus.Event) {})

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	reg, err := otelexporter.Register(bus, mp, otelexporter.Options{
		Attributes: []attribute.KeyValue{attribute.String("eventbus.name", "example")},
	})
	if err != nil {
		return err
	}
	defer func() { _ = reg.Unregister() }()

	t := time.NewTicker(tick)
	for i := range ticks {
		<-t.C
		n := logBurst
		if i%10 == 5 {
			n = logSpike
		}
		for range n {
			bus.Publish(eventbus.Event{Type: eventbus.LogLine, ProcessID: "web"})
		}
		bus.Publish(eventbus.Event{Type: eventbus.BuildEvent, ProcessID: "web"})
		if i%10 == 0 {
			bus.Publish(eventbus.Event{Type: eventbus.ProcessStarted, ProcessID: "web"})
		}
	}
	t.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.WaitIdle(ctx); err != nil {
		return err
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		return err
	}
	for _, sm := range rm.ScopeMetrics {
		fmt.Fprintf(out, "scope %s; every point has eventbus.name=example\n", sm.Scope.Name)
		sort.Slice(sm.Metrics, func(i, j int) bool { return sm.Metrics[i].Name < sm.Metrics[j].Name })
		for _, m := range sm.Metrics {
			printMetric(out, m)
		}
	}
	return nil
}

// printMetric prints one instrument and its data points, one a line, in
// attribute order, the wait buckets by their bound. The wait buckets that
// counted nothing are left out to keep the output short, and so is the
// eventbus.name attribute, which every point has.
func printMetric(out io.Writer, m metricdata.Metrics) {
	type dp struct {
		attrs string
		bound float64 // eventbus.wait.bucket, for the order
		value string
	}
	var kind string
	var points []dp
	add := func(set attribute.Set, v string) {
		if m.Name == "eventbus.wait.events" && v == "0" {
			return
		}
		p := dp{value: v}
		var kvs []string
		for _, kv := range set.ToSlice() {
			switch kv.Key {
			case "eventbus.name":
				continue
			case otelexporter.AttrWaitBucket:
				p.bound, _ = strconv.ParseFloat(kv.Value.AsString(), 64)
			}
			kvs = append(kvs, string(kv.Key)+"="+kv.Value.Emit())
		}
		p.attrs = strings.Join(kvs, " ")
		points = append(points, p)
	}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		kind = sumKind(d.IsMonotonic)
		for _, p := range d.DataPoints {
			add(p.Attributes, fmt.Sprint(p.Value))
		}
	case metricdata.Sum[float64]:
		kind = sumKind(d.IsMonotonic)
		for _, p := range d.DataPoints {
			add(p.Attributes, fmt.Sprintf("%.6g", p.Value))
		}
	case metricdata.Gauge[float64]:
		kind = "gauge"
		for _, p := range d.DataPoints {
			add(p.Attributes, fmt.Sprintf("%.6g", p.Value))
		}
	default:
		kind = fmt.Sprintf("%T", m.Data)
	}
	sort.Slice(points, func(i, j int) bool {
		if points[i].bound != points[j].bound {
			return points[i].bound < points[j].bound
		}
		return points[i].attrs < points[j].attrs
	})
	if m.Name == "eventbus.wait.events" { // by priority first, then bound
		sort.SliceStable(points, func(i, j int) bool {
			pi, _, _ := strings.Cut(points[i].attrs, " ")
			pj, _, _ := strings.Cut(points[j].attrs, " ")
			return pi < pj
		})
	}
	fmt.Fprintf(out, "%s (%s, %s)\n", m.Name, kind, m.Unit)
	for _, p := range points {
		if p.attrs == "" {
			fmt.Fprintf(out, "    %s\n", p.value)
			continue
		}
		fmt.Fprintf(out, "    %-76s %s\n", p.attrs, p.value)
	}
}

func sumKind(monotonic bool) string {
	if monotonic {
		return "counter"
	}
	return "updowncounter"
}
