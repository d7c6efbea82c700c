package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/brummer-dev/eventbus"
)

const usageHead = `eventbus-load runs the event bus under the load table and a log flood, with
the handler you say, and shows throughput, publish cost, wait per priority,
drops, goroutines and heap, and which worker count to choose.

Usage: eventbus-load [flags]

With no flags (about 15 s on 2 CPUs) it runs every scenario but tui on
eventbus.DefaultConfig() with 1 ms I/O handlers, then sweeps the worker count
over the flood and recommends one. The load table's publishers publish as fast
as they can, far faster than the default pool with 1 ms handlers takes, so each
burst is over in well under a second with nearly everything dropped, high
priority least (drop-lowpri keeps the queue for it): what survives a burst is
the queue, see -queue. Under -policy block nothing is dropped and Heavy alone
takes 20 s; -scale shrinks the table, -handler cpu:20us speeds it up.

Scenarios (-scenario; each event's priority is its type's DefaultPriority):
  small   1,000 events from 10 publishers    ┐ as fast as they can; of every
  medium  10,000 events from 50 publishers   │ 100 events 1 is process.exited
  heavy   100,000 events from 100 publishers │ (high), 4 build.event (medium),
  burst   50,000 events from 500 publishers  ┘ 95 log.line (low)
  flood   for -duration: log lines at -overload times the pool's capacity from
          4 processes, a process.started/exited every 5ms and an
          error.detected every 50ms (high), a build.event every 25ms (medium)
  tui     the flood with Brummer's log view subscribed beside the handler, run
          twice: plain, rendering on every log line as Brummer does, then
          coalesced, at most once per -tui-window (WithCoalesce, one key).
          The view keeps -tui-lines lines, stored as they are published; a
          render filters them all and formats the newest 50 (about 300µs at
          10,000 lines). It shows renders/s, render time, the age of the
          screen (a line's publish to the first render showing it, and the
          flood's last line's), and the high-priority wait beside it. Only
          with -scenario tui (two floods, about 4 s more); not swept, and
          not on the naive bus (-baseline).
          Brummer publishes each line twice, so it renders twice as often.

Handler (-handler): SPEC = mixed | PART{,PART}; PART = KIND:DURATION[@WEIGHT]
  cpu:20us  20µs of real computation (a hash loop calibrated at start)
  io:1ms    1ms of time.Sleep (a call waiting on disk, network, a slow TUI)
  mixed     io:1ms@70,cpu:20us@30
  io:1ms@70,cpu:20us@30  weights are relative shares of the calls (1..1000),
            on every part or none; durations 1µs..10s

Flags:
`

const usageTail = `
Output: the tables on stdout; progress on stderr (one updating line on a
terminal, plain lines otherwise); Ctrl-C stops and prints what was measured.
Exit status: 0 ok, 1 an accounting check (delivered + dropped = published;
for tui also: the view got every log line the bus did not drop, and its last
frame shows the newest of them) failed or a file could not be written, 2 bad
flags, 130 interrupted.
`

