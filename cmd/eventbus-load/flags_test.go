package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/brummer-dev/eventbus/internal/loadgen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every bad command line gets one line on stderr that names the flag, and
// exit status 2, before anything runs.
func TestBadFlags(t *testing.T) {
	cases := []struct {
		args []string
		flag string // the flag the message must name
	}{
		{[]string{"-workers", "-1"}, "-workers"},
		{[]string{"-workers", "many"}, "-workers"},
		{[]string{"-workers", "70000"}, "-workers"},
		{[]string{"-workers"}, "-workers"},
		{[]string{"-queue", "-5"}, "-queue"},
		{[]string{"-queue", "1.5"}, "-queue"},
		{[]string{"-policy", "drop-random"}, "-policy"},
		{[]string{"-policy", ""}, "-policy"},
		{[]string{"-priority=maybe"}, "-priority"},
		{[]string{"-timeout", "-1s"}, "-timeout"},
		{[]string{"-timeout", "soon"}, "-timeout"},
		{[]string{"-handler", ""}, "-handler"},
		{[]string{"-handler", "io"}, "-handler"},
		{[]string{"-handler", "io:"}, "-handler"},
		{[]string{"-handler", "disk:1ms"}, "-handler"},
		{[]string{"-handler", "io:0s"}, "-handler"},
		{[]string{"-handler", "io:-1ms"}, "-handler"},
		{[]string{"-handler", "cpu:1ns"}, "-handler"},
		{[]string{"-handler", "io:11s"}, "-handler"},
		{[]string{"-handler", "io:fast"}, "-handler"},
		{[]string{"-handler", "io:1ms@0"}, "-handler"},
		{[]string{"-handler", "io:1ms@1001"}, "-handler"},
		{[]string{"-handler", "io:1ms@x"}, "-handler"},
		{[]string{"-handler", "io:1ms@70,cpu:20us"}, "-handler"},
		{[]string{"-handler", "io:1ms,,cpu:20us"}, "-handler"},
		{[]string{"-handler", "mixed,io:1ms"}, "-handler"},
		{[]string{"-scenario", "huge"}, "-scenario"},
		{[]string{"-scenario", "small,"}, "-scenario"},
		{[]string{"-scenario", ""}, "-scenario"},
		{[]string{"-sweep-workers", "0"}, "-sweep-workers"},
		{[]string{"-sweep-workers", "1,x"}, "-sweep-workers"},
		{[]string{"-sweep-workers", "-4"}, "-sweep-workers"},
		{[]string{"-sweep-workers", ""}, "-sweep-workers"},
		{[]string{"-sweep-duration", "0"}, "-sweep-duration"},
		{[]string{"-sweep-duration", "-1s"}, "-sweep-duration"},
		{[]string{"-sweep=perhaps"}, "-sweep"},
		{[]string{"-p99-budget", "0s"}, "-p99-budget"},
		{[]string{"-p99-budget", "ten"}, "-p99-budget"},
		{[]string{"-duration", "0"}, "-duration"},
		{[]string{"-overload", "0"}, "-overload"},
		{[]string{"-overload", "-2"}, "-overload"},
		{[]string{"-overload", "NaN"}, "-overload"},
		{[]string{"-overload", "Inf"}, "-overload"},
		{[]string{"-rate", "-5"}, "-rate"},
		{[]string{"-scale", "0"}, "-scale"},
		{[]string{"-scale", "x"}, "-scale"},
		{[]string{"-sweep=false", "-svg", "chart.svg"}, "-svg"},
		{[]string{"-scenario", "small", "-svg", "chart.svg"}, "-svg"},
		{[]string{"-html", " "}, "-html"},
		{[]string{"-scenario", "tui", "-tui-window", "-1ms"}, "-tui-window"},
		{[]string{"-scenario", "tui", "-tui-window", "11s"}, "-tui-window"},
		{[]string{"-scenario", "tui", "-tui-window", "often"}, "-tui-window"},
		{[]string{"-scenario", "tui", "-tui-lines", "0"}, "-tui-lines"},
		{[]string{"-scenario", "tui", "-tui-lines", "1000001"}, "-tui-lines"},
		{[]string{"-tui-window", "5ms"}, "-tui-window"},
		{[]string{"-scenario", "flood", "-tui-lines", "100"}, "-tui-lines"},
		{[]string{"-sweep", "-scenario", "tui"}, "-scenario"},
		{[]string{"-sweep", "-scenario", "flood,tui", "-tui-lines", "100"}, "-scenario"},
		{[]string{"-frobnicate"}, "-frobnicate"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, out, errOut := runArgs(t, context.Background(), c.args...)
			assert.Equal(t, exitUsage, code)
			assert.Empty(t, out, "nothing runs")
			assert.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
			assert.True(t, strings.HasSuffix(errOut, "\n"), "one line: %q", errOut)
			assert.Contains(t, errOut, c.flag, "the message names the flag")
			assert.True(t, strings.HasPrefix(errOut, "eventbus-load: "), errOut)
		})
	}
}

func TestUnexpectedArgument(t *testing.T) {
	code, _, errOut := runArgs(t, context.Background(), "small")
	assert.Equal(t, exitUsage, code)
	assert.Equal(t, "eventbus-load: unexpected argument \"small\": everything is set with flags (see -h)\n", errOut)
}

