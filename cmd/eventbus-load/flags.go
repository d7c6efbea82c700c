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
	"time"

	"github.com/brummer-dev/eventbus"
)

// sweepMode says whether the worker count is swept.
type sweepMode int

const (
	sweepAuto sweepMode = iota // the default run: the table, then a sweep of flood
	sweepOnly                  // -sweep: only the sweep
	sweepOff                   // -sweep=false: only the table
)

// options are the parsed flags.
type options struct {
	scenarios   []string // names, in the order of the load table
	scenarioSet bool     // -scenario was given
	prof        *profile

	workers  int // 0: DefaultConfig's
	queue    int // 0: ten per worker
	policy   eventbus.DropPolicy
	priority bool
	timeout  time.Duration

	baseline bool

	sweep         sweepMode
	sweepWorkers  []int
	sweepDuration time.Duration
	p99Budget     time.Duration

	duration time.Duration // the flood's, in the table
	overload float64       // the flood's log rate in multiples of the pool's capacity
	rate     float64       // the flood's log rate in lines/s; 0: from overload
	scale    float64       // factor on the load table's event counts

	htmlFile, jsonFile, svgFile string

	args []string // the command line, for the reports
}

var defaultSweepWorkers = []int{1, 2, 4, 5, 8, 10, 16, 24, 32, 48, 64}

func defaultOptions() options {
	prof, _ := parseProfile("io:1ms")
	return options{
		scenarios:     scenarioNames(),
		prof:          prof,
		policy:        eventbus.DefaultConfig().BackpressureMode,
		priority:      true,
		sweepWorkers:  slices.Clone(defaultSweepWorkers),
		sweepDuration: time.Second,
		p99Budget:     10 * time.Millisecond,
		duration:      2 * time.Second,
		overload:      5,
		scale:         1,
	}
}

// sweepRuns reports whether a sweep runs.
func (o *options) sweepRuns() bool { return o.sweep != sweepOff }

// tableRuns reports whether the scenario table runs.
func (o *options) tableRuns() bool { return o.sweep != sweepOnly }

// sweptScenarios returns the scenarios the sweep covers: flood in the
// default run, the -scenario list with -sweep.
func (o *options) sweptScenarios() []string {
	switch o.sweep {
	case sweepOff:
		return nil
	case sweepAuto:
		return []string{"flood"}
	}
	return o.scenarios
}

const usageHead = `eventbus-load runs the event bus under the load table and a log flood, with
the handler you say, and shows throughput, publish cost, wait per priority,
drops, goroutines and heap, and which worker count to choose.

Usage: eventbus-load [flags]

With no flags (about 15 s on 2 CPUs) it runs every scenario on
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
Exit status: 0 ok, 1 an accounting check (delivered + dropped = published)
failed or a file could not be written, 2 bad flags, 130 interrupted.
`

// newFlagSet defines the flags on o.
func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("eventbus-load", flag.ContinueOnError)
	fs.Var(&scenarioValue{o}, "scenario", "scenarios: small, medium, heavy, burst, flood, a comma `LIST`, or all")
	fs.Var(&handlerValue{o}, "handler", "the handler profile `SPEC` (see above)")
	fs.Var(&intValue{p: &o.workers, max: eventbus.WorkerLimit}, "workers",
		fmt.Sprintf("`N` worker goroutines; 0: DefaultConfig's, CalculateOptimalWorkers() = %d here", eventbus.CalculateOptimalWorkers()))
	fs.Var(&intValue{p: &o.queue, max: math.MaxInt32}, "queue", "queue size `N`, all priorities together; 0: 10 per worker")
	fs.Var(&policyValue{&o.policy}, "policy", "the drop `POLICY`: drop-lowpri, drop-oldest, drop-newest or block")
	fs.BoolVar(&o.priority, "priority", o.priority, "serve high before medium before low (Config.EnablePriority)")
	fs.Var(&durationValue{p: &o.timeout, zeroOK: true}, "timeout", "a publisher waits up to `DUR` for room before the policy drops (Config.TimeoutDuration)")
	fs.BoolVar(&o.baseline, "baseline", false, "also run each scenario on a naive bus that starts a goroutine per event")
	fs.Var(&sweepValue{o}, "sweep", "only sweep the worker count over -scenario (default flood) and recommend a count;\n-sweep=false: only the scenario table. With neither -sweep nor -scenario: both")
	fs.Var(&workersListValue{o}, "sweep-workers", "worker counts of the sweep, a comma `LIST` (CalculateOptimalWorkers() and\nGetEnvironmentSpecificConfig()'s counts are added when missing)")
	fs.Var(&durationValue{p: &o.sweepDuration}, "sweep-duration", "the flood lasts `DUR` at each sweep point")
	fs.Var(&durationValue{p: &o.p99Budget}, "p99-budget", "a recommended count keeps the high-priority p99 wait within `DUR`")
	fs.Var(&durationValue{p: &o.duration}, "duration", "the flood lasts `DUR` in the scenario table")
	fs.Var(&floatValue{p: &o.overload}, "overload", "the flood's log rate is `X` times the pool's estimated capacity")
	fs.Var(&floatValue{p: &o.rate, zeroOK: true}, "rate", "the flood sends `N` log lines per second; 0: -overload decides")
	fs.Var(&floatValue{p: &o.scale}, "scale", "multiply the load table's event counts by `X`, e.g. 0.1 for a quick look")
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
	if o.sweep == sweepOnly && !o.scenarioSet {
		o.scenarios = []string{"flood"}
	}
	if o.sweep == sweepAuto && o.scenarioSet {
		o.sweep = sweepOff // an explicit -scenario runs just those
	}
	if o.svgFile != "" && !o.sweepRuns() {
		return o, &errUsage{"-svg: it writes the sweep chart, but no sweep runs (add -sweep)"}
	}
	for _, f := range []struct{ name, file string }{{"html", o.htmlFile}, {"json", o.jsonFile}, {"svg", o.svgFile}} {
		if f.file != "" && strings.TrimSpace(f.file) == "" {
			return o, &errUsage{fmt.Sprintf("-%s: the file name is blank", f.name)}
		}
	}
	return o, nil
}

