package bench

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/brummer-dev/eventbus/internal/loadgen"
)

// Results holds the median result per scenario and implementation.
type Results map[string]map[string]Result

func (rs Results) get(scenario, impl, key string) (float64, bool) {
	r, ok := rs[scenario][impl]
	if !ok {
		return 0, false
	}
	v, ok := r[key]
	return v, ok
}

// Verdict is one line of the claims or targets table.
type Verdict struct {
	What     string
	Where    string // scenario and figure
	Measured string
	Need     string
	// Pass is "true"/"false" for claims, "PASS"/"FAIL" for targets, and
	// "n/a" when a figure is missing (scenario or implementation not run).
	Pass string
}

// Claims checks the seed's promises against naive.
func Claims(rs Results, cfg Config) []Verdict {
	var out []Verdict
	naiveBurst := fmt.Sprintf("burst of %s for both", group(int64(cfg.BurstEvents)))
	if cfg.BurstEventsUnbounded > 0 && cfg.BurstEventsUnbounded != cfg.BurstEvents {
		naiveBurst = fmt.Sprintf("burst of %s for eventbus, %s for naive", group(int64(cfg.BurstEvents)), group(int64(cfg.BurstEventsUnbounded)))
	}
	out = append(out, ratioVerdict(rs, "90 % less memory than naive",
		"burst: peak heap+stack growth ("+naiveBurst+")", "burst", KeyMemGrowth, "eventbus", "naive",
		func(x float64) bool { return x <= 0.10 }, "eventbus/naive <= 0.10", "MiB", 1, true))
	out = append(out, ratioVerdict(rs, "50 % lower latency than naive",
		"flood: p99 wait of the high-priority events", "flood", KeyHighP99, "eventbus", "naive",
		func(x float64) bool { return x <= 0.5 }, "eventbus/naive <= 0.50", "ms", 3, true))
	out = append(out, ratioVerdict(rs, "30 % more throughput than naive",
		"throughput: events/s", "throughput", KeyEventsPerSec, "eventbus", "naive",
		func(x float64) bool { return x >= 1.3 }, "eventbus/naive >= 1.30", "ev/s", 0, true))
	return out
}

// ratioVerdict compares key of impl a with impl b in a scenario.
func ratioVerdict(rs Results, what, where, scenario, key, a, b string, ok func(float64) bool, need, unit string, decimals int, claim bool) Verdict {
	v := Verdict{What: what, Where: where, Need: need, Pass: "n/a", Measured: "n/a"}
	va, okA := rs.get(scenario, a, key)
	vb, okB := rs.get(scenario, b, key)
	if !okA || !okB || vb == 0 {
		return v
	}
	x := va / vb
	v.Measured = fmt.Sprintf("%s / %s %s = %.3f", fnum(va, decimals), fnum(vb, decimals), unit, x)
	v.Pass = passWord(ok(x), claim)
	return v
}

func passWord(pass, claim bool) string {
	switch {
	case claim && pass:
		return "true"
	case claim:
		return "false"
	case pass:
		return "PASS"
	}
	return "FAIL"
}

