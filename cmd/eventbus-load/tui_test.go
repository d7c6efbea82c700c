package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tuiSpec is a tui run at a tiny size: a 150 ms flood of 4,000 lines/s on
// two workers.
func tuiSpec(t *testing.T, mode tuiMode) runSpec {
	t.Helper()
	s := testSpec(t, tuiName, smallConfig(2, 10, eventbus.DropLowPri))
	s.tui, s.tuiWindow, s.tuiLines = mode, defaultTUIWindow, defaultTUILines
	return s
}

// The same flood, rendered on every line and coalesced: the coalesced view
// renders far less often, at most once per window, and its last frame
// still shows the flood's last line.
func TestTUIScenarioCoalescedRendersLessAndShowsTheLastLine(t *testing.T) {
	plain := runOne(context.Background(), tuiSpec(t, tuiPlain), nil)
	coalesced := runOne(context.Background(), tuiSpec(t, tuiCoalesced), nil)
	for _, r := range []*result{plain, coalesced} {
		requireAccounted(t, r)
		require.NotNil(t, r.TUI)
		v := r.TUI
		assert.Len(t, r.Checks, 5, "the bus's two and the view's three")
		assert.Positive(t, v.Lines, v.Mode)
		assert.Equal(t, r.Levels[levelLow].Published, v.Lines, "a stored line per log line published")
		assert.Equal(t, v.Lines, v.LastShown, "%s: the last frame shows the last line", v.Mode)
		assert.Positive(t, v.LastLineAge, v.Mode)
		assert.Less(t, v.LastLineAge, r.Elapsed, v.Mode)
		assert.Zero(t, v.Unseen, v.Mode)
		assert.Equal(t, v.Lines, v.Age.Count, "%s: an age per line shown", v.Mode)
		assert.Equal(t, v.Renders, v.Subscription.Delivered, v.Mode)
		assert.Equal(t, r.Levels[levelLow].Dropped, v.Dropped, "%s: what the bus's queue dropped", v.Mode)
		assert.Positive(t, v.RenderTime, v.Mode)
		assert.InDelta(t, float64(v.Renders)/r.Elapsed.Seconds(), v.RendersPerSec, 1e-6, v.Mode)
		assert.Equal(t, "tui", v.Subscription.Name)
	}

	assert.Equal(t, "plain", plain.TUI.Mode)
	assert.Zero(t, plain.TUI.Window)
	assert.Zero(t, plain.TUI.Subscription.Coalesced)
	assert.Equal(t, plain.Levels[levelLow].Delivered, plain.TUI.Renders, "plain renders once per log line it gets")

	c := coalesced.TUI
	assert.Equal(t, "coalesced", c.Mode)
	assert.Equal(t, defaultTUIWindow, c.Window)
	assert.Positive(t, c.Subscription.Coalesced)
	assert.Equal(t, c.Subscription.Matched, c.Renders+c.Subscription.Coalesced)
	// Calls are a window apart, start to start, and all of them start and
	// end between the first publish and idle.
	assert.LessOrEqual(t, c.Renders, int64(coalesced.Elapsed/defaultTUIWindow)+1)
	assert.Less(t, 5*c.Renders, plain.TUI.Renders, "coalesced %d renders, plain %d", c.Renders, plain.TUI.Renders)
}

// A window of 0 limits nothing but still lets the newest line win while a
// render runs; the last frame shows the last line all the same.
func TestTUIScenarioWithoutAWindow(t *testing.T) {
	spec := tuiSpec(t, tuiCoalesced)
	spec.tuiWindow = 0
	spec.tuiLines = 100
	r := runOne(context.Background(), spec, nil)
	requireAccounted(t, r)
	assert.Equal(t, r.TUI.Lines, r.TUI.LastShown)
	assert.Equal(t, 100, r.TUI.Kept)
}