// newFlagSet defines the flags on o. Flags of a standard type are checked
// for range after parsing, by checkRanges.
func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("eventbus-load", flag.ContinueOnError)
	fs.Func("scenario", "scenarios: small, medium, heavy, burst, flood, tui, a comma `LIST`, or all\n(default all: every one but tui)", o.setScenarios)
	fs.Func("handler", "the handler profile `SPEC` (see above) (default "+defaultHandler+")", o.setHandler)
	fs.IntVar(&o.workers, "workers", o.workers,
		fmt.Sprintf("`N` worker goroutines; 0: DefaultConfig's, CalculateOptimalWorkers() = %d here", eventbus.CalculateOptimalWorkers()))
	fs.IntVar(&o.queue, "queue", o.queue, "queue size `N`, all priorities together; 0: 10 per worker")
	fs.TextVar(&o.policy, "policy", o.policy, "the drop `POLICY`: drop-lowpri, drop-oldest, drop-newest or block")
	fs.BoolVar(&o.priority, "priority", o.priority, "serve high before medium before low (Config.EnablePriority)")
	fs.DurationVar(&o.timeout, "timeout", o.timeout, "a publisher waits up to `DUR` for room before the policy drops (Config.TimeoutDuration)")
	fs.BoolVar(&o.baseline, "baseline", o.baseline, "also run each scenario on a naive bus that starts a goroutine per event")
	fs.Bool("sweep", false, "only sweep the worker count over -scenario (default flood) and recommend a count;\n-sweep=false: only the scenario table. With neither -sweep nor -scenario: both")
	fs.Func("sweep-workers", "worker counts of the sweep, a comma `LIST` (CalculateOptimalWorkers() and\nGetEnvironmentSpecificConfig()'s counts are added when missing) (default "+joinInts(defaultSweepWorkers)+")", o.setSweepWorkers)
	fs.DurationVar(&o.sweepDuration, "sweep-duration", o.sweepDuration, "the flood lasts `DUR` at each sweep point")
	fs.DurationVar(&o.p99Budget, "p99-budget", o.p99Budget, "a recommended count keeps the high-priority p99 wait within `DUR`")
	fs.DurationVar(&o.duration, "duration", o.duration, "the flood lasts `DUR` in the scenario table")
	fs.Float64Var(&o.overload, "overload", o.overload, "the flood's log rate is `X` times the pool's estimated capacity")
	fs.Float64Var(&o.rate, "rate", o.rate, "the flood sends `N` log lines per second; 0: -overload decides")
	fs.Float64Var(&o.scale, "scale", o.scale, "multiply the load table's event counts by `X`, e.g. 0.1 for a quick look")
	fs.DurationVar(&o.tuiWindow, "tui-window", o.tuiWindow, "tui: the coalesced view renders at most once per `DUR` (0: no limit, the newest wins)")
	fs.IntVar(&o.tuiLines, "tui-lines", o.tuiLines, "tui: the view keeps the newest `N` log lines, and each render filters them all")
	fs.StringVar(&o.htmlFile, "html", "", "write a self-contained HTML report with charts to `FILE`")
	fs.StringVar(&o.jsonFile, "json", "", "write every figure as JSON to `FILE`")
	fs.StringVar(&o.svgFile, "svg", "", "write the sweep chart (throughput and p99 wait vs workers) as SVG to `FILE`")
	return fs
}

// printUsage writes the help text.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, usageHead)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, usageTail)
}

// errUsage is a bad command line; the message is on one line and names the
// flag.
type errUsage struct{ msg string }

func (e *errUsage) Error() string { return e.msg }

// parseFlags parses args. It returns flag.ErrHelp for -h, after writing the
// help to stdout, and an *errUsage for a bad command line.
func parseFlags(args []string, stdout io.Writer) (options, error) {
	o := defaultOptions()
	o.args = args
	fs := newFlagSet(&o)
	fs.SetOutput(io.Discard) // errors are reported in one line by run
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout, fs)
			return o, err
		}
		return o, &errUsage{err.Error()}
	}
	if fs.NArg() > 0 {
		return o, &errUsage{fmt.Sprintf("unexpected argument %q: everything is set with flags (see -h)", fs.Arg(0))}
	}
	if err := checkRanges(fs, &o); err != nil {
		return o, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	switch {
	case given["sweep"] && fs.Lookup("sweep").Value.String() == "true":
		o.sweep = sweepOnly
		if !given["scenario"] {
			o.scenarios = []string{floodName}
		}
	case given["sweep"], given["scenario"]: // an explicit -scenario runs just those
		o.sweep = sweepOff
	}
	if o.svgFile != "" && !o.sweepRuns() {
		return o, &errUsage{"-svg: it writes the sweep chart, but no sweep runs (add -sweep)"}
	}
	if slices.Contains(o.sweptScenarios(), tuiName) {
		return o, &errUsage{"-scenario tui cannot be swept: it compares two views at one worker count (drop -sweep)"}
	}
	for _, f := range []string{"tui-window", "tui-lines"} {
		if given[f] && !o.tuiRuns() {
			return o, &errUsage{fmt.Sprintf("-%s: it sets the tui scenario, which does not run (add -scenario tui)", f)}
		}
	}
	for _, f := range []struct{ name, file string }{{"html", o.htmlFile}, {"json", o.jsonFile}, {"svg", o.svgFile}} {
		if f.file != "" && strings.TrimSpace(f.file) == "" {
			return o, &errUsage{fmt.Sprintf("-%s: the file name is blank", f.name)}
		}
	}
	return o, nil
}

