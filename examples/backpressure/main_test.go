package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// The example must stop every goroutine it starts: the held worker is
// released, the waiting publisher returns, and every bus is shut down.
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
		// Queue [H1 L1 L2] is full when L3 arrives.
		"drop-oldest  H1 (eventbus: queue full)       L1, L2, L3      5 = 4 + 1  ok\n",
		"drop-newest  L3 (eventbus: queue full)       H1, L1, L2      5 = 4 + 1  ok\n",
		"drop-lowpri  L1 (eventbus: queue full)       H1, L2, L3      5 = 4 + 1  ok\n",
		"block        L3 (context deadline exceeded)  H1, L1, L2, L4  6 = 5 + 1  ok\n",
		"block: PublishContext(L3) waited for room, gave up after its 50ms timeout: context deadline exceeded\n",
		"block: Publish(L4) from another goroutine is still waiting after 50ms\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks\n%s\n--- output:\n%s", want, got)
		}
	}
}
