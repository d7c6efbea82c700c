package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The example must stop every goroutine it starts: its publishers, and the
// bus's workers and sampler.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// runs numbers the expvar names: expvar cannot remove a variable, so each
// run (go test -count=2 runs the test twice in one process) needs its own.
var runs atomic.Int64

func TestRun(t *testing.T) {
	name := fmt.Sprintf("eventbus-test-%d", runs.Add(1))
	var out bytes.Buffer
	if err := run(&out, 300*time.Millisecond, name); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	m := regexp.MustCompile(`(?m)^accounting: published (\d+) == processed \d+ \+ dropped \d+: ok$`).FindStringSubmatch(got)
	if m == nil || m[1] == "0" {
		t.Fatalf("no successful accounting line with events in the output:\n%s", got)
	}
	for _, want := range []string{
		"\nfinal  published=" + m[1] + " ",
		// The flood is four times the pool's capacity: log lines are
		// dropped, process exits are not.
		"(full=",
		"dropped by priority: high=0 medium=0 low=",
		"expvar \"" + name + "\":\n{\n  \"time\": ",
		"  \"events_published\": " + m[1] + ",\n",
		"  \"events_pending\": 0,\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

// A second bus cannot take a name that is already published; run reports
// it instead of panicking as expvar.Publish would.
func TestRunNameTaken(t *testing.T) {
	name := fmt.Sprintf("eventbus-test-%d", runs.Add(1))
	if err := run(&bytes.Buffer{}, 50*time.Millisecond, name); err != nil {
		t.Fatal(err)
	}
	err := run(&bytes.Buffer{}, 50*time.Millisecond, name)
	if err == nil || !strings.Contains(err.Error(), "already taken") {
		t.Errorf("second run under %q: got %v, want ErrExpvarNameTaken", name, err)
	}
}