func TestFlagsParse(t *testing.T) {
	o, err := parseFlags([]string{"-workers", "8", "-queue", "200", "-policy", "block", "-priority=false",
		"-timeout", "5ms", "-handler", "mixed", "-scenario", "flood,small", "-baseline",
		"-sweep-workers", "16,2,2,4", "-p99-budget", "3ms", "-rate", "1000", "-scale", "0.5"}, nil)
	require.NoError(t, err)
	assert.Equal(t, 8, o.workers)
	assert.Equal(t, 200, o.queue)
	assert.Equal(t, eventbus.Block, o.policy)
	assert.False(t, o.priority)
	assert.Equal(t, 5*time.Millisecond, o.timeout)
	assert.Equal(t, "io:1ms@70,cpu:20µs@30", o.prof.String())
	assert.Equal(t, []string{"small", "flood"}, o.scenarios, "in the table's order")
	assert.True(t, o.baseline)
	assert.Equal(t, []int{2, 4, 16}, o.sweepWorkers, "sorted, without repeats")
	assert.Equal(t, 3*time.Millisecond, o.p99Budget)
	assert.Equal(t, sweepOff, o.sweep, "an explicit -scenario runs only the table")
	assert.InDelta(t, 1000, o.logRate(), 0)

	cfg := o.config(8)
	assert.Equal(t, 8, cfg.Workers)
	assert.Equal(t, 200, cfg.QueueSize)
	assert.Equal(t, eventbus.Block, cfg.BackpressureMode)
	assert.False(t, cfg.EnablePriority)
	assert.Equal(t, 5*time.Millisecond, cfg.TimeoutDuration)
	assert.True(t, cfg.MonitoringEnabled)
}

func TestSweepModes(t *testing.T) {
	for _, c := range []struct {
		args          []string
		table, sweep  bool
		swept, tabled []string
	}{
		{nil, true, true, []string{"flood"}, defaultScenarios()},
		{[]string{"-sweep"}, false, true, []string{"flood"}, []string{"flood"}},
		{[]string{"-sweep", "-scenario", "small,heavy"}, false, true, []string{"small", "heavy"}, []string{"small", "heavy"}},
		{[]string{"-sweep=false"}, true, false, nil, defaultScenarios()},
		{[]string{"-scenario", "all"}, true, false, nil, defaultScenarios()},
		{[]string{"-scenario", "tui"}, true, false, nil, []string{"tui"}},
		{[]string{"-scenario", "tui,all"}, true, false, nil, scenarioNames()},
		{[]string{"-sweep", "-sweep=false"}, true, false, nil, defaultScenarios()},
	} {
		o, err := parseFlags(c.args, nil)
		require.NoError(t, err, c.args)
		assert.Equal(t, c.table, o.tableRuns(), c.args)
		assert.Equal(t, c.sweep, o.sweepRuns(), c.args)
		assert.Equal(t, c.swept, o.sweptScenarios(), c.args)
		assert.Equal(t, c.tabled, o.scenarios, c.args)
	}
}

func TestDefaultsAreDefaultConfig(t *testing.T) {
	o, err := parseFlags(nil, nil)
	require.NoError(t, err)
	def := eventbus.DefaultConfig()
	cfg := o.config(0)
	assert.Equal(t, def.Workers, cfg.Workers)
	assert.Equal(t, def.QueueSize, cfg.QueueSize)
	assert.Equal(t, def.BackpressureMode, cfg.BackpressureMode)
	assert.Equal(t, def.EnablePriority, cfg.EnablePriority)
	assert.Equal(t, def.TimeoutDuration, cfg.TimeoutDuration)
	assert.Equal(t, "io:1ms", o.prof.String())
	// A sweep point's queue follows its worker count.
	assert.Zero(t, o.config(16).QueueSize, "0: ten per worker, filled in by the bus")
	assert.Contains(t, o.sweepCounts(), eventbus.CalculateOptimalWorkers())
}

// -policy takes what eventbus.ParseDropPolicy takes: names in any case, and
// numbers.
func TestPolicyFlagIsTheLibrarysText(t *testing.T) {
	for arg, want := range map[string]eventbus.DropPolicy{"block": eventbus.Block, "DROP-OLDEST": eventbus.DropOldest, "1": eventbus.DropNewest} {
		o, err := parseFlags([]string{"-policy", arg}, nil)
		require.NoError(t, err, arg)
		assert.Equal(t, want, o.policy, arg)
	}
}

// The help describes the load table from loadgen; this catches the two
// drifting apart.
func TestHelpDescribesTheLoadTable(t *testing.T) {
	var b strings.Builder
	_, err := parseFlags([]string{"-h"}, &b)
	require.ErrorIs(t, err, flag.ErrHelp)
	for _, l := range loadgen.LoadTable {
		assert.Regexp(t, fmt.Sprintf(`(?m)^  %s +%s events from %d publishers`, l.Name, fmtCount(int64(l.Events)), l.Publishers), b.String())
	}
	assert.Contains(t, b.String(), fmt.Sprintf("%d processes, a process.started/exited every %v", loadgen.FloodProcesses, loadgen.FloodProcessEvery))
	assert.Contains(t, b.String(), fmt.Sprintf("error.detected every %v (high), a build.event every %v (medium)", loadgen.FloodErrorEvery, loadgen.FloodBuildEvery))
}