// Targets checks the library's targets.
func Targets(rs Results, cfg Config, impls []Impl) []Verdict {
	var out []Verdict
	atLeast := func(n float64) func(float64) bool { return func(x float64) bool { return x >= n } }
	atMost := func(n float64) func(float64) bool { return func(x float64) bool { return x <= n } }
	out = append(out,
		ratioVerdict(rs, "throughput >= 2x ants", "throughput: events/s", "throughput", KeyEventsPerSec, "eventbus", "ants", atLeast(2), "ratio >= 2", "ev/s", 0, false),
		ratioVerdict(rs, "throughput >= 2x pond", "throughput: events/s", "throughput", KeyEventsPerSec, "eventbus", "pond", atLeast(2), "ratio >= 2", "ev/s", 0, false),
		ratioVerdict(rs, "throughput >= 40 % of chan-pool", "throughput: events/s", "throughput", KeyEventsPerSec, "eventbus", "chan-pool", atLeast(0.4), "ratio >= 0.40", "ev/s", 0, false),
		single(rs, "<= 1 alloc/event", "throughput: allocs/event", "throughput", "eventbus", KeyAllocsPerEvent, atMost(1), "<= 1", 3),
		ratioVerdict(rs, "publish cost <= 1/3 of ants'", "publish: ns/publish", "publish", KeyNsPerPublish, "eventbus", "ants", atMost(1.0/3), "ratio <= 0.333", "ns", 0, false),
		ratioVerdict(rs, "fan-out >= 1.5x chan-pool", "fanout: handler calls/s", "fanout", KeyCallsPerSec, "eventbus", "chan-pool", atLeast(1.5), "ratio >= 1.5", "calls/s", 0, false),
	)

	// Flood: high p99 against the handler time measured in the same run.
	v := Verdict{What: "flood: high p99 <= 2x handler time", Where: "flood: p99 wait of the high-priority events vs observed handler mean", Need: "ratio <= 2", Pass: "n/a", Measured: "n/a"}
	if p99, ok := rs.get("flood", "eventbus", KeyHighP99); ok {
		if h, ok := rs.get("flood", "eventbus", KeyHandlerMs); ok && h > 0 {
			v.Measured = fmt.Sprintf("%.3f ms / %.3f ms = %.2f", p99, h, p99/h)
			v.Pass = passWord(p99/h <= 2 && rs["flood"]["eventbus"][KeyHighLower] < 0.5, false)
		}
	}
	out = append(out, v)
	for _, im := range impls {
		if !im.Pooled {
			continue
		}
		out = append(out, ratioVerdict(rs, "flood: "+im.Name+" high p99 >= 10x eventbus's",
			"flood: p99 wait of the high-priority events", "flood", KeyHighP99, im.Name, "eventbus", atLeast(10), "peer/eventbus >= 10", "ms", 3, false))
	}
	out = append(out, single(rs, "publishers never blocked (DefaultConfig)", "flood: max time inside Publish", "flood", "eventbus", KeyMaxPublishMs, atMost(ms(loadgen.SlowPublish)), "<= 1 ms", 3))

	bg := Verdict{What: fmt.Sprintf("burst: goroutines <= Workers+10 (%d)", cfg.Workers+10), Where: "burst: peak goroutines above the harness's", Need: fmt.Sprintf("<= %d", cfg.Workers+10), Pass: "n/a", Measured: "n/a"}
	if g, ok := rs.get("burst", "eventbus", KeyPeakGoroutines); ok {
		bg.Measured = fnum(g, 0)
		bg.Pass = passWord(g <= float64(cfg.Workers+10), false)
	}
	out = append(out, bg)
	out = append(out, single(rs, "burst: heap growth bounded", "burst: peak HeapInuse - HeapInuse before", "burst", "eventbus", KeyHeapGrowth, atMost(maxHeapGrowthMiB), fmt.Sprintf("<= %d MiB", maxHeapGrowthMiB), 1))
	out = append(out, ratioVerdict(rs, "monitoring on >= 90 % of off", "throughput: events/s, same run", "throughput", KeyEventsPerSec, "eventbus", "eventbus-nomon", atLeast(0.9), "on/off >= 0.90", "ev/s", 0, false))
	return out
}

// maxHeapGrowthMiB is the bound the burst target puts on the library's
// heap growth: a small constant, whatever the burst size (1,000,000 events
// of 80 bytes would be 76 MiB by themselves).
const maxHeapGrowthMiB = 32

func single(rs Results, what, where, scenario, impl, key string, ok func(float64) bool, need string, decimals int) Verdict {
	v := Verdict{What: what, Where: where, Need: need, Pass: "n/a", Measured: "n/a"}
	if x, found := rs.get(scenario, impl, key); found {
		v.Measured = fnum(x, decimals)
		v.Pass = passWord(ok(x), false)
	}
	return v
}

// VerdictTable writes claims or targets as a table.
func VerdictTable(w io.Writer, head string, vs []Verdict) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\tscenario and figure\tmeasured\tneeded\tresult\t\n", head)
	for _, v := range vs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", v.What, v.Where, v.Measured, v.Need, v.Pass)
	}
	tw.Flush()
}
