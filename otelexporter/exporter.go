// Package otelexporter reports the figures of an eventbus bus through
// OpenTelemetry: asynchronous instruments on a meter of the program's own
// metric.MeterProvider, observed by one callback that takes one snapshot
// of the bus (EventBus.Metrics) per collection.
//
//	bus, _ := eventbus.NewEventBus(eventbus.DefaultConfig())
//	reg, err := otelexporter.Register(bus, otel.GetMeterProvider(), otelexporter.Options{})
//	if err != nil { ... }
//	defer reg.Unregister()
//
// Only the OpenTelemetry API is used; which SDK, reader and exporter turn
// the observations into data points is the program's choice. The README
// lists every instrument with its kind, unit and attributes, and explains
// how the wait histogram is reported.
package otelexporter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/brummer-dev/eventbus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ScopeName is the instrumentation scope of the meter Register creates:
// the import path of this package.
const ScopeName = "github.com/brummer-dev/eventbus/otelexporter"

// UnnamedSubscription is the value of eventbus.subscription.name for the
// subscriptions that have no name (eventbus.WithName): they are summed
// into one series rather than given one each, so the number of series
// stays bounded by the names a program uses. A subscription that is really
// named "(unnamed)" is summed with them.
const UnnamedSubscription = "(unnamed)"

// The attribute keys the instruments use.
const (
	// AttrPriority is the priority level: "low", "medium" or "high".
	AttrPriority = attribute.Key("eventbus.priority")
	// AttrDropReason is why the bus dropped events: "queue_full",
	// "shutdown", "context" or "invalid_priority".
	AttrDropReason = attribute.Key("eventbus.drop.reason")
	// AttrResizeDirection is "up" or "down".
	AttrResizeDirection = attribute.Key("eventbus.pool.resize.direction")
	// AttrWaitBucket is the upper bound, in seconds, of the wait bucket a
	// count belongs to ("+Inf" for the last); see the README.
	AttrWaitBucket = attribute.Key("eventbus.wait.bucket")
	// AttrSubscriptionName is the subscription's name, or
	// UnnamedSubscription.
	AttrSubscriptionName = attribute.Key("eventbus.subscription.name")
	// AttrSubscriptionOutcome is how deliveries finished: "delivered",
	// "dropped" or "coalesced".
	AttrSubscriptionOutcome = attribute.Key("eventbus.subscription.outcome")
)

var ownKeys = []attribute.Key{AttrPriority, AttrDropReason, AttrResizeDirection, AttrWaitBucket, AttrSubscriptionName, AttrSubscriptionOutcome}

// ErrInvalidOptions is wrapped by the error Register returns for invalid
// Options.
var ErrInvalidOptions = errors.New("otelexporter: invalid options")

// Options configures Register. The zero value is valid.
type Options struct {
	// Attributes are added to every observation, to tell apart several
	// buses reported through one provider (register each bus with
	// distinct values), e.g. attribute.String("eventbus.name", "web").
	// A key must not be empty, must not appear twice, and must not be one
	// of the Attr keys of this package, or Register returns an error
	// wrapping ErrInvalidOptions.
	Attributes []attribute.KeyValue
}

// Register creates the instruments on a meter of mp (scope ScopeName) and
// registers one callback that, on every collection, takes one snapshot of
// bus and observes all of them from it. Unregister the returned
// Registration to stop reporting; the bus itself is not affected, and
// reporting goes on after the bus has shut down (the counts then stay as
// they were) until then. The timing instruments (wait, utilization,
// average processing time) are observed only when the bus has
// Config.MonitoringEnabled, utilization only while the bus has workers.
//
// Register panics when bus or mp is nil, mistakes in the program. It
// returns an error wrapping ErrInvalidOptions for invalid Options, and the
// meter's error if it refuses an instrument or the callback; nothing stays
// registered then.
func Register(bus *eventbus.EventBus, mp metric.MeterProvider, opts Options) (metric.Registration, error) {
	if bus == nil {
		panic("otelexporter: Register needs a bus, got a nil *eventbus.EventBus")
	}
	if mp == nil {
		panic("otelexporter: Register needs a metric.MeterProvider, got nil")
	}
	e, err := newExporter(bus, mp.Meter(ScopeName), opts)
	if err != nil {
		return nil, err
	}
	return e.register(func(ctx context.Context, o metric.Observer) error {
		e.observe(o, e.bus.Metrics())
		return nil
	})
}

