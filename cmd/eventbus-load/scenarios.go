package main

import (
	"strconv"

	"github.com/brummer-dev/eventbus"
	"github.com/brummer-dev/eventbus/internal/loadgen"
)

// floodName is the scenario of the paced log flood; the others are the
// bursts of loadgen.LoadTable.
const floodName = "flood"

// scenarioNames returns the scenarios in the order of the table: the load
// table's bursts, then the flood.
func scenarioNames() []string {
	var names []string
	for _, b := range loadgen.LoadTable {
		names = append(names, b.Name)
	}
	return append(names, floodName)
}

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
}

// label names the run in progress lines.
func (s runSpec) label() string {
	if s.naive {
		return s.scenario + " (naive)"
	}
	return s.scenario + " w=" + strconv.Itoa(s.cfg.Workers)
}
