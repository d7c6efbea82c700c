package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brummer-dev/eventbus/internal/loadgen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// xmlStats decodes a whole document strictly and counts its elements by
// name and by class.
type xmlStats struct {
	elements map[string]int // by local name
	classes  map[string]int // by class attribute
	svgs     int
}

func parseXML(t *testing.T, doc string) xmlStats {
	t.Helper()
	st := xmlStats{elements: map[string]int{}, classes: map[string]int{}}
	d := xml.NewDecoder(strings.NewReader(doc))
	d.Strict = true
	depth := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "the document is well-formed XML")
		switch e := tok.(type) {
		case xml.StartElement:
			depth++
			st.elements[e.Name.Local]++
			if e.Name.Local == "svg" {
				st.svgs++
			}
			for _, a := range e.Attr {
				if a.Name.Local == "class" {
					st.classes[a.Value]++
				}
			}
		case xml.EndElement:
			depth--
		}
	}
	require.Zero(t, depth, "every element is closed")
	return st
}

// syntheticReport is a report with a sweep of the given counts and a
// flood result, without running anything.
func syntheticReport(workers []int) *report {
	o := defaultOptions()
	o.args = []string{"-sweep", "-html", "x<y>&z.html"}
	r := &report{opts: &o, LogRate: 25000, PoolRate: 5000, ChecksOK: true}
	r.Machine = machineInfo{Go: "go1.24", OS: "linux", Arch: "amd64", NumCPU: 2, GOMAXPROCS: 2}
	r.Config = configInfo{Workers: 5, Queue: 50, Policy: "drop-lowpri", Priority: true, FromDefault: true}
	r.Handler = handlerInfo{Spec: "io:1ms", Description: "1ms of time.Sleep <I/O> & more"}
	r.Sizing = sizingInfo{CalculateOptimalWorkers: 5, EnvWorkers: 4, EnvQueue: 20, EnvProfile: "ci"}
	sw := &sweepResult{Scenario: "flood", Workers: workers, Budget: 10 * time.Millisecond, Queue: "10 per worker",
		DefaultWorkers: 5, EnvWorkers: 4}
	for i, w := range workers {
		p := &result{Scenario: "flood", Bus: "eventbus", Workers: w, Queue: 10 * w, Policy: "drop-lowpri",
			Duration: time.Second, LogRate: 25000, EventsPerSec: min(float64(w)*900, 25000),
			Published: 25000, Checks: []check{{OK: true}}}
		for c := range loadgen.Levels {
			p.Levels[c] = levelResult{Published: 1000, Delivered: 900, Dropped: 100,
				Wait: waitFigures{Count: 900, P50: time.Duration(i+1) * time.Microsecond, P99: time.Duration(c+1) * time.Millisecond, Max: 30 * time.Millisecond}}
		}
		sw.Points = append(sw.Points, p)
	}
	sw.recommend()
	r.Sweeps = []*sweepResult{sw}
	r.Scenarios = []*result{sw.Points[0]}
	return r
}

func TestSweepChartHasAPointPerSweptCount(t *testing.T) {
	for _, workers := range [][]int{{1, 2, 4, 5, 8, 10, 16, 24, 32, 48, 64}, {4, 5}, {5}} {
		r := syntheticReport(workers)
		chart, height := sweepChart(r, r.Sweeps[0])
		assert.Positive(t, height)
		st := parseXML(t, chart)
		assert.Equal(t, 1, st.svgs)
		for _, series := range []string{"pt-throughput", "pt-high-p99", "pt-medium-p99", "pt-low-p99"} {
			assert.Equal(t, len(workers), st.classes[series], "%s over %v", series, workers)
		}
		for _, want := range []string{"default 5", "recommended ", "worker goroutines", "delivered events/s", "p99 wait", "budget 10ms"} {
			assert.Contains(t, chart, want)
		}
		if workers[0] <= 4 {
			assert.Contains(t, chart, "environment 4", "marked when in the swept range")
		}
	}
}

