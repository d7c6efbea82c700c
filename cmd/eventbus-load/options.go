package main

import (
	"runtime"
	"slices"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/brummer-dev/eventbus/internal/loadgen"
)

// options are what the flags ask for.
type options struct {
	scenarios []string // names, in the order of the load table
	prof      *profile

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

	tuiWindow time.Duration // the tui scenario's coalescing window
	tuiLines  int           // the log lines its view keeps

	htmlFile, jsonFile, svgFile string

	args []string // the command line, for the reports
}

// sweepMode says whether the worker count is swept.
type sweepMode int

const (
	sweepAuto sweepMode = iota // the default run: the table, then a sweep of flood
	sweepOnly                  // -sweep: only the sweep
	sweepOff                   // -sweep=false, or -scenario alone: only the table
)

var defaultSweepWorkers = []int{1, 2, 4, 5, 8, 10, 16, 24, 32, 48, 64}

const defaultHandler = "io:1ms"

func defaultOptions() options {
	prof, err := parseProfile(defaultHandler)
	if err != nil {
		panic(err)
	}
	return options{
		scenarios:     defaultScenarios(),
		prof:          prof,
		policy:        eventbus.DefaultConfig().BackpressureMode,
		priority:      true,
		sweepWorkers:  slices.Clone(defaultSweepWorkers),
		sweepDuration: time.Second,
		p99Budget:     10 * time.Millisecond,
		duration:      2 * time.Second,
		overload:      5,
		scale:         1,
		tuiWindow:     defaultTUIWindow,
		tuiLines:      defaultTUILines,
	}
}

// sweepRuns reports whether a sweep runs.
func (o *options) sweepRuns() bool { return o.sweep != sweepOff }

// tableRuns reports whether the scenario table runs.
func (o *options) tableRuns() bool { return o.sweep != sweepOnly }

// sweptScenarios returns the scenarios the sweep covers: flood in the
// default run, the -scenario list with -sweep, none without a sweep.
func (o *options) sweptScenarios() []string {
	switch o.sweep {
	case sweepOff:
		return nil
	case sweepAuto:
		return []string{floodName}
	}
	return o.scenarios
}

// tableSpecs returns the runs of scenario name in the table: on the event
// bus and, with -baseline, on the naive one beside it; tui runs its view
// plain and then coalesced, on the event bus alone (the naive bus cannot
// coalesce).
func (o *options) tableSpecs(name string, logRate float64) []runSpec {
	if name == tuiName {
		var specs []runSpec
		for _, m := range []tuiMode{tuiPlain, tuiCoalesced} {
			s := o.spec(name, o.workers, false, false, logRate)
			s.tui = m
			specs = append(specs, s)
		}
		return specs
	}
	specs := []runSpec{o.spec(name, o.workers, false, false, logRate)}
	if o.baseline {
		specs = append(specs, o.spec(name, o.workers, true, false, logRate))
	}
	return specs
}

// plannedRuns returns the number of runs the options make.
func (o *options) plannedRuns() int {
	n := 0
	if o.tableRuns() {
		for _, name := range o.scenarios {
			n += len(o.tableSpecs(name, 0))
		}
	}
	return n + len(o.sweptScenarios())*len(o.sweepCounts())
}

// tuiRuns reports whether the tui scenario runs.
func (o *options) tuiRuns() bool {
	return o.tableRuns() && slices.Contains(o.scenarios, tuiName)
}

// sweepCounts returns the worker counts of the sweep: the -sweep-workers
// list plus the default, the environment's and the configured count, so
// that where they land is measured rather than interpolated.
func (o *options) sweepCounts() []int {
	ws := slices.Clone(o.sweepWorkers)
	for _, w := range []int{eventbus.CalculateOptimalWorkers(), eventbus.DecideSizing().Workers, o.workers} {
		if w > 0 {
			ws = append(ws, w)
		}
	}
	slices.Sort(ws)
	return slices.Compact(ws)
}

// config returns DefaultConfig changed by the flags, with workers workers
// (0: DefaultConfig's). The queue follows the worker count, ten per
// worker, unless -queue is given.
func (o *options) config(workers int) eventbus.Config {
	cfg := eventbus.DefaultConfig()
	if workers > 0 {
		cfg.Workers = workers
		cfg.QueueSize = 0
	}
	if o.queue > 0 {
		cfg.QueueSize = o.queue
	}
	cfg.BackpressureMode = o.policy
	cfg.EnablePriority = o.priority
	cfg.TimeoutDuration = o.timeout
	cfg.MonitoringEnabled = true
	return cfg
}

// baseWorkers is the worker count of the table's runs.
func (o *options) baseWorkers() int {
	if o.workers > 0 {
		return o.workers
	}
	return eventbus.CalculateOptimalWorkers()
}

// logRate is the flood's log lines per second: -rate, or -overload times
// the estimated capacity of the table's pool. The sweep keeps it, so that
// its points share one load.
func (o *options) logRate() float64 {
	if o.rate > 0 {
		return o.rate
	}
	return o.overload * o.prof.capacity(o.baseWorkers(), runtime.GOMAXPROCS(0))
}

// spec returns the run of scenario name with workers workers.
func (o *options) spec(name string, workers int, naive, sweep bool, logRate float64) runSpec {
	s := runSpec{scenario: name, cfg: o.config(workers), naive: naive, prof: o.prof,
		tuiWindow: o.tuiWindow, tuiLines: o.tuiLines}
	if isFlood(name) {
		f := loadgen.Flood{Duration: o.duration, LogRate: logRate}
		if sweep {
			f.Duration = o.sweepDuration
		}
		s.load = f
	} else {
		b, _ := tableBurst(name)
		s.load = b.Scaled(o.scale)
	}
	return s
}
