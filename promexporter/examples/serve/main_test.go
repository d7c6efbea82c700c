package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The example's server answers a scrape with the bus's figures after a
// few bursts of its load, and closes without leaving anything behind.
func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := start(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	const bursts = 6 // the sixth brings the spike
	for range bursts {
		a.burst()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.bus.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ln.Addr().String()+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %v %s", err, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	sum := func(name string, labels map[string]string) float64 {
		var total float64
		mf, ok := mfs[name]
		if !ok {
			t.Fatalf("%s missing from the scrape", name)
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metrics
				}
			}
			total += m.GetCounter().GetValue()
		}
		return total
	}
	// 5 bursts and a spike of log lines, 6 build events, 1 process.started.
	const want = 5*logBurst + logSpike + bursts + 1
	if got := sum("brummer_events_published_total", nil); got != want {
		t.Errorf("published %v, want %d", got, want)
	}
	if got := sum("brummer_events_published_total", map[string]string{"priority": "high"}); got != 1 {
		t.Errorf("high published %v, want 1", got)
	}
	processed := sum("brummer_subscription_matched_total", map[string]string{"subscription": "tui"})
	if processed == 0 {
		t.Error("the tui subscription matched nothing")
	}
	for _, name := range []string{"brummer_event_wait_seconds", "brummer_worker_utilization_ratio", "go_goroutines"} {
		if _, ok := mfs[name]; !ok {
			t.Errorf("%s missing from the scrape", name)
		}
	}
}