func TestTUIScenarioFromTheCommandLine(t *testing.T) {
	js := filepath.Join(t.TempDir(), "r.json")
	code, out, errOut := runArgs(t, context.Background(), "-scenario", "tui", "-duration", "150ms", "-rate", "3000",
		"-handler", "io:100us", "-tui-window", "20ms", "-tui-lines", "2000", "-json", js)
	require.Equal(t, exitOK, code, "%s\n%s", out, errOut)
	assert.Contains(t, errOut, "[1/2] tui plain w=")
	assert.Contains(t, errOut, "[2/2] tui coalesced w=")
	assert.Contains(t, errOut, " renders")
	for _, want := range []string{"\ntui plain ", "\ntui coalesced ", "keeping 2,000 lines", "at most once per 20ms (WithCoalesce(20ms, nil))",
		"render CPU (share)", "last line", "checks: ok: each tui view got every log line", "flood    3,000 log lines/s"} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "sweep:", "an explicit -scenario runs no sweep")

	var rep struct {
		Scenarios []struct {
			Scenario string     `json:"scenario"`
			TUI      *tuiResult `json:"tui"`
			Checks   []check    `json:"checks"`
		} `json:"scenarios"`
		ChecksOK bool `json:"checks_ok"`
	}
	data, err := os.ReadFile(js)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &rep))
	assert.True(t, rep.ChecksOK)
	require.Len(t, rep.Scenarios, 2)
	for i, mode := range []string{"plain", "coalesced"} {
		s := rep.Scenarios[i]
		assert.Equal(t, "tui", s.Scenario)
		require.NotNil(t, s.TUI)
		assert.Equal(t, mode, s.TUI.Mode)
		assert.Equal(t, 2000, s.TUI.Kept)
		assert.Equal(t, s.TUI.Lines, s.TUI.LastShown, mode)
		assert.Positive(t, s.TUI.Renders, mode)
	}
	assert.Equal(t, 20*time.Millisecond, rep.Scenarios[1].TUI.Window)
	assert.Less(t, rep.Scenarios[1].TUI.Renders, rep.Scenarios[0].TUI.Renders)
}

func TestTUIFlags(t *testing.T) {
	o, err := parseFlags([]string{"-scenario", "tui,flood", "-baseline", "-tui-window", "0", "-tui-lines", "500"}, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"flood", "tui"}, o.scenarios)
	assert.Zero(t, o.tuiWindow)
	assert.Equal(t, 500, o.tuiLines)
	assert.Equal(t, 4, o.plannedRuns(), "flood on both buses, tui's two views on the event bus")
	specs := o.tableSpecs(tuiName, 1000)
	require.Len(t, specs, 2)
	for i, m := range []tuiMode{tuiPlain, tuiCoalesced} {
		assert.Equal(t, m, specs[i].tui)
		assert.False(t, specs[i].naive)
		assert.Equal(t, 500, specs[i].tuiLines)
		assert.Contains(t, specs[i].label(), "tui "+m.String()+" w=")
	}

	all, err := parseFlags([]string{"-scenario", "all,tui"}, nil)
	require.NoError(t, err)
	assert.Equal(t, scenarioNames(), all.scenarios)
	assert.True(t, all.tuiRuns())
	def, err := parseFlags(nil, nil)
	require.NoError(t, err)
	assert.False(t, def.tuiRuns(), "not in the default run")
	assert.NotContains(t, def.scenarios, tuiName)
}

func TestLogStoreKeepsTheNewestLines(t *testing.T) {
	s := newLogStore(4)
	for i := 1; i <= 3; i++ {
		assert.EqualValues(t, i, s.add("p", int64(i)))
	}
	early, n := s.view()
	assert.EqualValues(t, 3, n)
	require.Len(t, early, 3)
	for i := 4; i <= 21; i++ { // several moves to a fresh slice
		s.add("p", int64(i))
	}
	lines, n := s.view()
	assert.EqualValues(t, 21, n)
	require.Len(t, lines, 4)
	for i, l := range lines {
		assert.EqualValues(t, 18+i, l.at, "the newest four, in order")
		assert.Contains(t, l.text, strconv.Itoa(18+i))
	}
	// A snapshot never changes under later adds.
	for i, l := range early {
		assert.EqualValues(t, i+1, l.at)
		assert.Equal(t, lineText("p", int64(i+1)), l.text)
	}
	assert.EqualValues(t, 21, s.count())
}

