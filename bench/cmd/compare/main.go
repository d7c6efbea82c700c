// Command compare runs the peer comparison scenarios of package bench over
// the implementations and prints one table per scenario (the median of
// -count runs), the seed's claims against naive, and the library's
// targets.
//
//	go run ./cmd/compare -count 3
//	go run ./cmd/compare -scenario flood,burst -impl eventbus,naive,ants
//
// Each run executes in a fresh child process (-isolate, the default), so
// that the goroutines, timers and memory one implementation leaves behind
// cannot weigh on the next: a Go process never frees the goroutine
// descriptors of a burst of a million goroutines.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/brummer-dev/eventbus/bench"
	"github.com/brummer-dev/eventbus/internal/loadgen"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp): // -h: the flag package printed the help
	case err != nil:
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

// options are the parsed flags.
type options struct {
	cfg       bench.Config
	scenarios []bench.Scenario
	impls     []bench.Impl
	count     int
	isolate   bool
	child     string // "scenario/impl": run once and print the Result as JSON
	quiet     bool
	timeout   time.Duration
}

func parse(args []string, stderr io.Writer) (*options, error) {
	cfg := bench.DefaultConfig()
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	scen := fs.String("scenario", "all", "comma-separated scenarios: "+strings.Join(bench.ScenarioNames(), ", ")+", or all")
	impl := fs.String("impl", "all", "comma-separated implementations: "+strings.Join(bench.ImplNames(), ", ")+", or all")
	fs.IntVar(&o.count, "count", 1, "runs of each scenario and implementation; the tables show the median")
	fs.BoolVar(&o.isolate, "isolate", true, "run each run in a fresh child process")
	fs.BoolVar(&o.quiet, "q", false, "no progress lines on stderr")
	fs.StringVar(&o.child, "child", "", "internal: run one `scenario/impl` and print the result as JSON")
	fs.DurationVar(&o.timeout, "run-timeout", 3*time.Minute, "with -isolate: kill a run that takes longer and report it as failed")

	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "worker count of the pooled peers (the library's default)")
	fs.IntVar(&cfg.QueueSize, "queue", cfg.QueueSize, "channel capacity of chan-pool (the library's default queue size)")
	fs.DurationVar(&cfg.Handler, "handler", cfg.Handler, "sleep of the blocking handlers (io, flood, burst)")
	fs.IntVar(&cfg.ThroughputEvents, "events", cfg.ThroughputEvents, "throughput: events")
	fs.IntVar(&cfg.ThroughputPublishers, "publishers", cfg.ThroughputPublishers, "throughput and fan-out: publishers")
	fs.IntVar(&cfg.FanOutEvents, "fanout-events", cfg.FanOutEvents, "fan-out: events")
	fs.IntVar(&cfg.FanOutHandlers, "fanout-handlers", cfg.FanOutHandlers, "fan-out: handlers per event")
	fs.IntVar(&cfg.PublishEvents, "publish-events", cfg.PublishEvents, "publish: events")
	fs.IntVar(&cfg.IOEvents, "io-events", cfg.IOEvents, "io: events")
	fs.IntVar(&cfg.IOPublishers, "io-publishers", cfg.IOPublishers, "io: publishers")
	fs.DurationVar(&cfg.FloodDuration, "flood-duration", cfg.FloodDuration, "flood: how long the publishers run")
	fs.Float64Var(&cfg.FloodFactor, "flood-factor", cfg.FloodFactor, "flood: log-line rate as a multiple of the pool's capacity (workers / handler time)")
	fs.DurationVar(&cfg.FloodDrain, "flood-drain", cfg.FloodDrain, "flood: shutdown deadline after the publishers stop")
	fs.IntVar(&cfg.BurstEvents, "burst", cfg.BurstEvents, "burst: events")
	fs.IntVar(&cfg.BurstEventsUnbounded, "burst-unbounded", cfg.BurstEventsUnbounded, "burst: events for naive, asaskevich and brummer-today (0: same as -burst)")
	fs.DurationVar(&cfg.BurstWindow, "burst-window", cfg.BurstWindow, "burst: publishers stop after this long, published or not")
	fs.DurationVar(&cfg.ShutdownDeadline, "shutdown-deadline", cfg.ShutdownDeadline, "burst and lossless scenarios: deadline given to Close")
	fs.DurationVar(&cfg.Grace, "grace", cfg.Grace, "time added to a shutdown deadline for running handlers to return")
	fs.DurationVar(&cfg.SettleTimeout, "settle-timeout", cfg.SettleTimeout, "bound on every other wait; a run exceeding it fails")
	fs.DurationVar(&cfg.SampleEvery, "sample", cfg.SampleEvery, "sampling interval of goroutines and memory")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.count < 1 {
		return nil, errors.New("-count must be at least 1")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o.cfg = cfg
	for _, name := range list(*scen, bench.ScenarioNames()) {
		s, err := bench.LookupScenario(name)
		if err != nil {
			return nil, err
		}
		o.scenarios = append(o.scenarios, s)
	}
	for _, name := range list(*impl, bench.ImplNames()) {
		im, err := bench.LookupImpl(name)
		if err != nil {
			return nil, err
		}
		o.impls = append(o.impls, im)
	}
	return &o, nil
}

