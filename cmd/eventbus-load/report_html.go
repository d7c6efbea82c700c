package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/brummer-dev/eventbus/internal/loadgen"
)

// Colours of the charts.
const (
	colThroughput = "#1c7ed6"
	colHigh       = "#e8590c"
	colMedium     = "#7048e8"
	colLow        = "#868e96"
	colBudget     = "#c92a2a"
	colDefault    = "#495057"
	colEnv        = "#0c8599"
	colRecommend  = "#2b8a3e"
	colDelivered  = "#40c057"
	colDropped    = "#fa5252"
	colGrid       = "#e9ecef"
	colAxis       = "#adb5bd"
)

// The sweep chart's layout: two panels over one worker axis.
const (
	scW      = 900.0
	scLeft   = 84.0
	scRight  = 36.0
	scPanelH = 200.0
	scGap    = 40.0
	scBottom = 60.0
)

// sweepChart draws throughput and p99 wait against the worker count, with
// the default, environment and recommended counts marked, and returns the
// SVG document and its height. Each series has one circle per measured
// point, of class pt-throughput, pt-high-p99, pt-medium-p99 or pt-low-p99.
func sweepChart(r *report, sw *sweepResult) (string, float64) {
	plotW := scW - scLeft - scRight
	var head svgWriter // the header, drawn first: its height places the panels

	// The title, what was run, and the legend, which wraps when long.
	head.text(24, 26, "start", fmt.Sprintf("%s: delivered events/s and p99 wait against the worker count", sw.Scenario),
		`font-size="17" font-weight="600"`)
	head.text(24, 46, "start", sweepSubtitle(r, sw), `font-size="12" fill="#495057"`)
	lx, ly := 24.0, 70.0
	legend := func(draw func(x, y float64), label string) {
		w := 24 + float64(len(label))*6.6 + 16
		if lx+w > scW-12 {
			lx, ly = 24, ly+20
		}
		draw(lx, ly)
		head.text(lx+24, ly+4, "start", label, `font-size="12"`)
		lx += w
	}
	dot := func(col string, width float64) func(x, y float64) {
		return func(x, y float64) {
			head.line(x, y, x+18, y, col, width, "")
			head.raw(`<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`+"\n", x+9, y, col)
		}
	}
	vbar := func(col, dash string) func(x, y float64) {
		return func(x, y float64) { head.line(x+9, y-7, x+9, y+7, col, 2, dash) }
	}
	legend(dot(colThroughput, 2.5), "delivered events/s")
	legend(dot(colHigh, 2.5), "high p99")
	legend(dot(colMedium, 1.5), "medium p99")
	legend(dot(colLow, 1.5), "low p99")
	legend(func(x, y float64) { head.line(x, y, x+18, y, colBudget, 1.5, `stroke-dasharray="5 3"`) }, "p99 budget")
	legend(vbar(colDefault, `stroke-dasharray="4 3"`), "default")
	if sw.EnvWorkers != sw.DefaultWorkers {
		legend(vbar(colEnv, `stroke-dasharray="2 2"`), "environment")
	}
	legend(vbar(colRecommend, ""), "recommended")

	top1 := ly + 52 // room for two rows of marker labels
	top2 := top1 + scPanelH + scGap
	height := top2 + scPanelH + scBottom
	var s svgWriter
	s.open(scW, height, sw.Scenario+": throughput and p99 wait against the worker count")
	s.raw("%s", head.b.String())

	pts := sw.Points
	if len(pts) == 0 {
		s.text(scW/2, top1+scPanelH/2, "middle", "no point was measured", `font-size="14"`)
		return s.close(), height
	}

	// The worker axis: log2, from the smallest to the largest count swept.
	lo, hi := math.Log2(float64(sw.Workers[0])), math.Log2(float64(sw.Workers[len(sw.Workers)-1]))
	if hi-lo < 1 {
		lo, hi = lo-0.5, hi+0.5
	}
	pad := 0.03 * plotW
	xOf := func(w int) float64 {
		return scLeft + pad + (math.Log2(float64(w))-lo)/(hi-lo)*(plotW-2*pad)
	}

	// Panel 1: throughput, linear from 0.
	best := sw.BestEventsPerSec
	for _, p := range pts {
		best = max(best, p.EventsPerSec)
	}
	offered := 0.0
	if sw.Scenario == "flood" {
		offered = r.LogRate + float64(loadgen.FloodHighPerSecond+loadgen.FloodMediumPerSecond)
	}
	yTop, yStep := niceCeil(max(best, offered) * 1.08)
	y1 := func(v float64) float64 { return top1 + scPanelH - v/yTop*scPanelH }
	for v := 0.0; v <= yTop*(1+1e-9); v += yStep {
		y := y1(v)
		s.line(scLeft, y, scLeft+plotW, y, colGrid, 1, "")
		s.text(scLeft-8, y+4, "end", fmtAxis(v), `fill="#495057"`)
	}
	s.text(24, top1+scPanelH/2, "middle", "delivered events/s",
		fmt.Sprintf(`transform="rotate(-90 24 %.1f)" font-size="13" fill="#343a40"`, top1+scPanelH/2))
	if offered > 0 {
		y := y1(offered)
		s.line(scLeft, y, scLeft+plotW, y, colAxis, 1.2, `stroke-dasharray="2 3"`)
		s.text(scLeft+6, y-5, "start", "offered "+fmtCount(int64(offered))+" events/s", `font-size="11" fill="#495057"`)
	}
	if sw.BestEventsPerSec > 0 {
		y := y1(bestShare * sw.BestEventsPerSec)
		s.line(scLeft, y, scLeft+plotW, y, colThroughput, 1, `stroke-dasharray="6 4" opacity="0.6"`)
		s.text(scLeft+6, y+13, "start", fmt.Sprintf("%.0f%% of the best", 100*bestShare), `font-size="11" fill="#1864ab"`)
	}
	s.rect(scLeft, top1, plotW, scPanelH, "none", `stroke="#ced4da"`)

	// Panel 2: p99 wait, log10, covering the values and the budget.
	minW, maxW := sw.Budget, sw.Budget
	for _, p := range pts {
		for c := range loadgen.Levels {
			if w := p.Levels[c].Wait; w.Count > 0 && w.P99 > 0 {
				minW, maxW = min(minW, w.P99), max(maxW, w.P99)
			}
		}
	}
	dLo := math.Floor(math.Log10(float64(max(minW, time.Microsecond))))
	dHi := math.Ceil(math.Log10(float64(maxW) * 1.2))
	if dHi-dLo < 2 {
		dLo = dHi - 2
	}
	y2 := func(d time.Duration) float64 {
		v := math.Log10(float64(max(d, time.Duration(math.Pow(10, dLo)))))
		return top2 + scPanelH - (v-dLo)/(dHi-dLo)*scPanelH
	}
	for e := dLo; e <= dHi; e++ {
		d := time.Duration(math.Pow(10, e))
		y := y2(d)
		s.line(scLeft, y, scLeft+plotW, y, colGrid, 1, "")
		s.text(scLeft-8, y+4, "end", fmtDur(d), `fill="#495057"`)
		if e < dHi {
			for _, m := range []float64{2, 5} {
				ym := y2(time.Duration(m * float64(d)))
				s.line(scLeft, ym, scLeft+plotW, ym, colGrid, 0.6, `stroke-dasharray="1 3"`)
			}
		}
	}
	s.text(24, top2+scPanelH/2, "middle", "p99 wait, publish → handler",
		fmt.Sprintf(`transform="rotate(-90 24 %.1f)" font-size="13" fill="#343a40"`, top2+scPanelH/2))
	yb := y2(sw.Budget)
	s.line(scLeft, yb, scLeft+plotW, yb, colBudget, 1.5, `stroke-dasharray="5 3"`)
	s.text(scLeft+plotW-4, yb-5, "end", "budget "+fmtDur(sw.Budget), `font-size="11" fill="#c92a2a" stroke="#ffffff" stroke-width="3" paint-order="stroke"`)
	s.rect(scLeft, top2, plotW, scPanelH, "none", `stroke="#ced4da"`)

	// The worker axis, under panel 2, with a tick at every count swept.
	axisY := top2 + scPanelH
	for _, w := range sw.Workers {
		x := xOf(w)
		s.line(x, top1, x, top1+scPanelH, colGrid, 1, "")
		s.line(x, top2, x, axisY, colGrid, 1, "")
		s.line(x, axisY, x, axisY+5, colAxis, 1, "")
		s.text(x, axisY+19, "middle", strconv.Itoa(w), `fill="#495057"`)
		s.line(x, top1+scPanelH, x, top1+scPanelH+4, colAxis, 1, "")
	}
	s.text(scLeft+plotW/2, axisY+44, "middle", "worker goroutines (Config.Workers, log scale)", `font-size="13" fill="#343a40"`)

	// The marked counts, through both panels, labelled above panel 1 on
	// the first of two rows where the label does not overlap another.
	type mark struct {
		w         int
		col, dash string
		label     string
		width     float64
	}
	var marks []mark
	if sw.Rec.Workers > 0 {
		l := fmt.Sprintf("recommended %d", sw.Rec.Workers)
		if !sw.Rec.WithinBudget {
			l += " (over budget)"
		}
		marks = append(marks, mark{sw.Rec.Workers, colRecommend, "", l, 2})
	}
	def := fmt.Sprintf("default %d", sw.DefaultWorkers)
	if sw.EnvWorkers == sw.DefaultWorkers {
		def += " (also the environment's)"
	} else {
		marks = append(marks, mark{sw.EnvWorkers, colEnv, `stroke-dasharray="2 2"`, fmt.Sprintf("environment %d", sw.EnvWorkers), 1.5})
	}
	marks = append(marks, mark{sw.DefaultWorkers, colDefault, `stroke-dasharray="4 3"`, def, 1.5})
	var taken [2][][2]float64 // per row, the x extents of the labels placed
	for _, m := range marks {
		if m.w < sw.Workers[0] || m.w > sw.Workers[len(sw.Workers)-1] {
			continue
		}
		x := xOf(m.w)
		s.line(x, top1, x, top1+scPanelH, m.col, m.width, m.dash)
		s.line(x, top2, x, axisY, m.col, m.width, m.dash)
		w := float64(len(m.label)) * 7
		x0 := min(max(x-w/2, scLeft), scLeft+plotW-w)
		row := 0
		for row < 1 && overlaps(taken[row], x0, x0+w) {
			row++
		}
		taken[row] = append(taken[row], [2]float64{x0, x0 + w})
		y := top1 - 8 - float64(row)*18
		s.line(x, y+3, x, top1, m.col, 1, "")
		s.text(x0+w/2, y, "middle", m.label, fmt.Sprintf(`font-size="12" font-weight="600" fill="%s" stroke="#ffffff" stroke-width="4" paint-order="stroke"`, m.col))
	}

	// The series.
	var xs, ys []float64
	for _, p := range pts {
		xs = append(xs, xOf(p.Workers))
		ys = append(ys, y1(p.EventsPerSec))
	}
	s.polyline(xs, ys, colThroughput, 2.5, "")
	for i, p := range pts {
		s.circle(xs[i], ys[i], 4.5, colThroughput, p.Interrupted, "pt-throughput",
			fmt.Sprintf("%d workers: %s events/s (%.0f%% of the best)", p.Workers, fmtCount(int64(p.EventsPerSec)), 100*sw.share(p)))
	}
	for _, c := range []struct {
		class int
		col   string
		width float64
	}{{0, colLow, 1.5}, {1, colMedium, 1.5}, {2, colHigh, 2.5}} {
		var xs, ys []float64
		var from []*result
		for _, p := range pts {
			if w := p.Levels[c.class].Wait; w.Count > 0 {
				xs = append(xs, xOf(p.Workers))
				ys = append(ys, y2(w.P99))
				from = append(from, p)
			}
		}
		s.polyline(xs, ys, c.col, c.width, "")
		for i, p := range from {
			w := p.Levels[c.class].Wait
			s.circle(xs[i], ys[i], 3.5+c.width/2, c.col, p.Interrupted, "pt-"+levelNames[c.class]+"-p99",
				fmt.Sprintf("%d workers: %s p99 wait %s (p50 %s, %d events)", p.Workers, levelNames[c.class], fmtDur(w.P99), fmtDur(w.P50), w.Count))
		}
	}
	return s.close(), height
}

