package main

import (
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/brummer-dev/eventbus"
)

// report is everything a run of the tool measured, for the text, HTML and
// JSON outputs.
type report struct {
	Tool        string         `json:"tool"`
	Started     time.Time      `json:"started"`
	Machine     machineInfo    `json:"machine"`
	Config      configInfo     `json:"config"`
	Handler     handlerInfo    `json:"handler"`
	Sizing      sizingInfo     `json:"sizing"`
	LogRate     float64        `json:"flood_log_rate"`      // log lines/s in the flood
	PoolRate    float64        `json:"flood_pool_capacity"` // the table pool's estimated capacity, events/s
	Scenarios   []*result      `json:"scenarios"`
	Baseline    []*result      `json:"baseline"`
	Sweeps      []*sweepResult `json:"sweeps"`
	Interrupted bool           `json:"interrupted"`
	ChecksOK    bool           `json:"checks_ok"`

	opts *options
}

type machineInfo struct {
	Go         string `json:"go"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
}

// configInfo is the configuration of the table's runs.
type configInfo struct {
	Workers     int           `json:"workers"`
	Queue       int           `json:"queue"`
	Policy      string        `json:"policy"`
	Priority    bool          `json:"priority"`
	Timeout     time.Duration `json:"timeout_ns"`
	FromDefault bool          `json:"default_workers"` // -workers was not given
}

type handlerInfo struct {
	Spec        string        `json:"spec"`
	Description string        `json:"description"`
	Parts       []part        `json:"parts"`
	Mean        time.Duration `json:"mean_ns"`
	CPURoundNS  float64       `json:"cpu_ns_per_hash_round"`
}

// sizingInfo is what the library's sizing functions say on this machine.
type sizingInfo struct {
	CalculateOptimalWorkers int    `json:"calculate_optimal_workers"`
	EnvWorkers              int    `json:"environment_workers"`
	EnvQueue                int    `json:"environment_queue"`
	EnvProfile              string `json:"environment_profile"`
	EnvReason               string `json:"environment_reason"`
	Decision                string `json:"decision"` // SizingDecision.String()
}

func newReport(o *options) *report {
	d := eventbus.DecideSizing()
	mean, _ := o.prof.mean()
	queue := o.queue
	if queue == 0 {
		queue = o.baseWorkers() * 10
	}
	return &report{
		Tool:    "eventbus-load",
		Started: time.Now(),
		Machine: machineInfo{Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
			NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0)},
		Config: configInfo{Workers: o.baseWorkers(), Queue: queue, Policy: o.policy.String(),
			Priority: o.priority, Timeout: o.timeout, FromDefault: o.workers == 0},
		Handler: handlerInfo{Spec: o.prof.String(), Description: o.prof.describe(), Parts: o.prof.parts,
			Mean: mean, CPURoundNS: roundTime()},
		Sizing: sizingInfo{CalculateOptimalWorkers: eventbus.CalculateOptimalWorkers(), EnvWorkers: d.Workers,
			EnvQueue: d.QueueSize, EnvProfile: d.Profile, EnvReason: d.Reason, Decision: d.String()},
		LogRate:  o.logRate(),
		PoolRate: o.prof.capacity(o.baseWorkers(), runtime.GOMAXPROCS(0)),
		opts:     o,

		Scenarios: []*result{},
		Baseline:  []*result{},
		Sweeps:    []*sweepResult{},
	}
}

// newSweep starts the sweep of scenario name.
func (r *report) newSweep(name string) *sweepResult {
	o := r.opts
	sw := &sweepResult{
		Scenario:       name,
		Workers:        o.sweepCounts(),
		Budget:         o.p99Budget,
		Queue:          "10 per worker",
		DefaultWorkers: r.Sizing.CalculateOptimalWorkers,
		EnvWorkers:     r.Sizing.EnvWorkers,
		EnvProfile:     r.Sizing.EnvProfile,
	}
	if o.queue > 0 {
		sw.Queue = fmtCount(int64(o.queue))
	}
	if o.workers > 0 {
		sw.ConfiguredWorkers = o.workers
	}
	return sw
}

// finish records whether the runs were interrupted and whether every check
// passed.
func (r *report) finish(interrupted bool) {
	r.Interrupted = interrupted
	r.ChecksOK = true
	for _, res := range r.allResults() {
		if !res.ok() {
			r.ChecksOK = false
		}
	}
}

// allResults returns every run's result.
func (r *report) allResults() []*result {
	all := append([]*result{}, r.Scenarios...)
	all = append(all, r.Baseline...)
	for _, sw := range r.Sweeps {
		all = append(all, sw.Points...)
	}
	return all
}

// baselineOf returns the naive run of scenario name, or nil.
func (r *report) baselineOf(name string) *result {
	for _, b := range r.Baseline {
		if b.Scenario == name {
			return b
		}
	}
	return nil
}

// floodResult returns the flood run to chart delivered and dropped per
// priority: the table's, else the sweep point at the table's worker count.
func (r *report) floodResult() *result {
	for _, s := range r.Scenarios {
		if s.Scenario == "flood" {
			return s
		}
	}
	for _, sw := range r.Sweeps {
		if sw.Scenario == "flood" {
			if p := sw.point(r.Config.Workers); p != nil {
				return p
			}
		}
	}
	return nil
}

// configLine describes the table's bus configuration.
func configLine(r *report) string {
	c := r.Config
	src := "DefaultConfig()"
	if !c.FromDefault {
		src = "DefaultConfig() with -workers"
	}
	prio := "priorities on"
	if !c.Priority {
		prio = "priorities off"
	}
	wait := "no publisher wait"
	if c.Timeout > 0 {
		wait = "publishers wait up to " + fmtDur(c.Timeout)
	}
	return fmt.Sprintf("%s: %d workers, queue %s, %s, %s, %s", src, c.Workers, fmtCount(int64(c.Queue)), c.Policy, prio, wait)
}

func (r *report) hasFlood() bool {
	for _, s := range r.opts.scenarios {
		if isFlood(s) && r.opts.tableRuns() {
			return true
		}
	}
	for _, s := range r.opts.sweptScenarios() {
		if s == "flood" {
			return true
		}
	}
	return false
}

// runName is "eventbus w=5" or "naive".
func runName(r *result) string {
	if r.Bus == "naive" {
		return "naive"
	}
	return "eventbus w=" + strconv.Itoa(r.Workers)
}

// tableRows returns the table's results with each naive run after its bus
// run.
func (r *report) tableRows() []*result {
	var rows []*result
	for _, s := range r.Scenarios {
		rows = append(rows, s)
		if b := r.baselineOf(s.Scenario); b != nil {
			rows = append(rows, b)
		}
	}
	return rows
}

func scenarioLabel(r *result, withBus bool) string {
	s := r.Scenario
	if r.TUI != nil {
		s += " " + r.TUI.Mode
	}
	if r.Interrupted {
		s += "*"
	}
	if withBus && r.Bus == "naive" {
		return "  naive"
	}
	return s
}

// tuiRows returns the tui scenario's results, plain first.
func (r *report) tuiRows() []*result {
	var rows []*result
	for _, s := range r.Scenarios {
		if s.TUI != nil {
			rows = append(rows, s)
		}
	}
	return rows
}

// tuiAbout describes the views of the tui scenario in two sentences.
func (r *report) tuiAbout() [2]string {
	o := r.opts
	return [2]string{
		fmt.Sprintf("Brummer's log view beside the handler, keeping %s lines: a render filters them all and formats the newest %d.",
			fmtCount(int64(o.tuiLines)), tuiRows),
		fmt.Sprintf("plain renders on every log line it gets, as Brummer does; coalesced at most once per %s (WithCoalesce(%s, nil)).",
			fmtDur(o.tuiWindow), fmtDur(o.tuiWindow)),
	}
}

// lastLineCell is the age of the flood's last line when it appeared, or
// why it has none.
func lastLineCell(t *tuiResult) string {
	switch {
	case t.Lines == 0:
		return "-"
	case t.LastShown < t.Lines:
		return "never"
	}
	return fmtDur(t.LastLineAge)
}

// renderCPUCell is the renders' CPU time with its share of the CPUs, and
// a ~ where it is their wall time.
func renderCPUCell(t *tuiResult) string {
	s := fmtDur(t.RenderCPU.Round(time.Microsecond)) + " (" + fmtShare(t.RenderShare) + ")"
	if t.CPUIsWall {
		s = "~" + s
	}
	return s
}

// fmtShare formats a share as a percentage, with a decimal below 10%.
func fmtShare(x float64) string {
	if x < 0.1 {
		return fmt.Sprintf("%.1f%%", 100*x)
	}
	return fmt.Sprintf("%.0f%%", 100*x)
}
