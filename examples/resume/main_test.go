package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// The example must stop every goroutine it starts.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, 4000, 4); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "the client saw all 4000 lines exactly once, in order, across 4 reconnects; missed 0") {
		t.Errorf("unexpected output:\n%s", out.String())
	}
}
