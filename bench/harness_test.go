package bench

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/brummer-dev/eventbus/internal/loadgen"
	"go.uber.org/goleak"
)

// Every test must leave nothing running: each run closes its bus and
// waits for it. Goroutines that exist before the tests (the default pool
// that importing ants starts) are not the tests' doing.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}

// tinyConfig gives runs that take milliseconds, also under -race (which
// allows at most 8128 live goroutines).
func tinyConfig() Config {
	c := DefaultConfig()
	c.ThroughputEvents = 2000
	c.FanOutEvents = 500
	c.PublishEvents = 2000
	c.IOEvents = 40
	c.FloodDuration = 120 * time.Millisecond
	c.FloodDrain = 150 * time.Millisecond
	c.BurstEvents = 1500
	c.BurstWindow = time.Second
	c.ShutdownDeadline = 200 * time.Millisecond
	c.Grace = 100 * time.Millisecond
	c.SettleTimeout = 10 * time.Second
	return c
}

// leaky is a bus that loses every third event without reporting it, or,
// with twice set, runs the handler of every third event twice.
type leaky struct {
	r     routes
	n     atomic.Int64
	twice bool
}

func (l *leaky) Subscribe(t eventbus.EventType, h Handler) { l.r.add(t, h) }

func (l *leaky) Publish(ev eventbus.Event) {
	third := l.n.Add(1)%3 == 0
	if third && !l.twice {
		return
	}
	for _, h := range l.r[ev.Type] {
		h(ev)
		if third {
			h(ev)
		}
	}
}

func (l *leaky) Close(context.Context) error { return nil }

func TestAccountingCatchesLostEvents(t *testing.T) {
	cfg := tinyConfig()
	cfg.SettleTimeout = 50 * time.Millisecond
	for _, twice := range []bool{false, true} {
		im := Impl{Name: "leaky", New: func(Options) (Bus, error) { return &leaky{r: routes{}, twice: twice}, nil }}
		_, err := Throughput(cfg, im)
		if !errors.Is(err, ErrAccounting) {
			t.Fatalf("twice=%v: Throughput over a bus that miscounts: got %v, want an accounting error", twice, err)
		}
		t.Logf("twice=%v: %v", twice, err)
	}
}

func TestTallyCheck(t *testing.T) {
	var ta Tally
	h := ta.Wrap(nil)
	h(eventbus.Event{Type: eventbus.LogLine})
	h(eventbus.Event{Type: eventbus.ProcessExited})
	ta.OnDrop(eventbus.Event{Type: eventbus.LogLine})
	ta.Abandon()
	h(eventbus.Event{Type: eventbus.LogLine})
	if err := ta.Check(4, &[loadgen.Levels]int64{3, 0, 1}); err != nil {
		t.Fatal(err)
	}
	if err := ta.Check(5, nil); !errors.Is(err, ErrAccounting) {
		t.Fatalf("Check(5) = %v, want an accounting error", err)
	}
	if err := ta.Check(4, &[loadgen.Levels]int64{2, 0, 2}); !errors.Is(err, ErrAccounting) {
		t.Fatalf("Check per kind = %v, want an accounting error", err)
	}
	if d, dr, a := ta.Delivered(), ta.Dropped(), ta.Abandoned(); d != 2 || dr != 1 || a != 1 {
		t.Fatalf("delivered %d dropped %d abandoned %d, want 2 1 1", d, dr, a)
	}
}

// Every adapter delivers a handful of events to the handlers of their
// type, and stops.
func TestAdaptersDeliver(t *testing.T) {
	for _, im := range Impls {
		t.Run(im.Name, func(t *testing.T) {
			var ta Tally
			bus, err := im.New(Options{OnDrop: ta.OnDrop, Lossless: true})
			if err != nil {
				t.Fatal(err)
			}
			var logs, exits atomic.Int64
			bus.Subscribe(eventbus.LogLine, ta.Wrap(func(ev eventbus.Event) {
				if ev.Type != eventbus.LogLine {
					t.Errorf("log handler got %q", ev.Type)
				}
				logs.Add(1)
			}))
			bus.Subscribe(eventbus.ProcessExited, ta.Wrap(func(ev eventbus.Event) {
				if ev.Type != eventbus.ProcessExited || ev.ProcessID != "p1" {
					t.Errorf("exit handler got %q %q", ev.Type, ev.ProcessID)
				}
				exits.Add(1)
			}))
			for range 7 {
				bus.Publish(eventbus.Event{Type: eventbus.LogLine})
			}
			for range 3 {
				bus.Publish(eventbus.Event{Type: eventbus.ProcessExited, ProcessID: "p1"})
			}
			if err := ta.settle(10, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := bus.Close(ctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if logs.Load() != 7 || exits.Load() != 3 || ta.Dropped() != 0 {
				t.Fatalf("logs %d exits %d dropped %d, want 7 3 0", logs.Load(), exits.Load(), ta.Dropped())
			}
			if v, ok := bus.(Verifier); ok {
				if err := v.Verify(10, 10, 0); err != nil {
					t.Fatal(err)
				}
				if err := v.Verify(11, 10, 0); err == nil {
					t.Fatal("Verify accepted counts that disagree with the bus")
				}
			}
		})
	}
}

// Every scenario runs over every implementation at a tiny size, and
// accounts for every event.
func TestScenariosSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every scenario")
	}
	cfg := tinyConfig()
	for _, s := range Scenarios {
		for _, im := range Impls {
			t.Run(s.Name+"/"+im.Name, func(t *testing.T) {
				res, err := s.Run(cfg, im)
				if err != nil {
					t.Fatal(err)
				}
				sum := res[KeyDelivered] + res[KeyDropped] + res[KeyAbandoned]
				if sum != res[KeyPublished] || res[KeyPublished] == 0 {
					t.Fatalf("published %v, delivered+dropped+abandoned %v", res[KeyPublished], sum)
				}
				var b bytes.Buffer
				Table(&b, s, []string{im.Name}, map[string]Result{im.Name: res})
				if lines := strings.Count(b.String(), "\n"); lines != 2 {
					t.Fatalf("table has %d lines:\n%s", lines, b.String())
				}
			})
		}
	}
}

func TestFloodPrioritisesHighEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a second")
	}
	cfg := tinyConfig()
	cfg.FloodDuration = 500 * time.Millisecond
	res, err := Flood(cfg, Impls[0])
	if err != nil {
		t.Fatal(err)
	}
	if res[KeyHighPublished] == 0 || res[KeyHighDropped] != 0 || res[KeyHighDelivered] != res[KeyHighPublished] {
		t.Fatalf("eventbus lost high-priority events under DropLowPri: %v", res)
	}
	if res[KeyLowDropped] == 0 {
		t.Fatalf("a flood at %vx capacity dropped no log line: %v", cfg.FloodFactor, res)
	}
}

func TestMedian(t *testing.T) {
	m := Median([]Result{{"a": 3, "b": 1}, {"a": 1, "b": 2}, {"a": 2}})
	if m["a"] != 2 || m["b"] != 1.5 || m["a"+MinSuffix] != 1 || m["a"+MaxSuffix] != 3 {
		t.Fatalf("Median = %v, want a=2 (1..3) b=1.5", m)
	}
	if one := Median([]Result{{"a": 3}}); len(one) != 1 {
		t.Fatalf("Median of one run = %v, want only a", one)
	}
}

func TestQuantile(t *testing.T) {
	var d durations
	for i := 1; i <= 100; i++ {
		d.add(time.Duration(i)*time.Millisecond, false)
	}
	p50, p99, mx, lower := d.quantiles()
	if p50 != 50*time.Millisecond || p99 != 99*time.Millisecond || mx != 100*time.Millisecond || lower {
		t.Fatalf("quantiles %v %v %v %v", p50, p99, mx, lower)
	}
	d.add(time.Second, true)
	if _, _, _, lower := d.quantiles(); !lower {
		t.Fatal("an abandoned event did not make the figures lower bounds")
	}
}

func TestVerdicts(t *testing.T) {
	rs := Results{
		"throughput": {
			"eventbus":       {KeyEventsPerSec: 300, KeyAllocsPerEvent: 1.5},
			"eventbus-nomon": {KeyEventsPerSec: 310},
			"naive":          {KeyEventsPerSec: 200},
			"ants":           {KeyEventsPerSec: 100},
			"pond":           {KeyEventsPerSec: 200},
		},
	}
	cfg := DefaultConfig()
	get := func(vs []Verdict, what string) string {
		for _, v := range vs {
			if v.What == what {
				return v.Pass
			}
		}
		t.Fatalf("no verdict %q", what)
		return ""
	}
	ts := Targets(rs, cfg, Impls)
	for what, want := range map[string]string{
		"throughput >= 2x ants":           "PASS",
		"throughput >= 2x pond":           "FAIL",
		"throughput >= 40 % of chan-pool": "n/a",
		"<= 1 alloc/event":                "FAIL",
		"monitoring on >= 90 % of off":    "PASS",
	} {
		if got := get(ts, what); got != want {
			t.Errorf("%s: %s, want %s", what, got, want)
		}
	}
	if got := get(Claims(rs, cfg), "30 % more throughput than naive"); got != "true" {
		t.Errorf("throughput claim: %s, want true", got)
	}
	var b bytes.Buffer
	VerdictTable(&b, "target", ts)
	if !strings.Contains(b.String(), "FAIL") {
		t.Fatalf("table:\n%s", b.String())
	}
}

func TestGroup(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -20000: "-20,000"} {
		if got := group(n); got != want {
			t.Errorf("group(%d) = %q, want %q", n, got, want)
		}
	}
}
