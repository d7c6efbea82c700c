package main

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The example runs end to end with small numbers and leaves nothing behind.
func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(&out, 500, 20); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	for _, want := range []string{"== core mode", "== jetstream mode", "crossed in", "one-way latency", "throughput: 500 events"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