// exporter holds the instruments of one registration and the attribute
// sets they are observed with, built once.
type exporter struct {
	bus   *eventbus.EventBus
	meter metric.Meter
	ins   instruments
	base  []attribute.KeyValue // Options.Attributes

	none       metric.ObserveOption
	prio       [3]metric.ObserveOption    // low, medium, high
	drops      [4][3]metric.ObserveOption // reason, priority
	resizes    [2]metric.ObserveOption    // up, down
	buckets    [3][]metric.ObserveOption  // priority, bucket
	bucketKeys []string

	// mu guards subs, the attribute sets of each subscription name and the
	// highest delivered count observed for it (see observeSubscriptions).
	mu   sync.Mutex
	subs map[string]*subState
}

type subState struct {
	delivered int64
	name      metric.ObserveOption
	outcome   [3]metric.ObserveOption // delivered, dropped, coalesced
}

var (
	priorityNames = [3]string{"low", "medium", "high"}
	reasonNames   = [4]string{"queue_full", "shutdown", "context", "invalid_priority"}
	outcomeNames  = [3]string{"delivered", "dropped", "coalesced"}
)

func newExporter(bus *eventbus.EventBus, m metric.Meter, opts Options) (*exporter, error) {
	seen := make(map[attribute.Key]bool, len(opts.Attributes))
	for _, kv := range opts.Attributes {
		switch {
		case kv.Key == "":
			return nil, fmt.Errorf("%w: Attributes has an empty key", ErrInvalidOptions)
		case seen[kv.Key]:
			return nil, fmt.Errorf("%w: Attributes has the key %q twice", ErrInvalidOptions, kv.Key)
		case isOwnKey(kv.Key):
			return nil, fmt.Errorf("%w: Attributes may not set %q, a key the instruments use themselves", ErrInvalidOptions, kv.Key)
		}
		seen[kv.Key] = true
	}
	e := &exporter{
		bus:   bus,
		meter: m,
		base:  append([]attribute.KeyValue(nil), opts.Attributes...),
		subs:  make(map[string]*subState),
	}
	if err := e.ins.create(m); err != nil {
		return nil, err
	}
	e.none = e.with()
	for p, pn := range priorityNames {
		e.prio[p] = e.with(AttrPriority.String(pn))
		for r, rn := range reasonNames {
			e.drops[r][p] = e.with(AttrDropReason.String(rn), AttrPriority.String(pn))
		}
	}
	e.resizes = [2]metric.ObserveOption{e.with(AttrResizeDirection.String("up")), e.with(AttrResizeDirection.String("down"))}
	bounds := eventbus.WaitBucketBounds()
	e.bucketKeys = make([]string, len(bounds)+1)
	for i, b := range bounds {
		e.bucketKeys[i] = strconv.FormatFloat(b.Seconds(), 'g', -1, 64)
	}
	e.bucketKeys[len(bounds)] = "+Inf"
	for p, pn := range priorityNames {
		e.buckets[p] = make([]metric.ObserveOption, len(e.bucketKeys))
		for i, k := range e.bucketKeys {
			e.buckets[p][i] = e.with(AttrPriority.String(pn), AttrWaitBucket.String(k))
		}
	}
	return e, nil
}

func isOwnKey(k attribute.Key) bool {
	for _, o := range ownKeys {
		if k == o {
			return true
		}
	}
	return false
}

// with returns the option that observes with kvs and Options.Attributes.
func (e *exporter) with(kvs ...attribute.KeyValue) metric.ObserveOption {
	all := make([]attribute.KeyValue, 0, len(e.base)+len(kvs))
	all = append(all, e.base...)
	all = append(all, kvs...)
	return metric.WithAttributeSet(attribute.NewSet(all...))
}

// register registers cb for every instrument.
func (e *exporter) register(cb metric.Callback) (metric.Registration, error) {
	return e.meter.RegisterCallback(cb, e.ins.observables()...)
}

