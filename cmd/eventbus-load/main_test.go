package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brummer-dev/eventbus/internal/loadgen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// Every run must stop what it started: publishers, workers, the bus's
// sampler, the tool's own sampler and progress line.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// runArgs runs the program with args and returns its exit status and
// outputs.
func runArgs(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// quick are flags that make the whole program run in well under a second:
// a hundredth of the load table, a short flood at a modest rate, a sweep
// of a few counts.
var quick = []string{"-scale", "0.01", "-duration", "100ms", "-rate", "2000", "-handler", "io:100us",
	"-sweep-workers", "1,2", "-sweep-duration", "100ms"}

func TestDefaultRunPrintsTheTableAndTheSweep(t *testing.T) {
	dir := t.TempDir()
	jsonFile := filepath.Join(dir, "r.json")
	code, out, errOut := runArgs(t, context.Background(), append(quick, "-json", jsonFile)...)
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", out, errOut)

	for _, want := range []string{"\nsmall ", "\nmedium ", "\nheavy ", "\nburst ", "\nflood ",
		"sweep: flood at each worker count", "recommended: ", "CalculateOptimalWorkers() = ",
		"GetEnvironmentSpecificConfig() = ", "checks: ok", "wrote " + jsonFile} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "\ntui ", "tui runs only when asked for")
	// Progress goes to stderr, one plain line per run off a terminal.
	assert.Contains(t, errOut, "[1/")
	assert.Contains(t, errOut, "small w=")
	assert.NotContains(t, errOut, "\r")

	var rep struct {
		Scenarios []struct {
			Scenario   string  `json:"scenario"`
			Published  int64   `json:"published"`
			Delivered  int64   `json:"delivered"`
			Dropped    int64   `json:"dropped"`
			EventsPerS float64 `json:"events_per_sec"`
			Checks     []check `json:"checks"`
		} `json:"scenarios"`
		Sweeps []struct {
			Points []json.RawMessage `json:"points"`
			Rec    recommendation    `json:"recommendation"`
		} `json:"sweeps"`
		ChecksOK bool `json:"checks_ok"`
	}
	data, err := os.ReadFile(jsonFile)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &rep))
	assert.True(t, rep.ChecksOK)
	require.Len(t, rep.Scenarios, 5)
	for _, s := range rep.Scenarios {
		assert.Equal(t, s.Published, s.Delivered+s.Dropped, s.Scenario)
		assert.Positive(t, s.Published, s.Scenario)
		assert.Positive(t, s.EventsPerS, s.Scenario)
		for _, c := range s.Checks {
			assert.True(t, c.OK, "%s: %s: %s", s.Scenario, c.Name, c.Detail)
		}
	}
	require.Len(t, rep.Sweeps, 1)
	assert.GreaterOrEqual(t, len(rep.Sweeps[0].Points), 3, "1, 2 and the default count")
	assert.Positive(t, rep.Sweeps[0].Rec.Workers)
}

func TestExplicitScenarioRunsNoSweep(t *testing.T) {
	code, out, _ := runArgs(t, context.Background(), "-scenario", "small", "-scale", "0.1", "-handler", "io:50us", "-baseline")
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "\nsmall ")
	assert.Contains(t, out, "\n  naive ")
	assert.NotContains(t, out, "sweep:")
	assert.NotContains(t, out, "\nmedium ")
}

func TestInterruptStopsAndStillReports(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	code, out, _ := runArgs(t, ctx, "-scenario", "flood", "-duration", "1m", "-rate", "2000", "-handler", "io:100us")
	assert.Less(t, time.Since(start), 10*time.Second, "the run stops soon after the interrupt")
	assert.Equal(t, exitInterrupted, code, out)
	assert.Contains(t, out, "\nflood* ")
	assert.Contains(t, out, "interrupted: ")
	assert.Contains(t, out, "checks: ok", "the counts add up also for a run cut short")
}

func TestUnwritableOutputFails(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "missing", "r.json")
	code, _, errOut := runArgs(t, context.Background(), "-scenario", "small", "-scale", "0.05", "-handler", "io:10us", "-json", bad)
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, bad)
}

func TestHelp(t *testing.T) {
	code, out, errOut := runArgs(t, context.Background(), "-h")
	assert.Equal(t, exitOK, code)
	assert.Empty(t, errOut)
	for _, want := range []string{"Usage: eventbus-load", "-handler SPEC", "-sweep", "-p99-budget", "io:1ms@70,cpu:20us@30", "Exit status",
		"\n  tui ", "-tui-window DUR", "-tui-lines N", "Only\n          with -scenario tui"} {
		assert.Contains(t, out, want)
	}
}

func TestSummaryLineMarksFailures(t *testing.T) {
	r := &result{Published: 3, Delivered: 1, Dropped: 1, Levels: [loadgen.Levels]levelResult{{Published: 3, Delivered: 1, Dropped: 1}}}
	r.Checks = accountingChecks(r)
	assert.False(t, r.ok())
	assert.Contains(t, summaryLine(r), "CHECK FAILED")
	var out bytes.Buffer
	rep := &report{opts: &options{}, Scenarios: []*result{r}}
	rep.finish(false)
	assert.False(t, rep.ChecksOK)
	writeText(&out, rep)
	assert.Contains(t, out.String(), "CHECK FAILED")
	assert.True(t, strings.Contains(out.String(), "low 3 = 1 + 1"), out.String())
}