func TestFramesRecordWhatFirstShowsEachLine(t *testing.T) {
	v := newTUIView(tuiPlain, 0, 3)
	lines := func(first, last int64) []storedLine {
		var ls []storedLine
		for n := first; n <= last; n++ {
			ls = append(ls, storedLine{at: 10 * n})
		}
		return ls
	}
	v.frame(lines(1, 2), 2, 100)
	v.frame(lines(1, 1), 1, 200) // ended later, showing less: shows nothing first
	v.frame(lines(5, 7), 7, 300) // lines 3 and 4 left the store unseen
	v.frame(lines(5, 7), 7, 400)
	assert.Equal(t, []time.Duration{90, 80, 250, 240, 230}, v.ages)
	assert.EqualValues(t, 7, v.shown)
	assert.EqualValues(t, 2, v.unseen)
	assert.Equal(t, time.Duration(230), v.shownAge)

	for range 8 {
		v.store.add("p", 0)
	}
	r := v.result(eventbus.SubscriptionStats{Matched: 6}, &result{Elapsed: time.Second})
	assert.Equal(t, "plain", r.Mode)
	assert.EqualValues(t, 3, r.Unseen, "two skipped, and the eighth line after the last frame")
	assert.EqualValues(t, 2, r.Dropped, "stored, but never handed to the view")
	assert.Zero(t, r.LastLineAge, "the last line was never shown")
	assert.Equal(t, "never", lastLineCell(r))
}

func TestDrawLogShowsTheNewestMatches(t *testing.T) {
	s := newLogStore(1000)
	for i := 1; i <= 1000; i++ {
		s.add("proc-1", int64(i)*int64(time.Millisecond))
	}
	lines, n := s.view()
	frame := string(drawLog(nil, lines, n))
	rows := strings.Split(strings.TrimSuffix(frame, "\n"), "\n")
	// Two lines in three match /api/; a tenth of them are errors.
	assert.True(t, strings.HasPrefix(rows[0], "─ logs ─ 667 matching \"/api/\" of 1000 lines, 67 errors, "), rows[0])
	assert.Contains(t, frame, "\n999 00:00.999 proc-1 | GET /api/items/999 200 OK in 29ms\n")
	assert.Contains(t, frame, "\n1000 00:01.000 "+tuiRed+"proc-1 | POST /api/orders/1000 500 ", "the newest match last, highlighted")
	assert.NotContains(t, frame, "/static/", "lines that do not match are not shown")
	shown := 0
	for _, r := range rows[1:] {
		visible := strings.NewReplacer(tuiRed, "", tuiPlainColor, "").Replace(r)
		assert.LessOrEqual(t, len(visible), tuiWidth, "wrapped: %q", r)
		if !strings.HasPrefix(r, "    ") {
			shown++
		}
	}
	assert.Equal(t, tuiRows, shown)
	assert.Equal(t, "01:02.345", string(appendClock(nil, 62345)))
}

func TestTUITextAndHTMLReports(t *testing.T) {
	r := syntheticReport([]int{5})
	r.opts.scenarios = []string{tuiName}
	r.opts.sweep = sweepOff
	r.Sweeps = nil
	mk := func(mode string, renders, shown int64) *result {
		res := &result{Scenario: tuiName, Bus: "eventbus", Workers: 5, Checks: []check{{OK: true}}, Elapsed: 2 * time.Second}
		res.TUI = &tuiResult{Mode: mode, Lines: 50000, Renders: renders, LastShown: shown, LastLineAge: 3 * time.Millisecond,
			RenderTime: time.Duration(renders) * 300 * time.Microsecond, RenderCPU: time.Duration(renders) * 250 * time.Microsecond, Age: waitFigures{Count: shown, P50: time.Millisecond, P99: 9 * time.Millisecond, Max: 12 * time.Millisecond}}
		return res
	}
	r.Scenarios = []*result{mk("plain", 4000, 50000), mk("coalesced", 120, 49990)}
	var b bytes.Buffer
	writeText(&b, r)
	out := b.String()
	assert.Contains(t, out, "\ntui plain ")
	assert.Contains(t, out, "\ntui coalesced ")
	assert.Regexp(t, `\ntui plain +4,000 .* 3ms `, out)
	assert.Regexp(t, `\ntui coalesced +120 .* never `, out, "the last line never shown says so")

	b.Reset()
	require.NoError(t, r.writeHTML(&b))
	parseXML(t, b.String())
	assert.Contains(t, b.String(), "TUI: a render per log line, or coalesced")
	assert.Contains(t, b.String(), "<td>tui coalesced</td>")
}

// BenchmarkDrawLog measures a render of a full store: the tool's help says
// it takes about 300µs at 10,000 lines.
func BenchmarkDrawLog(b *testing.B) {
	s := newLogStore(defaultTUILines)
	for i := range defaultTUILines {
		s.add("proc-"+strconv.Itoa(i%4+1), int64(i))
	}
	lines, n := s.view()
	buf := make([]byte, 0, 8192)
	for i := 0; i < b.N; i++ {
		buf = drawLog(buf[:0], lines, n)
	}
}
