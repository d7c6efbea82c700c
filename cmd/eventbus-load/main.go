// Command eventbus-load runs the event bus under the seed's load table and
// a log flood, with a handler profile of your choosing, and shows what the
// bus does: events per second, what a Publish call costs, how long events
// of each priority wait for a worker, what is dropped and why, the peak
// goroutines and heap, and, sweeping the worker count, which count to
// choose. Its tui scenario puts Brummer's log view on the flood, rendering
// on every line and coalesced (WithCoalesce), and compares the two. It
// prints tables, and writes an HTML report with SVG charts, a standalone
// SVG chart and JSON on request.
//
//	go run ./cmd/eventbus-load                  # every scenario but tui, then a sweep of the flood (~15 s)
//	go run ./cmd/eventbus-load -handler cpu:20us -scenario heavy,flood -baseline
//	go run ./cmd/eventbus-load -sweep -handler mixed -html report.html -svg chart.svg
//	go run ./cmd/eventbus-load -scenario tui    # the log view, plain and coalesced (~4 s)
//
// Run it with -h for the flags and the handler grammar.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	// The first Ctrl-C stops the runs and prints what was measured; after
	// it the default handling is back, so a second one kills the program.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK          = 0
	exitFailed      = 1 // a check failed or a file could not be written
	exitUsage       = 2
	exitInterrupted = 130
)

// run is the program: it parses args, makes the runs, and writes the
// reports. It returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "eventbus-load:", err)
		return exitUsage
	}
	opts.prof.calibrate()
	rep := newReport(&opts)

	prog := newProgress(stderr, isTerminal(stderr))
	total := opts.plannedRuns()
	n := 0
	next := func(label string) string {
		n++
		return fmt.Sprintf("[%d/%d] %s", n, total, label)
	}
	measure := func(spec runSpec) *result {
		prog.begin(next(spec.label()))
		r := runOne(ctx, spec, prog.attach)
		prog.finish(summaryLine(r))
		return r
	}

	if opts.tableRuns() {
	table:
		for _, name := range opts.scenarios {
			for _, spec := range opts.tableSpecs(name, rep.LogRate) {
				if ctx.Err() != nil {
					break table
				}
				r := measure(spec)
				if spec.naive {
					rep.Baseline = append(rep.Baseline, r)
				} else {
					rep.Scenarios = append(rep.Scenarios, r)
				}
			}
		}
	}
	for _, name := range opts.sweptScenarios() {
		if ctx.Err() != nil {
			break
		}
		sw := rep.newSweep(name)
		for _, w := range sw.Workers {
			if ctx.Err() != nil {
				break
			}
			sw.Points = append(sw.Points, measure(opts.spec(name, w, false, true, rep.LogRate)))
		}
		sw.Interrupted = ctx.Err() != nil
		sw.recommend()
		rep.Sweeps = append(rep.Sweeps, sw)
	}
	prog.close()
	rep.finish(ctx.Err() != nil)

	writeText(stdout, rep)
	code := exitOK
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{opts.htmlFile, rep.writeHTML},
		{opts.jsonFile, rep.writeJSON},
		{opts.svgFile, rep.writeSweepSVG},
	} {
		if f.name == "" {
			continue
		}
		if err := writeFile(f.name, f.write); err != nil {
			fmt.Fprintln(stderr, "eventbus-load:", err)
			code = exitFailed
		} else {
			fmt.Fprintln(stdout, "wrote", f.name)
		}
	}
	switch {
	case !rep.ChecksOK:
		return exitFailed
	case code != exitOK:
		return code
	case rep.Interrupted:
		return exitInterrupted
	}
	return exitOK
}

// writeFile writes a file through write, reporting the first error.
func writeFile(name string, write func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return f.Close()
}

// summaryLine is a run's result in one line, for the progress output.
func summaryLine(r *result) string {
	s := fmt.Sprintf("%s events/s, %s published, %s delivered, %s dropped, %s",
		fmtCount(int64(r.EventsPerSec)), fmtCount(r.Published), fmtCount(r.Delivered), fmtCount(r.Dropped),
		fmtDur(r.Elapsed.Round(time.Millisecond)))
	if r.TUI != nil {
		s += fmt.Sprintf(", %s renders", fmtCount(r.TUI.Renders))
	}
	if r.Interrupted {
		s += " (interrupted)"
	}
	if !r.ok() {
		s += " CHECK FAILED"
	}
	return s
}
