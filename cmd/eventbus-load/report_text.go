package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/brummer-dev/eventbus/internal/loadgen"
)

// writeText prints the report as tables.
func writeText(w io.Writer, r *report) {
	c := r.Config
	fmt.Fprintf(w, "eventbus-load  %s %s/%s, %d CPUs (GOMAXPROCS %d)\n",
		r.Machine.Go, r.Machine.OS, r.Machine.Arch, r.Machine.NumCPU, r.Machine.GOMAXPROCS)
	fmt.Fprintf(w, "bus      %s\n", configLine(r))
	fmt.Fprintf(w, "sizing   CalculateOptimalWorkers() = %d; GetEnvironmentSpecificConfig(): %d workers, queue %d (profile %s)\n",
		r.Sizing.CalculateOptimalWorkers, r.Sizing.EnvWorkers, r.Sizing.EnvQueue, r.Sizing.EnvProfile)
	fmt.Fprintf(w, "handler  %s: %s\n", r.Handler.Spec, r.Handler.Description)
	if r.hasFlood() {
		fmt.Fprintf(w, "flood    %s log lines/s (%s× the %d-worker pool's ≈%s/s) + %d high and %d medium events/s\n",
			fmtCount(int64(r.LogRate)), fmtRatio(r.LogRate/r.PoolRate), c.Workers, fmtCount(int64(r.PoolRate)),
			loadgen.FloodHighPerSecond, loadgen.FloodMediumPerSecond)
	}

	if len(r.Scenarios) > 0 {
		fmt.Fprintln(w)
		writeScenarioTable(w, r)
		fmt.Fprintln(w)
		writePriorityTable(w, r)
		fmt.Fprintln(w, "events/s: delivered per second, first publish to idle. publish: one Publish call.")
		fmt.Fprintln(w, "wait: Publish to handler start, from Event.Timestamp; bus p99: Metrics().Wait (a bucket bound, ≤2×).")
		fmt.Fprintln(w, "goroutines: started by the run, at the peak (publishers, workers; naive: one per event in flight).")
		fmt.Fprintln(w, "heap: the live heap's peak rise during the run.")
	}
	if rows := r.tuiRows(); len(rows) > 0 {
		fmt.Fprintln(w)
		writeTUITable(w, r, rows)
	}
	for _, sw := range r.Sweeps {
		fmt.Fprintln(w)
		writeSweep(w, r, sw)
	}

	fmt.Fprintln(w)
	all := r.allResults()
	failed := 0
	for _, res := range all {
		for _, ch := range res.Checks {
			if !ch.OK {
				failed++
				fmt.Fprintf(w, "CHECK FAILED %s %s: %s: %s\n", res.Scenario, runName(res), ch.Name, ch.Detail)
			}
		}
		if res.Err != "" {
			failed++
			fmt.Fprintf(w, "FAILED %s %s: %s\n", res.Scenario, runName(res), res.Err)
		}
	}
	if failed == 0 {
		fmt.Fprintf(w, "checks: ok: in all %d runs, every published event was delivered or dropped (published = delivered + dropped)\n", len(all))
		if rows := r.tuiRows(); len(rows) > 0 && !slices.ContainsFunc(rows, func(r *result) bool { return r.Interrupted }) {
			fmt.Fprintln(w, "checks: ok: each tui view got every log line the bus delivered, and its last frame shows the newest of them")
		}
	}
	if r.Interrupted {
		fmt.Fprintln(w, "interrupted: the figures above are what was measured until Ctrl-C; runs marked * were cut short")
	}
}

func writeScenarioTable(w io.Writer, r *report) {
	withBus := len(r.Baseline) > 0
	t := newTable(1, true, "scenario", "events/s", "publish mean/max", "published", "delivered", "dropped",
		"high wait p50/p99", "low p99", "goroutines", "heap", "check")
	for _, res := range r.tableRows() {
		check := "ok"
		if !res.ok() {
			check = "FAILED"
		}
		high, low := res.Levels[levelHigh].Wait, res.Levels[levelLow].Wait
		t.add(scenarioLabel(res, withBus),
			fmtCount(int64(res.EventsPerSec)),
			fmtDur(res.PublishMean)+" / "+fmtDur(res.PublishMax),
			fmtCount(res.Published), fmtCount(res.Delivered), dropCell(res),
			waitPair(high), waitP99(low),
			strconv.Itoa(res.PeakGoroutines), fmtBytes(res.heapGrowth()), check)
	}
	t.write(w)
}

func writePriorityTable(w io.Writer, r *report) {
	withBus := len(r.Baseline) > 0
	t := newTable(2, false, "scenario", "priority", "published", "delivered", "dropped",
		"wait p50", "p99", "max", "bus p99")
	for _, res := range r.tableRows() {
		first := true
		for c := levelHigh; c >= levelLow; c-- {
			cr := res.Levels[c]
			name := ""
			if first {
				name = scenarioLabel(res, withBus)
				first = false
			}
			busP99 := "-"
			if cr.BusWait.Count > 0 {
				busP99 = fmtDur(cr.BusWait.P99)
			}
			t.add(name, levelNames[c], fmtCount(cr.Published), fmtCount(cr.Delivered), fmtCount(cr.Dropped),
				waitP50(cr.Wait), waitP99(cr.Wait), waitMax(cr.Wait), busP99)
		}
	}
	t.write(w)
}

