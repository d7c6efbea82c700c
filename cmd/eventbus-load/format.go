package main

import (
	"fmt"
	"strconv"
	"time"
)

// The formats of the figures, shared by the text, HTML and SVG outputs.

// fmtCount formats n with thousands separators.
func fmtCount(n int64) string {
	if n < 0 {
		return "-" + fmtCount(-n)
	}
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// fmtDur rounds d to three significant digits.
func fmtDur(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	for unit := time.Duration(1); unit < time.Hour; unit *= 10 {
		if d < 1000*unit {
			return d.Round(unit).String()
		}
	}
	return d.Round(time.Second).String()
}

// fmtBytes formats a size in MiB (KiB below one MiB).
func fmtBytes(b uint64) string {
	if b < 1<<20 {
		return fmt.Sprintf("%dKiB", b>>10)
	}
	return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20))
}

// fmtRatio formats a multiple with up to one decimal.
func fmtRatio(x float64) string {
	if x == float64(int64(x)) {
		return strconv.FormatInt(int64(x), 10)
	}
	return strconv.FormatFloat(x, 'f', 1, 64)
}

// waitPair, waitP50, waitP99 and waitMax show a level's wait figures, "-"
// for a level that had no event.
func waitPair(w waitFigures) string {
	if w.Count == 0 {
		return "-"
	}
	return fmtDur(w.P50) + " / " + fmtDur(w.P99)
}

func waitP50(w waitFigures) string { return w.show(w.P50) }
func waitP99(w waitFigures) string { return w.show(w.P99) }
func waitMax(w waitFigures) string { return w.show(w.Max) }

func (w waitFigures) show(d time.Duration) string {
	if w.Count == 0 {
		return "-"
	}
	return fmtDur(d)
}