// checkRanges rejects the values that parse as their type but make no
// sense for the flag, in the flag package's words for a bad value.
func checkRanges(fs *flag.FlagSet, o *options) error {
	const maxFloat = 1e9
	number := func(x float64, zeroOK bool) bool {
		return !math.IsNaN(x) && x <= maxFloat && (x > 0 || zeroOK && x == 0)
	}
	for _, c := range []struct {
		flag string
		ok   bool
		want string
	}{
		{"workers", o.workers >= 0 && o.workers <= eventbus.WorkerLimit, fmt.Sprintf("a count from 0 to %d", eventbus.WorkerLimit)},
		{"queue", o.queue >= 0 && o.queue <= math.MaxInt32, fmt.Sprintf("a size from 0 to %d", math.MaxInt32)},
		{"timeout", o.timeout >= 0, "0 or more"},
		{"sweep-duration", o.sweepDuration > 0, "more than 0"},
		{"p99-budget", o.p99Budget > 0, "more than 0"},
		{"duration", o.duration > 0, "more than 0"},
		{"overload", number(o.overload, false), "a number above 0, at most 1e9"},
		{"rate", number(o.rate, true), "a number from 0 to 1e9"},
		{"scale", number(o.scale, false), "a number above 0, at most 1e9"},
		{"tui-window", o.tuiWindow >= 0 && o.tuiWindow <= maxTUIWindow, "0 to " + maxTUIWindow.String()},
		{"tui-lines", o.tuiLines >= 1 && o.tuiLines <= maxTUILines, fmt.Sprintf("a count from 1 to %d", maxTUILines)},
	} {
		if !c.ok {
			return &errUsage{fmt.Sprintf("invalid value %q for flag -%s: want %s", fs.Lookup(c.flag).Value, c.flag, c.want)}
		}
	}
	return nil
}

// setScenarios is -scenario: a comma list of names or "all", kept in the
// order of the table.
func (o *options) setScenarios(s string) error {
	want := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		name := strings.ToLower(strings.TrimSpace(item))
		switch {
		case name == "all":
			for _, n := range defaultScenarios() {
				want[n] = true
			}
		case slices.Contains(scenarioNames(), name):
			want[name] = true
		case name == "":
			return errors.New("empty scenario name")
		default:
			return fmt.Errorf("unknown scenario %q (want small, medium, heavy, burst, flood, tui or all)", name)
		}
	}
	o.scenarios = slices.DeleteFunc(scenarioNames(), func(n string) bool { return !want[n] })
	return nil
}

// setHandler is -handler: a profile spec (see handler.go).
func (o *options) setHandler(s string) error {
	p, err := parseProfile(s)
	if err == nil {
		o.prof = p
	}
	return err
}

// setSweepWorkers is -sweep-workers: a comma list of worker counts, kept
// sorted and without repeats.
func (o *options) setSweepWorkers(s string) error {
	var ws []int
	for _, item := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(item))
		switch {
		case err != nil:
			return fmt.Errorf("%q is not a whole number (want e.g. 1,2,4,8)", strings.TrimSpace(item))
		case n < 1 || n > eventbus.WorkerLimit:
			return fmt.Errorf("%d is out of range (1 to %d)", n, eventbus.WorkerLimit)
		}
		ws = append(ws, n)
	}
	slices.Sort(ws)
	o.sweepWorkers = slices.Compact(ws)
	return nil
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
