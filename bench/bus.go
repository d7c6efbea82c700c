// Package bench compares github.com/brummer-dev/eventbus with its peers:
// a goroutine per event, a model of Brummer's current bus,
// github.com/asaskevich/EventBus, github.com/panjf2000/ants/v2,
// github.com/alitto/pond/v2 and a plain channel-fed worker pool. Every
// implementation sits behind the small Bus interface, and the scenarios in
// scenarios.go drive them all the same way. The program in cmd/compare and
// the benchmarks in compare_test.go run the scenarios.
//
// This is a module of its own so that the library never depends on its
// peers.
package bench

import (
	"context"
	"fmt"
	"runtime"
	"slices"

	"github.com/brummer-dev/eventbus"
)

// Handler handles one event.
type Handler func(eventbus.Event)

// Bus is what every implementation offers the scenarios.
//
// The harness calls Subscribe before the first Publish, Publish from any
// number of goroutines, and Close only after every Publish call has
// returned. It counts a delivery when a handler runs and a drop when the
// implementation reports one through Options.OnDrop, and checks after
// every run that each published event was counted exactly once.
type Bus interface {
	// Subscribe registers h for events of type t.
	Subscribe(t eventbus.EventType, h Handler)
	// Publish hands ev to the bus. It may block (ants, chan-pool, and the
	// library under the Block policy do when full).
	Publish(ev eventbus.Event)
	// Close stops intake and waits, until ctx is done at the latest, for
	// the bus to run or discard what it still holds. It returns ctx.Err()
	// when the bus had not stopped by then; the bus may go on running
	// handlers afterwards. Close may be called again, with a later
	// deadline, to wait longer.
	Close(ctx context.Context) error
}

// Verifier is implemented by buses that keep their own counts. The harness
// calls Verify after the bus has stopped, with its own counts, and fails
// the run when they disagree. handled counts every handler invocation,
// also those the harness turned into no-ops at a deadline.
type Verifier interface {
	Verify(published, handled, dropped int64) error
}

// Reporter is implemented by buses that measure something themselves
// (the library's Metrics). The figures are added to the run's result.
type Reporter interface {
	Report() map[string]float64
}

// Options configures an implementation for one run.
type Options struct {
	// Workers is the worker count of the pooled peers (ants, pond,
	// chan-pool). The scenarios use the library's default:
	// eventbus.CalculateOptimalWorkers().
	Workers int
	// QueueSize is the channel capacity of chan-pool. The scenarios use
	// the library's default: eventbus.DefaultConfig().QueueSize.
	QueueSize int
	// Lossless makes the library use the Block policy instead of
	// DefaultConfig's DropLowPri, for the scenarios that measure how fast
	// every event gets through. The peers ignore it: they are all lossless.
	Lossless bool
	// OnDrop must be called exactly once for each event the bus discards
	// without running its handler.
	OnDrop func(eventbus.Event)
}

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = eventbus.CalculateOptimalWorkers()
	}
	if o.QueueSize <= 0 {
		o.QueueSize = eventbus.DefaultConfig().QueueSize
	}
	if o.OnDrop == nil {
		o.OnDrop = func(eventbus.Event) {}
	}
	return o
}

// Impl is one implementation under comparison.
type Impl struct {
	Name string
	// Doc says in one line what it is and how it is configured.
	Doc string
	// Unbounded is true for the implementations that start a goroutine per
	// event (naive, asaskevich, and brummer-today once its channel is
	// full), so that the burst scenario can give them a smaller burst.
	Unbounded bool
	// Pooled is true for the worker pools that know nothing of priorities
	// (ants, pond, chan-pool, brummer-today): the "FIFO peers" of the
	// flood target.
	Pooled bool
	New    func(Options) (Bus, error)
}

// Impls lists every implementation, in the order the tables show them.
var Impls = []Impl{
	{
		Name: "eventbus",
		Doc:  "this library, DefaultConfig() (DropLowPri, priorities, monitoring on); Block where a scenario needs every event",
		New:  func(o Options) (Bus, error) { return newLibrary(o, true) },
	},
	{
		Name: "eventbus-nomon",
		Doc:  "this library as above with MonitoringEnabled=false",
		New:  func(o Options) (Bus, error) { return newLibrary(o, false) },
	},
	{
		Name:      "naive",
		Doc:       "go handler(ev) for every event and handler",
		Unbounded: true,
		New:       newNaive,
	},
	{
		Name:      "brummer-today",
		Doc:       "model of Brummer's bus: 2.5×GOMAXPROCS workers (4..32) on a channel of 1000, a goroutine per event when it is full",
		Unbounded: true,
		Pooled:    true,
		New:       newBrummerToday,
	},
	{
		Name:      "asaskevich",
		Doc:       "github.com/asaskevich/EventBus, SubscribeAsync(topic, fn, false), WaitAsync on close",
		Unbounded: true,
		New:       newAsaskevich,
	},
	{
		Name:   "ants",
		Doc:    "github.com/panjf2000/ants/v2 pool of Workers, one Submit per event and handler, default blocking Submit",
		Pooled: true,
		New:    newAnts,
	},
	{
		Name:   "pond",
		Doc:    "github.com/alitto/pond/v2 pool of Workers, one Go per event and handler, default unbounded queue",
		Pooled: true,
		New:    newPond,
	},
	{
		Name:   "chan-pool",
		Doc:    "Workers goroutines on one channel of QueueSize, blocking send: the floor",
		Pooled: true,
		New:    newChanPool,
	},
}

// ImplNames returns the names of Impls.
func ImplNames() []string {
	names := make([]string, len(Impls))
	for i, im := range Impls {
		names[i] = im.Name
	}
	return names
}

// LookupImpl returns the implementation with the given name.
func LookupImpl(name string) (Impl, error) {
	for _, im := range Impls {
		if im.Name == name {
			return im, nil
		}
	}
	return Impl{}, fmt.Errorf("unknown implementation %q (have %v)", name, ImplNames())
}

// routes is the subscriber table of the peers that have none of their own:
// filled by Subscribe before the first Publish and only read afterwards.
type routes map[eventbus.EventType][]Handler

func (r routes) add(t eventbus.EventType, h Handler) {
	r[t] = append(slices.Clip(r[t]), h)
}

// brummerWorkers is the worker count of Brummer's current bus: 2.5 per CPU,
// bounded to 4..32.
func brummerWorkers() int {
	return min(max(runtime.GOMAXPROCS(0)*5/2, 4), 32)
}