// The flag values: each Set checks its value, so that fs.Parse reports a
// bad one as `invalid value "x" for flag -name: why`.

type intValue struct {
	p   *int
	max int
}

func (v *intValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	switch {
	case err != nil:
		return errors.New("want a whole number")
	case n < 0:
		return errors.New("must not be negative")
	case n > v.max:
		return fmt.Errorf("must be at most %d", v.max)
	}
	*v.p = n
	return nil
}

type floatValue struct {
	p      *float64
	zeroOK bool
}

func (v *floatValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatFloat(*v.p, 'g', -1, 64)
}

func (v *floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	switch {
	case err != nil || math.IsNaN(f) || math.IsInf(f, 0):
		return errors.New("want a number")
	case f < 0:
		return errors.New("must not be negative")
	case f == 0 && !v.zeroOK:
		return errors.New("must be more than 0")
	case f > 1e9:
		return errors.New("must be at most 1e9")
	}
	*v.p = f
	return nil
}

type durationValue struct {
	p      *time.Duration
	zeroOK bool
}

func (v *durationValue) String() string {
	if v.p == nil {
		return "0s"
	}
	return v.p.String()
}

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	switch {
	case err != nil:
		return errors.New("want a duration such as 500ms or 2s")
	case d < 0:
		return errors.New("must not be negative")
	case d == 0 && !v.zeroOK:
		return errors.New("must be more than 0")
	}
	*v.p = d
	return nil
}

type policyValue struct{ p *eventbus.DropPolicy }

func (v *policyValue) String() string {
	if v.p == nil {
		return ""
	}
	return v.p.String()
}

func (v *policyValue) Set(s string) error {
	p, err := eventbus.ParseDropPolicy(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("unknown policy (want drop-lowpri, drop-oldest, drop-newest or block)")
	}
	*v.p = p
	return nil
}

type handlerValue struct{ o *options }

func (v *handlerValue) String() string {
	if v.o == nil || v.o.prof == nil {
		return ""
	}
	return v.o.prof.spec
}

func (v *handlerValue) Set(s string) error {
	p, err := parseProfile(s)
	if err != nil {
		return err
	}
	v.o.prof = p
	return nil
}

type scenarioValue struct{ o *options }

func (v *scenarioValue) String() string {
	if v.o == nil {
		return ""
	}
	if slices.Equal(v.o.scenarios, scenarioNames()) {
		return "all"
	}
	return strings.Join(v.o.scenarios, ",")
}

func (v *scenarioValue) Set(s string) error {
	want := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		name := strings.ToLower(strings.TrimSpace(item))
		switch {
		case name == "all":
			for _, n := range scenarioNames() {
				want[n] = true
			}
		case slices.Contains(scenarioNames(), name):
			want[name] = true
		case name == "":
			return errors.New("empty scenario name")
		default:
			return fmt.Errorf("unknown scenario %q (want small, medium, heavy, burst, flood or all)", name)
		}
	}
	v.o.scenarios = nil
	for _, n := range scenarioNames() {
		if want[n] {
			v.o.scenarios = append(v.o.scenarios, n)
		}
	}
	v.o.scenarioSet = true
	return nil
}

type workersListValue struct{ o *options }

func (v *workersListValue) String() string {
	if v.o == nil {
		return ""
	}
	var s []string
	for _, w := range v.o.sweepWorkers {
		s = append(s, strconv.Itoa(w))
	}
	return strings.Join(s, ",")
}

func (v *workersListValue) Set(s string) error {
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
	v.o.sweepWorkers = slices.Compact(ws)
	return nil
}

// sweepValue is a boolean flag with a third state, unset.
type sweepValue struct{ o *options }

func (v *sweepValue) IsBoolFlag() bool { return true }

func (v *sweepValue) String() string {
	if v.o != nil && v.o.sweep == sweepOnly {
		return "true"
	}
	return "false"
}

func (v *sweepValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	if b {
		v.o.sweep = sweepOnly
	} else {
		v.o.sweep = sweepOff
	}
	return nil
}