func list(s string, all []string) []string {
	if s == "all" {
		return all
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if o.child != "" {
		return runChild(o, stdout)
	}
	progress := stderr
	if o.quiet {
		progress = io.Discard
	}

	start := time.Now()
	rs := bench.Results{}
	// failed holds, per scenario, the failure of each implementation that
	// had one: a failed run (lost events, a bus that did not stop) leaves
	// the implementation out of that scenario's table and makes the
	// program exit with status 1 after printing everything.
	failed := map[string]map[string]error{}
	nfailed := 0
	for _, s := range o.scenarios {
		runs := map[string][]bench.Result{}
		failed[s.Name] = map[string]error{}
		// Repetitions outermost, so that a drift of the machine over
		// time falls on every implementation alike.
		for rep := range o.count {
			for _, im := range o.impls {
				if failed[s.Name][im.Name] != nil {
					continue
				}
				t0 := time.Now()
				res, err := runOne(o, args, s, im)
				if err != nil {
					err = fmt.Errorf("run %d: %w", rep+1, err)
					failed[s.Name][im.Name] = err
					nfailed++
					fmt.Fprintf(progress, "%s/%s FAILED: %v\n", s.Name, im.Name, err)
					continue
				}
				fmt.Fprintf(progress, "%s/%s run %d/%d: %.1fs\n", s.Name, im.Name, rep+1, o.count, time.Since(t0).Seconds())
				runs[im.Name] = append(runs[im.Name], res)
			}
		}
		rs[s.Name] = map[string]bench.Result{}
		for name, r := range runs {
			if failed[s.Name][name] == nil {
				rs[s.Name][name] = bench.Median(r)
			}
		}
	}

	names := make([]string, len(o.impls))
	for i, im := range o.impls {
		names[i] = im.Name
	}
	c := o.cfg
	fmt.Fprintf(stdout, "eventbus peer comparison — %s, %s %s/%s, GOMAXPROCS=%d, NumCPU=%d\n",
		time.Now().Format("2006-01-02 15:04 MST"), runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Fprintf(stdout, "median of %d run(s) each; workers=%d (library default, also ants/pond/chan-pool), queue=%d, brummer-today: %d workers + channel of 1000; handler sleep %v; total %.0fs\n",
		o.count, c.Workers, c.QueueSize, min(max(runtime.GOMAXPROCS(0)*5/2, 4), 32), c.Handler, time.Since(start).Seconds())
	lib := eventbus.DefaultConfig()
	fmt.Fprintf(stdout, "library DefaultConfig: %s, priorities=%v, monitoring=%v\n\n", lib.BackpressureMode, lib.EnablePriority, lib.MonitoringEnabled)

	for _, s := range o.scenarios {
		fmt.Fprintf(stdout, "## %s\n", s.Title)
		fmt.Fprintln(stdout, sizeLine(s.Name, c))
		bench.Table(stdout, s, names, rs[s.Name])
		for _, name := range names {
			if err := failed[s.Name][name]; err != nil {
				fmt.Fprintf(stdout, "FAILED %s: %s\n", name, strings.TrimSpace(err.Error()))
			}
		}
		fmt.Fprintln(stdout)
	}
	fmt.Fprintln(stdout, "## The seed's claims against naive")
	bench.VerdictTable(stdout, "claim", bench.Claims(rs, c))
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "## The library's targets")
	bench.VerdictTable(stdout, "target", bench.Targets(rs, c, o.impls))
	if nfailed > 0 {
		return fmt.Errorf("%d implementation(s) failed a scenario: see FAILED lines above", nfailed)
	}
	return nil
}

// sizeLine says what a scenario ran with.
func sizeLine(scenario string, c bench.Config) string {
	switch scenario {
	case "throughput":
		return fmt.Sprintf("%d events from %d publishers", c.ThroughputEvents, c.ThroughputPublishers)
	case "fanout":
		return fmt.Sprintf("%d events from %d publishers, %d handlers each", c.FanOutEvents, c.ThroughputPublishers, c.FanOutHandlers)
	case "publish":
		return fmt.Sprintf("%d events from 1 publisher", c.PublishEvents)
	case "io":
		return fmt.Sprintf("%d events from %d publishers, handler sleeps %v", c.IOEvents, c.IOPublishers, c.Handler)
	case "flood":
		return fmt.Sprintf("%.0f log lines/s from %d publishers (ticks of %v) = %.0fx the capacity of %d workers x %v handlers, plus %d high (process.started/exited, error.detected) and %d medium (build.event) events/s, for %v; then shutdown deadline %v (+%v grace); 'unfinished' = still queued then",
			c.FloodRate(), loadgen.FloodProcesses, loadgen.FloodTick, c.FloodFactor, c.Workers, c.Handler, loadgen.FloodHighPerSecond, loadgen.FloodMediumPerSecond, c.FloodDuration, c.FloodDrain, c.Grace)
	case "burst":
		s := fmt.Sprintf("%d events from %d publishers (window %v), handler sleeps %v; shutdown deadline %v (+%v grace); 'end:' = when the publishers returned; 'unfinished' = still queued at the cap", c.BurstEvents, c.BurstPublishers, c.BurstWindow, c.Handler, c.ShutdownDeadline, c.Grace)
		if c.BurstEventsUnbounded > 0 && c.BurstEventsUnbounded != c.BurstEvents {
			s += fmt.Sprintf("; naive, asaskevich and brummer-today get %d events", c.BurstEventsUnbounded)
		}
		return s
	}
	return ""
}

// runOne runs one scenario over one implementation, in a child process
// when isolating.
func runOne(o *options, args []string, s bench.Scenario, im bench.Impl) (bench.Result, error) {
	if !o.isolate {
		return s.Run(o.cfg, im)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cargs := append(append([]string(nil), args...), "-child", s.Name+"/"+im.Name)
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, cargs...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("killed after -run-timeout %v\n%s", o.timeout, errb.String())
		}
		return nil, fmt.Errorf("child process: %w\n%s", err, errb.String())
	}
	var res bench.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("child output: %w\n%s", err, out.String())
	}
	return res, nil
}

func runChild(o *options, stdout io.Writer) error {
	sName, iName, ok := strings.Cut(o.child, "/")
	if !ok {
		return fmt.Errorf("-child wants scenario/impl, not %q", o.child)
	}
	s, err := bench.LookupScenario(sName)
	if err != nil {
		return err
	}
	im, err := bench.LookupImpl(iName)
	if err != nil {
		return err
	}
	res, err := s.Run(o.cfg, im)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}
