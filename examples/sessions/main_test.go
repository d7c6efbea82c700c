package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The example must stop every goroutine it starts.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, 300, 5*time.Millisecond); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"clients: 300 connected, 300 channels closed by the bus, 0 panics\n",
		"subscriptions: 1 before, 1 after\n",
		", pending 0\n",
		"ok: every session's channel was closed by the bus",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q\n--- output:\n%s", want, got)
		}
	}
}
