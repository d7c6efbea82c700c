package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// The example must stop every goroutine it starts: the bus's workers and
// sampler end in Shutdown.
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
		"process list received 4 events:\n" +
			"  process.started web  $ npm run dev\n" +
			"  process.exited  web  exit code 0\n" +
			"  process.started test $ go test ./...\n" +
			"  process.exited  test exit code 1\n",
		"log view received 4 events:\n" +
			"  log.line        web  \"> vite dev\"\n" +
			"  log.line        web  \"ready in 412 ms\"\n" +
			"  log.line        web  \"Local: http://localhost:5173/\"\n" +
			"  log.line        test \"--- FAIL: TestLogin (0.02s)\"\n",
		// Unsubscribed before the test process ran: it saw web's exit only.
		"exit notifier (unsubscribed after web's run) received 1 event:\n" +
			"  process.exited  web  exit code 0\n",
		"metrics: published=8 processed=8 dropped=0 pending=0 panics=0 ",
		"bus shut down\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks\n%s\n--- output:\n%s", want, got)
		}
	}
}
