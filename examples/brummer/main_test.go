package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"regexp"
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
