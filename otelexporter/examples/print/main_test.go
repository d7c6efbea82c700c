package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The example runs end to end with a few ticks, prints every kind of
// instrument, and counts exactly the events it published.
func TestRun(t *testing.T) {
	var out strings.Builder
	const ticks = 6 // the sixth brings the spike
	if err := run(&out, ticks); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	text := out.String()
	for _, want := range []string{
		"scope github.com/brummer-dev/eventbus/otelexporter",
		"eventbus.published.events (counter, {event})",
		"eventbus.queue.depth (updowncounter, {event})",
		"eventbus.worker.utilization.mean (gauge, 1)",
		"eventbus.wait.time (counter, s)",
		"eventbus.subscription.name=tui",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	published := 0
	section := false
	line := regexp.MustCompile(`^\s+eventbus\.priority=\w+\s+(\d+)$`)
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, " ") {
			section = strings.HasPrefix(l, "eventbus.published.events ")
			continue
		}
		if m := line.FindStringSubmatch(l); section && m != nil {
			n, _ := strconv.Atoi(m[1])
			published += n
		}
	}
	// 5 ticks of 4 log lines, a spike of 40, 6 build events, 1 process.started.
	if want := 5*logBurst + logSpike + ticks + 1; published != want {
		t.Errorf("published %d, want %d", published, want)
	}
}