func writeSweep(w io.Writer, r *report, sw *sweepResult) {
	what := "its events"
	if sw.Scenario == "flood" {
		what = fmt.Sprintf("%s log lines/s", fmtCount(int64(r.LogRate)))
		if len(sw.Points) > 0 {
			what += ", " + fmtDur(sw.Points[0].Duration) + " per point"
		}
	}
	fmt.Fprintf(w, "sweep: %s at each worker count (%s; queue %s, %s)\n", sw.Scenario, what, sw.Queue, r.Config.Policy)
	t := newTable(0, true, "workers", "events/s", "of best", "dropped", "high wait p50/p99", "low p99", "goroutines", "heap", "")
	for _, p := range sw.Points {
		workers := strconv.Itoa(p.Workers)
		if p.Interrupted {
			workers += "*"
		}
		t.add(workers, fmtCount(int64(p.EventsPerSec)), sw.shareCell(p), dropShare(p),
			waitPair(p.Levels[levelHigh].Wait), waitP99(p.Levels[levelLow].Wait),
			strconv.Itoa(p.PeakGoroutines), fmtBytes(p.heapGrowth()), strings.Join(sw.marks(p.Workers), ", "))
	}
	t.write(w)
	rec := sw.Rec
	if rec.Workers == 0 {
		fmt.Fprintf(w, "recommended: none: %s\n", rec.Reason)
		return
	}
	fmt.Fprintf(w, "recommended: %d workers: %s.\n", rec.Workers, rec.Reason)
	for _, m := range []struct {
		name    string
		workers int
	}{
		{"CalculateOptimalWorkers()", sw.DefaultWorkers},
		{"GetEnvironmentSpecificConfig()", sw.EnvWorkers},
	} {
		p := sw.point(m.workers)
		if p == nil {
			fmt.Fprintf(w, "%s = %d workers: not measured\n", m.name, m.workers)
			continue
		}
		fmt.Fprintf(w, "%s = %d workers: %.0f%% of the best throughput, high p99 %s%s\n",
			m.name, m.workers, 100*sw.share(p), waitP99(p.Levels[levelHigh].Wait), versus(m.workers, rec.Workers))
	}
}

// versus compares a count with the recommended one.
func versus(w, rec int) string {
	switch {
	case w == rec:
		return " (the recommended count)"
	case w < rec:
		return fmt.Sprintf(" (%s fewer than recommended)", plural(rec-w, "worker"))
	}
	return fmt.Sprintf(" (%s more than recommended)", plural(w-rec, "worker"))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// dropShare is the share of a run's events that were dropped.
func dropShare(r *result) string {
	if r.Published == 0 {
		return "0"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(r.Dropped)/float64(r.Published))
}

// dropCell is the dropped count with its reasons.
func dropCell(r *result) string {
	if r.Dropped == 0 {
		return "0"
	}
	var reasons, counts []string
	for _, x := range []struct {
		name string
		n    int64
	}{{"full", r.Drops.QueueFull}, {"shutdown", r.Drops.Shutdown}, {"context", r.Drops.Context}, {"invalid", r.Drops.InvalidPriority}} {
		if x.n > 0 {
			reasons = append(reasons, x.name)
			counts = append(counts, x.name+" "+fmtCount(x.n))
		}
	}
	if len(reasons) == 1 {
		return fmtCount(r.Dropped) + " " + reasons[0]
	}
	return fmtCount(r.Dropped) + " (" + strings.Join(counts, ", ") + ")"
}

// writeTUITable compares the tui scenario's views.
func writeTUITable(w io.Writer, r *report, rows []*result) {
	about := r.tuiAbout()
	fmt.Fprintf(w, "tui: %s\n     %s\n", about[0], about[1])
	t := newTable(1, false, "view", "renders", "renders/s", "render mean", "render CPU (share)", "dropped", "coalesced",
		"age p50 / p99", "max", "last line", "unseen", "events/s", "high wait p50/p99")
	for _, res := range rows {
		v := res.TUI
		high := res.Levels[levelHigh].Wait
		t.add(scenarioLabel(res, false), fmtCount(v.Renders), fmtCount(int64(v.RendersPerSec)), fmtDur(v.RenderMean),
			renderCPUCell(v), fmtCount(v.Dropped), fmtCount(v.Subscription.Coalesced),
			waitPair(v.Age), waitMax(v.Age), lastLineCell(v), fmtCount(v.Unseen),
			fmtCount(int64(res.EventsPerSec)), waitPair(high))
	}
	t.write(w)
	fmt.Fprintln(w, "renders: calls of the view's handler, per second of the run; render mean: the wall time of one.")
	fmt.Fprintln(w, "render CPU: the renders' CPU time, and its share of all CPUs over the run (~: wall time, where it cannot be read).")
	fmt.Fprintln(w, "dropped: log lines whose event the bus dropped before the view got it; the next render still shows them.")
	fmt.Fprintln(w, "coalesced: events the coalesced view skipped for a newer one (latest wins); the render shows them all.")
	fmt.Fprintln(w, "age: a line's Publish to the end of the first render showing it; last line: the flood's last, when it appeared.")
	fmt.Fprintln(w, "unseen: lines no render showed. The rest of the bus: events/s, the handler's events delivered per second, and")
	fmt.Fprintln(w, "high wait, of the flood's process and error events from Publish to handler start, beside the view's renders.")
}
