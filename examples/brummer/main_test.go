package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brummer-dev/eventbus"
	"go.uber.org/goleak"
)

// The simulation must stop every goroutine it starts: its publishers, and
// the bus's workers and sampler.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testOptions are the defaults with a short duration, so that the test
// runs the whole program, summary included, in a fraction of a second.
func testOptions(p eventbus.DropPolicy) options {
	o := defaultOptions()
	o.duration = 300 * time.Millisecond
	o.policy = p
	return o
}

var accountingOK = regexp.MustCompile(`(?m)^accounting \(bus\): published (\d+) == processed \d+ \+ dropped \d+: ok$`)

var (
	lowPublished = regexp.MustCompile(`(?m)^low +(\d+) +(\d+) `)
	tuiLine      = regexp.MustCompile(`(?m)^tui view "tui", coalesced every 16ms: (\d+) renders for (\d+) log lines; of the (\d+) it was handed, (\d+) coalesced, (\d+) dropped$`)
	tuiLast      = regexp.MustCompile(`(?m)^tui last render: showed (?:the last log line,|log line) (\d+) of (\d+), (\S+) after it was published: "(\d+) proc-\d \| GET /api/items/\d+ 200"$`)
)

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkTUI checks the coalesced TUI view's figures: under the flood it
// skips most lines for newer ones, renders only what it was handed and
// did not skip, and its last render shows the last log line published,
// whose event every policy but drop-newest keeps.
func checkTUI(t *testing.T, out string, p eventbus.DropPolicy) {
	t.Helper()
	m := tuiLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no tui line in the output:\n%s", out)
	}
	renders, lines, matched, coalesced, dropped := atoi(t, m[1]), atoi(t, m[2]), atoi(t, m[3]), atoi(t, m[4]), atoi(t, m[5])
	if renders == 0 || coalesced == 0 {
		t.Errorf("%d renders, %d coalesced: want both above 0 under the flood", renders, coalesced)
	}
	if renders+coalesced+dropped != matched {
		t.Errorf("renders %d + coalesced %d + dropped %d != handed %d", renders, coalesced, dropped, matched)
	}
	if renders*10 > lines {
		t.Errorf("%d renders for %d lines: want at most one per ten", renders, lines)
	}
	low := lowPublished.FindStringSubmatch(out)
	if low == nil || atoi(t, low[1]) != lines {
		t.Errorf("the store holds %d log lines, the priority table says %v were published", lines, low)
	}
	if l := atoi(t, low[2]); matched != l {
		t.Errorf("the tui view was handed %d lines, the log pane %d: want the same, past the same queue", matched, l)
	}
	last := tuiLast.FindStringSubmatch(out)
	if last == nil {
		t.Fatalf("no last render in the output:\n%s", out)
	}
	if shown := atoi(t, last[1]); p != eventbus.DropNewest && shown != lines || atoi(t, last[2]) != lines {
		t.Errorf("the last render showed line %d of %s, want the last, %d", shown, last[2], lines)
	}
	if age, err := time.ParseDuration(last[3]); err != nil || age <= 0 {
		t.Errorf("the last render's age %q: %v", last[3], err)
	}
	if last[4] != last[1] {
		t.Errorf("the last frame's bottom row is line %s, want the newest it showed, %s", last[4], last[1])
	}
}

func TestRunAccountsForEveryEvent(t *testing.T) {
	for _, p := range []eventbus.DropPolicy{eventbus.DropLowPri, eventbus.DropOldest, eventbus.DropNewest, eventbus.Block} {
		t.Run(p.String(), func(t *testing.T) {
			var out bytes.Buffer
			if err := run(context.Background(), &out, testOptions(p)); err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			got := out.String()
			m := accountingOK.FindStringSubmatch(got)
			if m == nil || m[1] == "0" {
				t.Fatalf("no successful accounting line with events in the output:\n%s", got)
			}
			for _, want := range []string{
				"policy=" + p.String(),
				"(duration reached)",
				"\nhigh ",
				"\nlow ",
				"accounting (per priority, published == delivered + dropped): high ",
			} {
				if !strings.Contains(got, want) {
					t.Errorf("output lacks %q:\n%s", want, got)
				}
			}
			if !strings.Contains(got, "delivered + dropped): ") || !strings.HasSuffix(got, ": ok\n") {
				t.Errorf("per-priority accounting did not end with ok:\n%s", got)
			}
			checkTUI(t, got, p)
		})
	}
}

// Cancelling the context, as Ctrl-C does in main, stops the simulation
// early and still prints the summary.
func TestRunStopsEarlyOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	o := defaultOptions() // 3 s: the cancel must cut it short
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, &out, o) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop after the context was cancelled")
	}
	got := out.String()
	if !strings.Contains(got, "(interrupted)") || !accountingOK.MatchString(got) {
		t.Errorf("want an interrupted run with a summary, got:\n%s", got)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-policy", "block", "-workers", "2", "-rate", "100", "-duration", "1s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.policy != eventbus.Block || o.workers != 2 || o.rate != 100 || o.duration != time.Second {
		t.Errorf("parsed %+v", o)
	}
	cfg := o.config()
	if cfg.Workers != 2 || cfg.QueueSize != 0 || cfg.BackpressureMode != eventbus.Block || !cfg.MonitoringEnabled {
		t.Errorf("config %+v: want 2 workers, automatic queue, block, monitoring", cfg)
	}

	d, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if def := eventbus.DefaultConfig(); d.config().Workers != def.Workers || d.config().QueueSize != def.QueueSize ||
		d.config().BackpressureMode != def.BackpressureMode {
		t.Errorf("without flags the config is %+v, want DefaultConfig's sizes and policy", d.config())
	}

	for _, args := range [][]string{{"-policy", "drop-everything"}, {"-duration", "0s"}, {"-rate", "-1"}, {"-workers", "-2"}, {"-handler", "0"}, {"extra"}} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted it", args)
		}
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h gave %v, want flag.ErrHelp", err)
	}
}
