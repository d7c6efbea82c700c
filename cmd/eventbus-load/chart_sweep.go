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