// overlaps reports whether [a, b] overlaps one of the extents, with a gap.
func overlaps(extents [][2]float64, a, b float64) bool {
	for _, e := range extents {
		if a < e[1]+8 && b > e[0]-8 {
			return true
		}
	}
	return false
}

// sweepSubtitle says what the sweep ran.
func sweepSubtitle(r *report, sw *sweepResult) string {
	parts := []string{r.Handler.Spec + " handlers", r.Config.Policy, "queue " + sw.Queue}
	if sw.Scenario == "flood" {
		parts = append(parts, fmtCount(int64(r.LogRate))+" log lines/s offered")
		if len(sw.Points) > 0 {
			parts = append(parts, fmtDur(sw.Points[0].Duration)+" per point")
		}
	}
	parts = append(parts, fmt.Sprintf("%s, %d CPUs", r.Machine.Go, r.Machine.GOMAXPROCS))
	return strings.Join(parts, " · ")
}

// floodChart draws, per priority, the share of the flood's events that were
// delivered and dropped, with the counts and waits under each bar.
func floodChart(r *report, res *result) string {
	const w, left, right, top, barH, step = 900.0, 140.0, 36.0, 86.0, 26.0, 62.0
	h := top + 3*step + 4
	plotW := w - left - right
	var s svgWriter
	s.open(w, h, "flood: delivered and dropped per priority")
	s.text(24, 26, "start", fmt.Sprintf("flood at %d workers: delivered and dropped per priority", res.Workers),
		`font-size="17" font-weight="600"`)
	s.text(24, 46, "start", fmt.Sprintf("%s handlers · %s · queue %s · %s log lines/s for %s · bars: share of each priority's published events",
		r.Handler.Spec, res.Policy, fmtCount(int64(res.Queue)), fmtCount(int64(res.LogRate)), fmtDur(res.Duration)), `font-size="12" fill="#495057"`)
	s.rect(24, 60, 12, 12, colDelivered, "")
	s.text(42, 70, "start", "delivered", "")
	s.rect(118, 60, 12, 12, colDropped, "")
	s.text(136, 70, "start", "dropped", "")
	for i, c := range []int{2, 1, 0} {
		cr := res.Levels[c]
		y := top + float64(i)*step
		s.text(left-12, y+12, "end", levelNames[c], `font-size="14" font-weight="600"`)
		s.text(left-12, y+27, "end", fmtCount(cr.Published)+" published", `font-size="11" fill="#495057"`)
		if cr.Published == 0 {
			s.rect(left, y, plotW, barH, "#f1f3f5", "")
			s.text(left+8, y+barH/2+4, "start", "no events", `fill="#495057"`)
			continue
		}
		dw := plotW * float64(cr.Delivered) / float64(cr.Published)
		s.rectTitled(left, y, dw, barH, colDelivered, "bar-delivered", fmtCount(cr.Delivered)+" delivered")
		s.rectTitled(left+dw, y, plotW-dw, barH, colDropped, "bar-dropped", fmtCount(cr.Dropped)+" dropped")
		pct := func(n int64) string { return trimZero(fmt.Sprintf("%.1f", 100*float64(n)/float64(cr.Published))) + "%" }
		s.text(left, y+barH+15, "start", fmt.Sprintf("%s delivered (%s), %s dropped (%s)",
			fmtCount(cr.Delivered), pct(cr.Delivered), fmtCount(cr.Dropped), pct(cr.Dropped)), `font-size="12" font-weight="600"`)
		if cr.Wait.Count > 0 {
			s.text(left+plotW, y+barH+15, "end", "wait p50 "+fmtDur(cr.Wait.P50)+" · p99 "+fmtDur(cr.Wait.P99)+" · max "+fmtDur(cr.Wait.Max),
				`font-size="12" fill="#495057"`)
		}
	}
	return s.close()
}