// observe reports the snapshot m.
func (e *exporter) observe(o metric.Observer, m eventbus.MetricsSnapshot) {
	in := &e.ins
	levels := func(c eventbus.PriorityCounts) [3]int64 { return [3]int64{c.Low, c.Medium, c.High} }

	published, processed, depth := levels(m.EventsPublishedByPriority), levels(m.EventsProcessedByPriority), levels(m.QueueDepth)
	reasons := [4][3]int64{
		levels(m.Drops.ByReason.QueueFull), levels(m.Drops.ByReason.Shutdown),
		levels(m.Drops.ByReason.Context), levels(m.Drops.ByReason.InvalidPriority),
	}
	for p := range 3 {
		o.ObserveInt64(in.published, published[p], e.prio[p])
		o.ObserveInt64(in.processed, processed[p], e.prio[p])
		o.ObserveInt64(in.depth, depth[p], e.prio[p])
		for r := range reasons {
			o.ObserveInt64(in.dropped, reasons[r][p], e.drops[r][p])
		}
	}
	o.ObserveInt64(in.unreported, m.Drops.Unreported, e.none)
	o.ObserveInt64(in.panics, m.HandlerPanics, e.none)
	o.ObserveInt64(in.slow, m.SlowHandlers, e.none)
	o.ObserveInt64(in.replaced, m.WorkersReplaced, e.none)
	o.ObserveInt64(in.resizes, m.ScaleUps, e.resizes[0])
	o.ObserveInt64(in.resizes, m.ScaleDowns, e.resizes[1])

	o.ObserveInt64(in.pending, m.EventsPending, e.none)
	o.ObserveInt64(in.limit, int64(m.QueueCapacity), e.none)
	o.ObserveInt64(in.waiting, int64(m.PublishersWaiting), e.none)
	o.ObserveInt64(in.workers, int64(m.Workers), e.none)
	o.ObserveInt64(in.stuck, int64(m.StuckWorkers), e.none)

	if m.MonitoringEnabled {
		if n := len(m.WorkerUtilization); n > 0 {
			var sum, top float64
			for _, u := range m.WorkerUtilization {
				sum += u
				top = max(top, u)
			}
			o.ObserveFloat64(in.utilMean, sum/float64(n), e.none)
			o.ObserveFloat64(in.utilMax, top, e.none)
		}
		o.ObserveFloat64(in.avgProc, m.AvgProcessingTime.Seconds(), e.none)
		for p, st := range [3]eventbus.WaitStats{m.Wait.Low, m.Wait.Medium, m.Wait.High} {
			o.ObserveFloat64(in.waitTime, st.Sum.Seconds(), e.prio[p])
			for i := range e.bucketKeys {
				var n int64
				if i < len(st.Buckets) {
					n = st.Buckets[i]
				}
				o.ObserveInt64(in.waitEvents, n, e.buckets[p][i])
			}
		}
	}

	e.observeSubscriptions(o, m)
}

// observeSubscriptions reports the per-name subscription figures.
//
// SubscriptionTotals never lowers a count as subscriptions end, but one
// count can go down on its own: a channel subscription under DropOldest
// that replaces an unread event moves it from Delivered to Dropped. An
// observable counter must not go down (a delta reader would report a
// negative increase), so the delivered count holds its highest value
// until the count passes it again; Dropped has already gone up, so for
// that moment the outcomes add up to one more than happened.
func (e *exporter) observeSubscriptions(o metric.Observer, m eventbus.MetricsSnapshot) {
	totals := mergeUnnamed(m.SubscriptionTotals())
	in := &e.ins
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, st := range totals {
		s := e.subs[st.Name]
		if s == nil {
			name := AttrSubscriptionName.String(st.Name)
			s = &subState{name: e.with(name)}
			for i, on := range outcomeNames {
				s.outcome[i] = e.with(name, AttrSubscriptionOutcome.String(on))
			}
			e.subs[st.Name] = s
		}
		s.delivered = max(s.delivered, st.Delivered)
		o.ObserveInt64(in.subMatched, st.Matched, s.name)
		o.ObserveInt64(in.subSettled, s.delivered, s.outcome[0])
		o.ObserveInt64(in.subSettled, st.Dropped, s.outcome[1])
		o.ObserveInt64(in.subSettled, st.Coalesced, s.outcome[2])
		o.ObserveInt64(in.subMissed, st.Missed, s.name)
		o.ObserveInt64(in.subPending, st.Pending, s.name)
		o.ObserveInt64(in.subRunning, int64(st.Running), s.name)
	}
}

// mergeUnnamed renames the totals of unnamed subscriptions ("") to
// UnnamedSubscription, summing them with a subscription that really has
// that name, so that no two entries share an attribute set.
func mergeUnnamed(totals []eventbus.SubscriptionStats) []eventbus.SubscriptionStats {
	out := totals[:0:0]
	at := -1 // index in out of the UnnamedSubscription entry
	for _, st := range totals {
		if st.Name == "" {
			st.Name = UnnamedSubscription
		}
		if st.Name != UnnamedSubscription {
			out = append(out, st)
			continue
		}
		if at < 0 {
			at = len(out)
			out = append(out, st)
			continue
		}
		sum := &out[at]
		sum.Matched += st.Matched
		sum.Delivered += st.Delivered
		sum.Dropped += st.Dropped
		sum.Coalesced += st.Coalesced
		sum.Pending += st.Pending
		sum.Running += st.Running
		sum.Missed += st.Missed
	}
	return out
}
