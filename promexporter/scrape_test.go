package promexporter

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/brummer-dev/eventbus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches url as Prometheus would ask for the text format, and
// parses the answer.
func scrape(t *testing.T, client *http.Client, url string) map[string]*dto.MetricFamily {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: %s: %s", resp.Status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return mfs
}

// newServer serves reg's metrics on a loopback port, failing a scrape on
// any collection error rather than serving what it could.
func newServer(t *testing.T, reg *prometheus.Registry) *httptest.Server {
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	t.Cleanup(srv.Close)
	return srv
}

// A real scrape over HTTP: types and values arrive as registered.
func TestScrapeOverHTTP(t *testing.T) {
	bus := newHeldBus(t, eventbus.DropNewest)
	reg := prometheus.NewRegistry()
	reg.MustRegister(New(bus.EventBus, Options{Namespace: "brummer"}))
	srv := newServer(t, reg)

	bus.hold(t)
	for range 3 { // two queued, one refused
		_ = bus.PublishWithBackpressure(eventbus.Event{Type: typeWork}, eventbus.PriorityHigh)
	}
	mfs := scrape(t, srv.Client(), srv.URL)
	for name, typ := range map[string]dto.MetricType{
		"brummer_events_published_total":     dto.MetricType_COUNTER,
		"brummer_events_dropped_total":       dto.MetricType_COUNTER,
		"brummer_queue_depth":                dto.MetricType_GAUGE,
		"brummer_event_wait_seconds":         dto.MetricType_HISTOGRAM,
		"brummer_subscription_matched_total": dto.MetricType_COUNTER,
	} {
		if mf, ok := mfs[name]; !ok || mf.GetType() != typ {
			t.Errorf("%s: present %v, type %v, want %v", name, ok, mf.GetType(), typ)
		}
	}
	list := make([]*dto.MetricFamily, 0, len(mfs))
	for _, mf := range mfs {
		list = append(list, mf)
	}
	expect(t, values(list), map[sample]float64{
		`brummer_queue_depth{priority="high"}`:                              2,
		`brummer_events_dropped_total{priority="high",reason="queue_full"}`: 1,
		`brummer_events_published_total{priority="high"}`:                   4,
		`brummer_event_wait_seconds_count{priority="high"}`:                 1, // the hold event
	})
}

// Scrapes while four publishers flood the bus: under -race this shows that
// collecting shares nothing unsafely with publishing. The publishers go on
// until the scrapes are done (at most maxPerPublisher events each), every
// scrape parses, no counter goes down from one scrape to the next, and
// once the flood is over the figures add up to what was published.
func TestScrapeDuringFlood(t *testing.T) {
	const publishers, maxPerPublisher, scrapes = 4, 200_000, 20
	bus, err := eventbus.NewEventBus(eventbus.Config{
		Workers: 2, QueueSize: 64, EnablePriority: true,
		BackpressureMode: eventbus.DropLowPri, MonitoringEnabled: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Shutdown()
	bus.On(typeWork, func(eventbus.Event) {}, eventbus.WithName("sink"))
	reg := prometheus.NewRegistry()
	reg.MustRegister(New(bus, Options{}))
	srv := newServer(t, reg)

	var wg sync.WaitGroup
	var sent atomic.Int64
	stop := make(chan struct{})
	for i := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range maxPerPublisher {
				select {
				case <-stop:
					return
				default:
				}
				p := eventbus.Priority(1 + (i+j)%3)
				_ = bus.PublishWithBackpressure(eventbus.Event{Type: typeWork}, p)
				sent.Add(1)
			}
		}()
	}
	counters := func(mfs map[string]*dto.MetricFamily) map[sample]float64 {
		var list []*dto.MetricFamily
		for _, mf := range mfs {
			if mf.GetType() == dto.MetricType_COUNTER {
				list = append(list, mf)
			}
		}
		return values(list)
	}
	prev := map[sample]float64{}
	for range scrapes {
		cur := counters(scrape(t, srv.Client(), srv.URL))
		for k, v := range prev {
			if cur[k] < v {
				t.Errorf("%s went down from %v to %v", k, v, cur[k])
			}
		}
		prev = cur
	}
	close(stop)
	wg.Wait()
	idle(t, bus)
	if n := prev[`eventbus_events_published_total{priority="high"}`]; n == 0 {
		t.Errorf("the last scrape during the flood saw no high event published")
	}

	got := gather(t, reg)
	var published, processed, dropped float64
	for _, p := range []string{"low", "medium", "high"} {
		published += got[fmt.Sprintf(`eventbus_events_published_total{priority=%q}`, p)]
		processed += got[fmt.Sprintf(`eventbus_events_processed_total{priority=%q}`, p)]
		for _, r := range []string{"queue_full", "shutdown", "context", "invalid_priority"} {
			dropped += got[fmt.Sprintf(`eventbus_events_dropped_total{priority=%q,reason=%q}`, p, r)]
		}
	}
	if published != float64(sent.Load()) || processed+dropped != published {
		t.Errorf("published %v processed %v dropped %v, want %d published, all processed or dropped",
			published, processed, dropped, sent.Load())
	}
	if m := got[`eventbus_subscription_matched_total{subscription="sink"}`]; m != processed {
		t.Errorf("sink matched %v, want the %v processed", m, processed)
	}
	if strings.Contains(fmt.Sprint(got), "NaN") {
		t.Errorf("a value is NaN: %v", got)
	}
}
