package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// Goroutines that exist before the tests (the default pool that importing
// ants starts) are not the tests' doing.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}

var tiny = []string{
	"-q", "-isolate=false",
	"-events", "2000", "-publish-events", "2000", "-io-events", "40",
	"-flood-duration", "100ms", "-flood-drain", "150ms",
	"-burst", "1000", "-burst-window", "1s", "-shutdown-deadline", "200ms", "-grace", "100ms",
}

func TestRunPrintsTables(t *testing.T) {
	var out, errb bytes.Buffer
	args := append([]string{"-impl", "eventbus,eventbus-nomon,naive,chan-pool"}, tiny...)
	if err := run(args, &out, &errb); err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	s := out.String()
	for _, want := range []string{"## Throughput", "## Publish cost", "## I/O-bound", "## Priority under flood", "## Burst",
		"## The seed's claims against naive", "## The library's targets", "30 % more throughput than naive", "monitoring on >= 90 % of off"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(s)
	}
}

func TestChildPrintsJSON(t *testing.T) {
	var out, errb bytes.Buffer
	args := append([]string{"-child", "throughput/chan-pool"}, tiny...)
	if err := run(args, &out, &errb); err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	var res map[string]float64
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if res["delivered"] != 2000 {
		t.Fatalf("delivered %v, want 2000: %v", res["delivered"], res)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-impl", "nope"},
		{"-scenario", "nope"},
		{"-count", "0"},
		{"-handler", "100us"},
		{"-child", "throughput"},
	} {
		var out, errb bytes.Buffer
		if err := run(args, &out, &errb); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
