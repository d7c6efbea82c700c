package main

import (
	"fmt"
	"html"
	"math"
	"strings"
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

// svgWriter builds an SVG document. Every text it writes is escaped, so
// the output is well-formed XML.
type svgWriter struct{ b strings.Builder }

func esc(s string) string { return html.EscapeString(s) }

func (s *svgWriter) raw(format string, args ...any) { fmt.Fprintf(&s.b, format, args...) }

// line draws a line; extra holds further attributes.
func (s *svgWriter) line(x1, y1, x2, y2 float64, stroke string, width float64, extra string) {
	s.raw(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"%s/>`+"\n",
		x1, y1, x2, y2, stroke, width, attr(extra))
}

// text writes a text; anchor is start, middle or end.
func (s *svgWriter) text(x, y float64, anchor, txt string, extra string) {
	s.raw(`<text x="%.1f" y="%.1f" text-anchor="%s"%s>%s</text>`+"\n", x, y, anchor, attr(extra), esc(txt))
}

func (s *svgWriter) rect(x, y, w, h float64, fill string, extra string) {
	s.raw(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"%s/>`+"\n", x, y, max(w, 0), max(h, 0), fill, attr(extra))
}

// rectTitled draws a rectangle with a class and a tooltip.
func (s *svgWriter) rectTitled(x, y, w, h float64, fill, class, title string) {
	s.raw(`<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`+"\n",
		class, x, y, max(w, 0), max(h, 0), fill, esc(title))
}

// circle draws a series point: filled with col, or hollow (a ring of col)
// for a point that does not count fully.
func (s *svgWriter) circle(x, y, r float64, col string, hollow bool, class, title string) {
	fill, stroke, width := col, "#ffffff", 1.5
	if hollow {
		fill, stroke, width = "#ffffff", col, 2
	}
	s.raw(`<circle class="%s" cx="%.1f" cy="%.1f" r="%.1f" fill="%s" stroke="%s" stroke-width="%.1f"><title>%s</title></circle>`+"\n",
		class, x, y, r, fill, stroke, width, esc(title))
}

// polyline joins points; it draws nothing for fewer than two.
func (s *svgWriter) polyline(xs, ys []float64, stroke string, width float64, extra string) {
	if len(xs) < 2 {
		return
	}
	var pts []string
	for i := range xs {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", xs[i], ys[i]))
	}
	s.raw(`<polyline points="%s" fill="none" stroke="%s" stroke-width="%.1f" stroke-linejoin="round"%s/>`+"\n",
		strings.Join(pts, " "), stroke, width, attr(extra))
}

func attr(extra string) string {
	if extra == "" {
		return ""
	}
	return " " + extra
}

// open starts a standalone SVG document of the given size.
func (s *svgWriter) open(w, h float64, label string) {
	s.raw(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="%s" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12" fill="#212529">`+"\n",
		w, h, w, h, esc(label))
	s.rect(0, 0, w, h, "#ffffff", "")
}

func (s *svgWriter) close() string {
	s.raw("</svg>\n")
	return s.b.String()
}

// niceCeil returns a round number at least x: 1, 2, 2.5 or 5 times a power
// of ten, and the tick step that divides it into four or five.
func niceCeil(x float64) (top, step float64) {
	if x <= 0 {
		return 1, 0.25
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if m*p >= x*(1-1e-9) {
			top = m * p
			break
		}
	}
	for _, n := range []float64{5, 4, 6, 3} {
		st := top / n
		// a step that is 1, 2, 2.5 or 5 times a power of ten
		sp := math.Pow(10, math.Floor(math.Log10(st)))
		r := st / sp
		if math.Abs(r-math.Round(r*2)/2) < 1e-9 && (r == 1 || r == 2 || r == 2.5 || r == 5) {
			return top, st
		}
	}
	return top, top / 4
}

// fmtAxis formats an axis value compactly: 25k, 1.5M.
func fmtAxis(v float64) string {
	switch {
	case v >= 1e6:
		return trimZero(fmt.Sprintf("%.2f", v/1e6)) + "M"
	case v >= 1e3:
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	}
	return trimZero(fmt.Sprintf("%.1f", v))
}

func trimZero(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
