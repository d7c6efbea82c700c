package bench

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/brummer-dev/eventbus/internal/loadgen"
)

// Scenario is one scenario: how to run it and how to show its results.
type Scenario struct {
	Name    string
	Title   string
	Run     func(Config, Impl) (Result, error)
	Columns []Column
}

// Column is one column of a scenario's table.
type Column struct {
	Header string
	Cell   func(Result) string
}

func col(header, key string, decimals int) Column {
	return Column{header, func(r Result) string { return num(r, key, decimals) }}
}

// num formats r[key] with the given decimals, "-" when absent.
func num(r Result, key string, decimals int) string {
	v, ok := r[key]
	if !ok {
		return "-"
	}
	return fnum(v, decimals)
}

func fnum(v float64, decimals int) string {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return "-"
	}
	if decimals == 0 && math.Abs(v) >= 1e4 {
		return group(int64(math.Round(v)))
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

// group writes n with thousands separators.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// shutdownCell shows the shutdown time, or that it did not finish.
func shutdownCell(r Result) string {
	if _, ok := r[KeyShutdownMs]; !ok {
		return "-"
	}
	if r[KeyShutdownFinished] < 0.5 {
		return "DNF in " + fnum(r[KeyShutdownCapMs], 0)
	}
	return fnum(r[KeyShutdownMs], 1)
}

// waitCell shows a wait figure, with ">=" when it is a lower bound only.
func waitCell(key string) func(Result) string {
	return func(r Result) string {
		s := num(r, key, 3)
		if r[KeyHighLower] >= 0.5 && s != "-" {
			s = ">=" + s
		}
		return s
	}
}

func ratioCell(a, b string) func(Result) string {
	return func(r Result) string {
		return num(r, a, 0) + "/" + num(r, b, 0)
	}
}

// Scenarios lists the scenarios in the order they run.
var Scenarios = []Scenario{
	{
		Name:  "throughput",
		Title: "Throughput: 4 publishers, one no-op handler (library: Block policy, lossless)",
		Run:   Throughput,
		Columns: []Column{
			col("events/s", KeyEventsPerSec, 0),
			rangeCol("range of runs", KeyEventsPerSec, 1e6, 2, "M"),
			col("ns/event", KeyNsPerEvent, 0),
			col("allocs/event", KeyAllocsPerEvent, 2),
			col("peak goroutines", KeyPeakGoroutines, 0),
			col("peak heap MiB", KeyPeakHeap, 1),
			col("delivered", KeyDelivered, 0),
			col("dropped", KeyDropped, 0),
		},
	},
	{
		Name:  "publish",
		Title: "Publish cost: 1 publisher, one no-op handler (library: Block policy, lossless)",
		Run:   PublishCost,
		Columns: []Column{
			col("ns/publish", KeyNsPerPublish, 0),
			rangeCol("range of runs", KeyNsPerPublish, 1, 0, ""),
			col("ns/event until delivered", KeyNsPerEvent, 0),
			col("allocs/event", KeyAllocsPerEvent, 2),
			col("peak goroutines", KeyPeakGoroutines, 0),
		},
	},
	{
		Name:  "io",
		Title: "I/O-bound: 8 publishers, handler sleeps (library: Block policy, lossless)",
		Run:   IOBound,
		Columns: []Column{
			col("wall ms", KeyWallMs, 0),
			col("publishers done ms", KeyPublishMs, 0),
			col("handler ms", KeyHandlerMs, 3),
			col("peak goroutines", KeyPeakGoroutines, 0),
			col("peak heap MiB", KeyPeakHeap, 1),
			col("peak stack MiB", KeyPeakStack, 1),
			col("mem growth MiB", KeyMemGrowth, 1),
		},
	},
	{
		Name:  "flood",
		Title: "Priority under flood: log lines at 5x capacity + process and error events (high) and build events (medium) (library: DefaultConfig)",
		Run:   Flood,
		Columns: []Column{
			col("handler ms", KeyHandlerMs, 3),
			{"high p50 ms", waitCell(KeyHighP50)},
			{"high p99 ms", waitCell(KeyHighP99)},
			{"high max ms", waitCell(KeyHighMax)},
			{"high deliv/pub", ratioCell(KeyHighDelivered, KeyHighPublished)},
			col("high dropped", KeyHighDropped, 0),
			col("low target", KeyLowTarget, 0),
			col("low published", KeyLowPublished, 0),
			col("low delivered", KeyLowDelivered, 0),
			col("low dropped", KeyLowDropped, 0),
			col("unfinished", KeyAbandoned, 0),
			col("max publish ms", KeyMaxPublishMs, 2),
			col("publishes >1ms", KeySlowPublishes, 0),
			col("peak goroutines", KeyPeakGoroutines, 0),
			col("bus-reported high p99 ms", KeyBusHighP99, 3),
		},
	},
	{
		Name:  "burst",
		Title: "Burst: 8 publishers at full speed, handler sleeps, then shutdown with a 1s deadline (library: DefaultConfig)",
		Run:   Burst,
		Columns: []Column{
			col("burst", KeyEvents, 0),
			col("published", KeyPublished, 0),
			col("publish ms", KeyPublishMs, 0),
			col("end: delivered", KeyEndDelivered, 0),
			col("end: dropped", KeyEndDropped, 0),
			col("end: queued", KeyEndQueued, 0),
			col("peak goroutines", KeyPeakGoroutines, 0),
			col("peak heap MiB", KeyPeakHeap, 1),
			col("peak stack MiB", KeyPeakStack, 1),
			col("mem growth MiB", KeyMemGrowth, 1),
			{"shutdown ms", shutdownCell},
			col("total delivered", KeyDelivered, 0),
			col("total dropped", KeyDropped, 0),
			col("unfinished", KeyAbandoned, 0),
			col("max publish ms", KeyMaxPublishMs, 1),
		},
	},
}

// ScenarioNames returns the names of Scenarios.
func ScenarioNames() []string {
	names := make([]string, len(Scenarios))
	for i, s := range Scenarios {
		names[i] = s.Name
	}
	return names
}

// LookupScenario returns the scenario with the given name.
func LookupScenario(name string) (Scenario, error) {
	for _, s := range Scenarios {
		if s.Name == name {
			return s, nil
		}
	}
	return Scenario{}, fmt.Errorf("unknown scenario %q (have %v)", name, ScenarioNames())
}

// Median returns, for every key, the median of the runs' values (the mean
// of the two middle ones for an even count). With more than one run it also
// gives the smallest and largest value of every key, under the key with
// MinSuffix and MaxSuffix appended.
func Median(runs []Result) Result {
	vals := map[string][]float64{}
	for _, r := range runs {
		for k, v := range r {
			vals[k] = append(vals[k], v)
		}
	}
	m := Result{}
	for k, v := range vals {
		sort.Float64s(v)
		n := len(v)
		if n%2 == 1 {
			m[k] = v[n/2]
		} else {
			m[k] = (v[n/2-1] + v[n/2]) / 2
		}
		if len(runs) > 1 {
			m[k+MinSuffix], m[k+MaxSuffix] = v[0], v[n-1]
		}
	}
	return m
}

// The suffixes of the keys Median adds for the range of the runs.
const (
	MinSuffix = ".min"
	MaxSuffix = ".max"
)

// rangeCol shows the range of key over the runs, scaled by div, or "-"
// after a single run.
func rangeCol(header, key string, div float64, decimals int, unit string) Column {
	return Column{header, func(r Result) string {
		lo, ok1 := r[key+MinSuffix]
		hi, ok2 := r[key+MaxSuffix]
		if !ok1 || !ok2 {
			return "-"
		}
		return fnum(lo/div, decimals) + "-" + fnum(hi/div, decimals) + unit
	}}
}

// Table writes a scenario's table: one row per implementation that has a
// result, in the order of impls.
func Table(w io.Writer, s Scenario, impls []string, res map[string]Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	var b strings.Builder
	b.WriteString("impl\t")
	for _, c := range s.Columns {
		b.WriteString(c.Header + "\t")
	}
	fmt.Fprintln(tw, b.String())
	for _, name := range impls {
		r, ok := res[name]
		if !ok {
			continue
		}
		b.Reset()
		b.WriteString(name + "\t")
		for _, c := range s.Columns {
			b.WriteString(c.Cell(r) + "\t")
		}
		fmt.Fprintln(tw, b.String())
	}
	tw.Flush()
}

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