func TestHTMLReportIsWellFormed(t *testing.T) {
	r := syntheticReport([]int{1, 2, 4, 5, 8})
	var b bytes.Buffer
	require.NoError(t, r.writeHTML(&b))
	doc := b.String()
	st := parseXML(t, doc)
	assert.Equal(t, 2, st.svgs, "the sweep chart and the flood chart")
	assert.Equal(t, 5, st.classes["pt-throughput"])
	assert.Equal(t, 3, st.classes["bar-delivered"], "one bar per priority")
	assert.Equal(t, 3, st.classes["bar-dropped"])
	assert.Zero(t, st.elements["script"])
	for _, banned := range []string{"<script", "http://", "https://", "src=", "@import", "url("} {
		if banned == "http://" {
			// The SVG namespace is a name, not a fetch.
			doc = strings.ReplaceAll(doc, `xmlns="http://www.w3.org/2000/svg"`, "")
		}
		assert.NotContains(t, doc, banned, "self-contained")
	}
	assert.Contains(t, doc, "x&lt;y&gt;&amp;z.html", "text is escaped")
	assert.Contains(t, doc, "Recommended: ")
}

func TestReportFilesFromARealSweep(t *testing.T) {
	dir := t.TempDir()
	html, svg, js := filepath.Join(dir, "r.html"), filepath.Join(dir, "c.svg"), filepath.Join(dir, "r.json")
	code, out, errOut := runArgs(t, context.Background(), "-sweep", "-sweep-workers", "1,3", "-sweep-duration", "100ms",
		"-rate", "3000", "-handler", "io:200us", "-html", html, "-svg", svg, "-json", js)
	require.Equal(t, exitOK, code, "%s\n%s", out, errOut)

	var rep struct {
		Sweeps []struct {
			Workers []int             `json:"workers"`
			Points  []json.RawMessage `json:"points"`
		} `json:"sweeps"`
	}
	data, err := os.ReadFile(js)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &rep))
	require.Len(t, rep.Sweeps, 1)
	points := len(rep.Sweeps[0].Points)
	assert.Equal(t, len(rep.Sweeps[0].Workers), points)
	assert.GreaterOrEqual(t, points, 3, "1, 3 and the default count")

	for _, f := range []string{html, svg} {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		st := parseXML(t, string(data))
		assert.Equal(t, points, st.classes["pt-throughput"], f)
		assert.Equal(t, points, st.classes["pt-high-p99"], f)
	}
	data, _ = os.ReadFile(svg)
	assert.True(t, strings.HasPrefix(string(data), "<?xml"), "a standalone SVG file")
}

func TestStackedSVGForSeveralSweeps(t *testing.T) {
	r := syntheticReport([]int{1, 2})
	second := *r.Sweeps[0]
	second.Scenario = "heavy"
	r.Sweeps = append(r.Sweeps, &second)
	var b bytes.Buffer
	require.NoError(t, r.writeSweepSVG(&b))
	st := parseXML(t, b.String())
	assert.Equal(t, 3, st.svgs, "an outer document holding one chart per sweep")
	assert.Equal(t, 4, st.classes["pt-throughput"])
}

func TestTextReport(t *testing.T) {
	r := syntheticReport([]int{1, 2, 4, 5, 8})
	var b bytes.Buffer
	writeText(&b, r)
	out := b.String()
	for _, want := range []string{"sweep: flood", "◀ default", "recommended: ", "CalculateOptimalWorkers() = 5 workers",
		"GetEnvironmentSpecificConfig() = 4 workers", "checks: ok"} {
		assert.Contains(t, out, want)
	}
}

func TestFormatting(t *testing.T) {
	assert.Equal(t, "0", fmtCount(0))
	assert.Equal(t, "999", fmtCount(999))
	assert.Equal(t, "1,000", fmtCount(1000))
	assert.Equal(t, "1,234,567", fmtCount(1234567))
	assert.Equal(t, "-1,000", fmtCount(-1000))
	assert.Equal(t, "1.23ms", fmtDur(1234567*time.Nanosecond))
	assert.Equal(t, "0", fmtDur(0))
	assert.Equal(t, "25k", fmtAxis(25000))
	assert.Equal(t, "2.5k", fmtAxis(2500))
	r := &result{Dropped: 1500}
	r.Drops.QueueFull = 1500
	assert.Equal(t, "1,500 full", dropCell(r))
	r.Drops.QueueFull, r.Drops.Shutdown = 1000, 500
	assert.Equal(t, "1,500 (full 1,000, shutdown 500)", dropCell(r))
	assert.Equal(t, "0", dropCell(&result{}))
	top, step := niceCeil(26300)
	assert.Equal(t, 30000.0, top)
	assert.Equal(t, 5000.0, step)
}