// writeSweepSVG writes the sweep chart alone: one chart, or the charts of
// several sweeps stacked in one document.
func (r *report) writeSweepSVG(w io.Writer) error {
	if len(r.Sweeps) == 0 {
		return fmt.Errorf("no sweep was measured")
	}
	var out string
	if len(r.Sweeps) == 1 {
		out, _ = sweepChart(r, r.Sweeps[0])
	} else {
		var charts []string
		var y float64
		for _, sw := range r.Sweeps {
			c, ch := sweepChart(r, sw)
			charts = append(charts, fmt.Sprintf(`<g transform="translate(0 %.0f)">%s</g>`, y, strings.TrimSuffix(c, "\n")))
			y += ch
		}
		out = fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f">`+"\n%s\n</svg>\n",
			scW, y, scW, y, strings.Join(charts, "\n"))
	}
	_, err := io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+out)
	return err
}

// writeHTML writes the self-contained report: the charts, drawn as inline
// SVG, and the tables. It has no script and loads nothing.
func (r *report) writeHTML(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
	p("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n")
	p("<title>eventbus-load: %s</title>\n<style>\n%s</style>\n</head>\n<body>\n", esc(r.Handler.Spec), htmlCSS)
	p("<h1>eventbus-load</h1>\n")
	p("<p class=\"meta\">%s %s/%s · %d CPUs (GOMAXPROCS %d) · %s</p>\n", esc(r.Machine.Go), esc(r.Machine.OS), esc(r.Machine.Arch),
		r.Machine.NumCPU, r.Machine.GOMAXPROCS, esc(r.Started.Format("2006-01-02 15:04 MST")))

	p("<table class=\"kv\">\n")
	kv := func(k, v string) { p("<tr><th>%s</th><td>%s</td></tr>\n", esc(k), esc(v)) }
	kv("bus", configLine(r))
	kv("handler", r.Handler.Spec+": "+r.Handler.Description)
	kv("sizing", fmt.Sprintf("CalculateOptimalWorkers() = %d; GetEnvironmentSpecificConfig(): %d workers, queue %d, profile %s (%s)",
		r.Sizing.CalculateOptimalWorkers, r.Sizing.EnvWorkers, r.Sizing.EnvQueue, r.Sizing.EnvProfile, r.Sizing.EnvReason))
	if r.hasFlood() {
		kv("flood", fmt.Sprintf("%s log lines/s (%s× the %d-worker pool's estimated %s/s) from %d processes, a process.started/exited every %v and an error.detected every %v (high), a build.event every %v (medium)",
			fmtCount(int64(r.LogRate)), fmtRatio(r.LogRate/r.PoolRate), r.Config.Workers, fmtCount(int64(r.PoolRate)),
			loadgen.FloodProcesses, loadgen.FloodProcessEvery, loadgen.FloodErrorEvery, loadgen.FloodBuildEvery))
	}
	status := "ok: every published event was delivered or dropped, in every run"
	if !r.ChecksOK {
		status = "FAILED: see the tables"
	}
	if r.Interrupted {
		status += " (interrupted: runs marked * were cut short)"
	}
	kv("checks", status)
	p("</table>\n")

	for _, sw := range r.Sweeps {
		p("<h2>Choosing a size: %s</h2>\n", esc(sw.Scenario))
		if sw.Rec.Workers > 0 {
			cls := "rec"
			if !sw.Rec.WithinBudget {
				cls = "rec warn"
			}
			p("<p class=\"%s\"><strong>Recommended: %d workers</strong>: %s.</p>\n", cls, sw.Rec.Workers, esc(sw.Rec.Reason))
		} else {
			p("<p class=\"rec warn\">No recommendation: %s.</p>\n", esc(sw.Rec.Reason))
		}
		chart, _ := sweepChart(r, sw)
		p("<figure>\n%s</figure>\n", chart)
		p("<p class=\"note\">Top: events delivered per second (first publish to idle) at each worker count; the dashed blue line is %.0f%% of the best. "+
			"Bottom: the 99th percentile of the wait from Publish to the handler's start, per priority, on a log scale, against the budget. "+
			"The recommended count is the smallest whose throughput reaches the dashed blue line while its high-priority p99 stays under the red one.</p>\n", 100*bestShare)
		writeSweepTableHTML(p, sw)
		p("<ul class=\"land\">\n")
		for _, m := range []struct {
			name string
			w    int
		}{{"CalculateOptimalWorkers()", sw.DefaultWorkers}, {"GetEnvironmentSpecificConfig()", sw.EnvWorkers}} {
			if pt := sw.point(m.w); pt != nil {
				p("<li><code>%s</code> = %d workers: %.0f%% of the best throughput, high p99 %s%s.</li>\n",
					m.name, m.w, 100*sw.share(pt), esc(waitP99(pt.Levels[levelHigh].Wait)), esc(versus(m.w, sw.Rec.Workers)))
			}
		}
		p("</ul>\n")
	}

	if fr := r.floodResult(); fr != nil {
		p("<h2>Flood: what is delivered and dropped</h2>\n")
		p("<figure>\n%s</figure>\n", floodChart(r, fr))
	}

	if len(r.Scenarios) > 0 {
		p("<h2>Scenarios</h2>\n")
		writeScenarioTableHTML(p, r)
		p("<p class=\"note\">events/s: delivered per second, first publish to idle. publish: the time of one Publish call. "+
			"wait: from Publish to the handler's start, measured from Event.Timestamp; bus p99: Metrics().Wait, a histogram bucket bound (at most 2× the true value). "+
			"goroutines: started by the run, at the peak (publishers, workers, the bus's sampler; for naive, one per event in flight). heap: the live heap's peak rise during the run. %s</p>\n",
			"Every event's priority is its type's DefaultPriority.")
		p("<h3>By priority</h3>\n")
		writePriorityTableHTML(p, r)
	}
	p("<p class=\"foot\">Generated by <code>go run ./cmd/eventbus-load %s</code></p>\n", esc(strings.Join(r.opts.args, " ")))
	p("</body>\n</html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

const htmlCSS = `body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #212529;
  max-width: 1060px; margin: 24px auto; padding: 0 16px; line-height: 1.45; }
h1 { font-size: 26px; margin: 0 0 2px; }
h2 { font-size: 20px; margin: 32px 0 8px; border-bottom: 1px solid #dee2e6; padding-bottom: 4px; }
h3 { font-size: 16px; margin: 20px 0 6px; }
.meta { color: #495057; margin: 0 0 12px; }
table { border-collapse: collapse; font-size: 12.5px; margin: 8px 0; }
th, td { padding: 3px 7px; border-bottom: 1px solid #e9ecef; text-align: left; vertical-align: top; }
thead th { background: #f8f9fa; border-bottom: 2px solid #dee2e6; white-space: nowrap; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.mark td { background: #f4fce3; }
td.m { white-space: nowrap; color: #495057; }
table.kv th { color: #495057; font-weight: 600; white-space: nowrap; }
.rec { background: #ebfbee; border-left: 4px solid #2b8a3e; padding: 8px 12px; }
.rec.warn { background: #fff9db; border-left-color: #f08c00; }
.note { color: #495057; font-size: 13px; }
figure { margin: 12px 0; }
figure svg { max-width: 100%; height: auto; }
code { font-size: 92%; }
.bad { color: #c92a2a; font-weight: 600; }
.foot { color: #868e96; font-size: 12px; margin-top: 32px; }
`

func writeSweepTableHTML(p func(string, ...any), sw *sweepResult) {
	p("<table>\n<thead><tr><th>workers</th><th>events/s</th><th>of best</th><th>dropped</th><th>high p50</th><th>high p99</th><th>medium p99</th><th>low p99</th><th>goroutines</th><th>heap</th><th></th></tr></thead>\n<tbody>\n")
	for _, pt := range sw.Points {
		cls := ""
		if pt.Workers == sw.Rec.Workers {
			cls = ` class="mark"`
		}
		drop := "0"
		if pt.Published > 0 {
			drop = fmt.Sprintf("%.1f%%", 100*float64(pt.Dropped)/float64(pt.Published))
		}
		star := ""
		if pt.Interrupted {
			star = "*"
		}
		p("<tr%s><td class=\"n\">%d%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%d</td><td class=\"n\">%s</td><td class=\"m\">%s</td></tr>\n",
			cls, pt.Workers, star, fmtCount(int64(pt.EventsPerSec)), sw.shareCell(pt), drop,
			esc(waitP50(pt.Levels[levelHigh].Wait)), esc(waitP99(pt.Levels[levelHigh].Wait)), esc(waitP99(pt.Levels[1].Wait)), esc(waitP99(pt.Levels[levelLow].Wait)),
			pt.PeakGoroutines, fmtBytes(pt.heapGrowth()), esc(strings.TrimPrefix(strings.Join(sw.marks(pt.Workers), ", "), "◀ ")))
	}
	p("</tbody>\n</table>\n")
}

func writeScenarioTableHTML(p func(string, ...any), r *report) {
	withBus := len(r.Baseline) > 0
	p("<table>\n<thead><tr><th>scenario</th>")
	if withBus {
		p("<th>bus</th>")
	}
	p("<th>events/s</th><th>publish mean / max</th><th>published</th><th>delivered</th><th>dropped</th><th>high wait p50 / p99</th><th>low p99</th><th>goroutines</th><th>heap</th><th>check</th></tr></thead>\n<tbody>\n")
	for _, res := range r.tableRows() {
		name := res.Scenario
		if res.Interrupted {
			name += "*"
		}
		p("<tr><td>%s</td>", esc(name))
		if withBus {
			p("<td>%s</td>", esc(res.Bus))
		}
		check := "ok"
		if !res.ok() {
			check = `<span class="bad">FAILED</span>`
		}
		p("<td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%d</td><td class=\"n\">%s</td><td>%s</td></tr>\n",
			fmtCount(int64(res.EventsPerSec)), esc(fmtDur(res.PublishMean)+" / "+fmtDur(res.PublishMax)),
			fmtCount(res.Published), fmtCount(res.Delivered), esc(dropCell(res)),
			esc(waitPair(res.Levels[levelHigh].Wait)), esc(waitP99(res.Levels[levelLow].Wait)),
			res.PeakGoroutines, fmtBytes(res.heapGrowth()), check)
	}
	p("</tbody>\n</table>\n")
}

func writePriorityTableHTML(p func(string, ...any), r *report) {
	withBus := len(r.Baseline) > 0
	p("<table>\n<thead><tr><th>scenario</th>")
	if withBus {
		p("<th>bus</th>")
	}
	p("<th>priority</th><th>published</th><th>delivered</th><th>dropped</th><th>wait p50</th><th>p99</th><th>max</th><th>bus p99</th></tr></thead>\n<tbody>\n")
	for _, res := range r.tableRows() {
		for c := levelHigh; c >= levelLow; c-- {
			cr := res.Levels[c]
			name := res.Scenario
			if res.Interrupted {
				name += "*"
			}
			p("<tr><td>%s</td>", esc(name))
			if withBus {
				p("<td>%s</td>", esc(res.Bus))
			}
			busP99 := "-"
			if cr.BusWait.Count > 0 {
				busP99 = fmtDur(cr.BusWait.P99)
			}
			p("<td>%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td></tr>\n",
				levelNames[c], fmtCount(cr.Published), fmtCount(cr.Delivered), fmtCount(cr.Dropped),
				esc(waitP50(cr.Wait)), esc(waitP99(cr.Wait)), esc(waitMax(cr.Wait)), esc(busP99))
		}
	}
	p("</tbody>\n</table>\n")
}
