package main

import "fmt"

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
