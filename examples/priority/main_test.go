package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// The example must stop every goroutine it starts, including the worker
// it holds: each scenario releases it and shuts its bus down.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		// High before medium before low, FIFO within each level.
		"   published: L1 B1 X1 L2 X2 B2 L3 X3\n" +
			"   handled:   X1 X2 X3 B1 B2 L1 L2 L3\n",
		// The one log line published with PriorityHigh jumps the queue.
		"   handled:   L2! B1 L1 L3\n",
		// With build.event made High it is handled in publish order with
		// process.exited, before the log lines.
		"   handled, default priorities:       X1 B1 B2 L1 L2\n" +
			"   handled, build.event set to high:  B1 X1 B2 L1 L2\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks\n%s\n--- output:\n%s", want, got)
		}
	}
}
