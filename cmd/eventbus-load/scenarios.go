package main

import (
	"strconv"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/brummer-dev/eventbus/internal/loadgen"
)

// floodName is the scenario of the paced log flood; tuiName is the flood
// with Brummer's log view beside the handler (see tui.go); the others are
// the bursts of loadgen.LoadTable.
const (
	floodName = "flood"
	tuiName   = "tui"
)

// scenarioNames returns every scenario in the order of the table: the load
// table's bursts, the flood, then tui.
func scenarioNames() []string {
	return append(defaultScenarios(), tuiName)
}

// defaultScenarios returns the scenarios a run makes unless -scenario
// names others, and that "all" stands for: every one but tui, which takes
// two floods and answers a question of its own.
func defaultScenarios() []string {
	var names []string
	for _, b := range loadgen.LoadTable {
		names = append(names, b.Name)
	}
	return append(names, floodName)
}

// isFlood reports whether scenario name publishes the flood.
func isFlood(name string) bool { return name == floodName || name == tuiName }

// tableBurst returns the load-table burst called name.
func tableBurst(name string) (loadgen.Burst, bool) {
	for _, b := range loadgen.LoadTable {
		if b.Name == name {
			return b, true
		}
	}
	return loadgen.Burst{}, false
}

// levelNames names the priority levels by their index in loadgen.Level.
var levelNames = [loadgen.Levels]string{
	eventbus.PriorityLow.String(), eventbus.PriorityMedium.String(), eventbus.PriorityHigh.String(),
}

// The level indexes the tables and charts single out.
const (
	levelLow  = 0
	levelHigh = loadgen.Levels - 1
)

// runSpec is one run to make.
type runSpec struct {
	scenario string
	load     loadgen.Load // a loadgen.Burst (after -scale) or a loadgen.Flood
	cfg      eventbus.Config
	naive    bool // a goroutine per event instead of the bus
	prof     *profile

	// The tui scenario's view: how it subscribes, its window when
	// coalesced, and the lines it keeps.
	tui       tuiMode
	tuiWindow time.Duration
	tuiLines  int
}

// label names the run in progress lines.
func (s runSpec) label() string {
	if s.naive {
		return s.scenario + " (naive)"
	}
	name := s.scenario
	if s.tui != tuiOff {
		name += " " + s.tui.String()
	}
	return name + " w=" + strconv.Itoa(s.cfg.Workers)
}
