package main

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/brummer-dev/eventbus/internal/loadgen"
)

// reportHTML is the page: the charts, drawn as inline SVG, and the tables.
// It has no script and loads nothing.
//
//go:embed report.html.tmpl
var reportHTML string

var htmlPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"count": func(v any) string {
		switch n := v.(type) {
		case int64:
			return fmtCount(n)
		case float64:
			return fmtCount(int64(n))
		}
		return fmt.Sprint(v)
	},
	"dur":       fmtDur,
	"percent":   func(share float64) string { return fmt.Sprintf("%.0f%%", 100*share) },
	"waitP50":   waitP50,
	"waitP99":   waitP99,
	"waitMax":   waitMax,
	"waitPair":  waitPair,
	"label":     func(r *result) string { return scenarioLabel(r, false) },
	"ok":        func(r *result) bool { return r.ok() },
	"heap":      func(r *result) string { return fmtBytes(r.heapGrowth()) },
	"dropCell":  dropCell,
	"dropShare": dropShare,
	"share":     func(sv sweepView, r *result) string { return sv.shareCell(r) },
	"marks": func(sv sweepView, w int) string {
		return strings.TrimPrefix(strings.Join(sv.marks(w), ", "), "◀ ")
	},
	"lastLine":        lastLineCell,
	"cpuShare":        fmtShare,
	"levelsHighFirst": func() []string { return []string{levelNames[levelHigh], levelNames[1], levelNames[levelLow]} },
	"level": func(r *result, name string) levelResult {
		for l := range loadgen.Levels {
			if levelNames[l] == name {
				return r.Levels[l]
			}
		}
		panic("no priority level " + name)
	},
}).Parse(reportHTML))

// htmlView is what the page shows: the report, and what the template
// cannot work out by itself.
type htmlView struct {
	*report
	About      []aboutLine
	SweepViews []sweepView
	FloodChart template.HTML // empty without a flood run
	Rows       []*result     // the scenario table's
	TUIRows    []*result     // the tui scenario's views
	TUIAbout   string
	BestShare  float64
	Command    string
}

// aboutLine is a line of the table at the top of the page.
type aboutLine struct{ Name, Value string }

// sweepView is a sweep with its chart and where the library's default
// counts land in it.
type sweepView struct {
	*sweepResult
	Chart    template.HTML
	Landings []landing
}

type landing struct {
	Name            string
	Workers         int
	Share           float64
	HighP99, Versus string
}

// writeHTML writes the self-contained report.
func (r *report) writeHTML(w io.Writer) error {
	about := r.tuiAbout()
	v := htmlView{report: r, Rows: r.tableRows(), TUIRows: r.tuiRows(), TUIAbout: about[0] + " " + about[1],
		BestShare: bestShare, Command: strings.Join(r.opts.args, " ")}
	v.About = []aboutLine{
		{"bus", configLine(r)},
		{"handler", r.Handler.Spec + ": " + r.Handler.Description},
		{"sizing", fmt.Sprintf("CalculateOptimalWorkers() = %d; GetEnvironmentSpecificConfig(): %d workers, queue %d, profile %s (%s)",
			r.Sizing.CalculateOptimalWorkers, r.Sizing.EnvWorkers, r.Sizing.EnvQueue, r.Sizing.EnvProfile, r.Sizing.EnvReason)},
	}
	if r.hasFlood() {
		v.About = append(v.About, aboutLine{"flood", fmt.Sprintf("%s log lines/s (%s× the %d-worker pool's estimated %s/s) from %d processes, a process.started/exited every %v and an error.detected every %v (high), a build.event every %v (medium)",
			fmtCount(int64(r.LogRate)), fmtRatio(r.LogRate/r.PoolRate), r.Config.Workers, fmtCount(int64(r.PoolRate)),
			loadgen.FloodProcesses, loadgen.FloodProcessEvery, loadgen.FloodErrorEvery, loadgen.FloodBuildEvery)})
	}
	status := "ok: every published event was delivered or dropped, in every run"
	if !r.ChecksOK {
		status = "FAILED: see the tables"
	}
	if r.Interrupted {
		status += " (interrupted: runs marked * were cut short)"
	}
	v.About = append(v.About, aboutLine{"checks", status})

	for _, sw := range r.Sweeps {
		chart, _ := sweepChart(r, sw)
		sv := sweepView{sweepResult: sw, Chart: template.HTML(chart)} // svgWriter escapes every text it writes
		for _, m := range []struct {
			name string
			w    int
		}{{"CalculateOptimalWorkers()", sw.DefaultWorkers}, {"GetEnvironmentSpecificConfig()", sw.EnvWorkers}} {
			if pt := sw.point(m.w); pt != nil {
				sv.Landings = append(sv.Landings, landing{Name: m.name, Workers: m.w, Share: sw.share(pt),
					HighP99: waitP99(pt.Levels[levelHigh].Wait), Versus: versus(m.w, sw.Rec.Workers)})
			}
		}
		v.SweepViews = append(v.SweepViews, sv)
	}
	if fr := r.floodResult(); fr != nil {
		v.FloodChart = template.HTML(floodChart(r, fr))
	}
	return htmlPage.Execute(w, v)
}
