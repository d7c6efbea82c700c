package bench

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
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
		Name:  "fanout",
		Title: "Fan-out: 4 publishers, 8 no-op handlers per event (library: Block policy, lossless); the pools run one task per event and handler",
		Run:   FanOut,
		Columns: []Column{
			col("calls/s", KeyCallsPerSec, 0),
			rangeCol("range of runs", KeyCallsPerSec, 1e6, 2, "M"),
			col("ns/publish", KeyNsPerPublish, 0),
			col("allocs/event", KeyAllocsPerEvent, 2),
			col("peak goroutines", KeyPeakGoroutines, 0),
			col("delivered", KeyDelivered, 0),
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
