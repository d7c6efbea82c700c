package eventbus

import (
	"context"
	"errors"
	"flag"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	randomSeed = flag.Uint64("eventbus.seed", 0, "seed of TestRandomizedConcurrency (0: a new one each run)")
	randomLong = flag.Bool("eventbus.long", false, "run TestRandomizedConcurrency for many more rounds")
)

// TestRandomizedConcurrency interleaves every operation of the bus from
// many goroutines under random configurations, and checks that every event
// is accounted for exactly once, that nothing panics and nothing leaks. A
// failure prints the seed that reproduces it with -eventbus.seed.
func TestRandomizedConcurrency(t *testing.T) {
	seed := *randomSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("reproduce with: go test -run TestRandomizedConcurrency -eventbus.seed=%d", seed)
		}
	})
	rounds := 8
	if *randomLong {
		rounds = 400
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for r := 0; r < rounds; r++ {
		randomRound(t, rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())))
		if t.Failed() {
			return
		}
	}
}

func randomRound(t *testing.T, rng *rand.Rand) {
	var dropped atomic.Int64
	var dropErr atomic.Value
	cfg := Config{
		Workers:           1 + rng.IntN(5),
		QueueSize:         1 + rng.IntN(24),
		EnablePriority:    rng.IntN(2) == 0,
		BackpressureMode:  DropPolicy(rng.IntN(4)),
		MonitoringEnabled: rng.IntN(2) == 0,
		MetricsWindow:     time.Millisecond,
		TimeoutDuration:   time.Duration(rng.IntN(3)) * 100 * time.Microsecond,
		ShutdownTimeout:   time.Duration(1+rng.IntN(50)) * time.Millisecond,
		OnDrop: func(_ Event, reason error) {
			dropped.Add(1)
			if !errors.Is(reason, ErrQueueFull) && !errors.Is(reason, ErrEventBusShutdown) &&
				!errors.Is(reason, context.DeadlineExceeded) && !errors.Is(reason, ErrInvalidPriority) {
				dropErr.Store(reason)
			}
		},
		OnPanic: func(Event, any, []byte) {},
	}
	if rng.IntN(2) == 0 {
		cfg.OrderingKey = OrderByProcessID
	}
	if rng.IntN(2) == 0 {
		cfg.Retain = map[EventType]int{LogLine: 1 + rng.IntN(20), ProcessExited: 1 + rng.IntN(5)}
	}
	// In some rounds a watchdog replaces workers whose handler runs past a
	// timeout short enough that slow handlers cross it all the time.
	slow := time.Duration(0)
	if rng.IntN(3) == 0 {
		cfg.HandlerTimeout = time.Duration(1+rng.IntN(2)) * time.Millisecond
		cfg.ReplaceStuckWorkers = true
		cfg.MaxStuckWorkers = rng.IntN(4)
		slow = 3 * time.Millisecond
	}
	b, err := NewEventBus(cfg)
	require.NoError(t, err)

	types := []EventType{LogLine, BuildEvent, ProcessExited, "custom"}
	var mu sync.Mutex
	var all []*Subscription
	var hookDrops atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		seedA, seedB := rng.Uint64(), rng.Uint64()
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seedA, seedB))
			var subs []*Subscription
			for op := 0; op < 300; op++ {
				ev := Event{Type: types[rng.IntN(len(types))], ProcessID: string(rune('a' + rng.IntN(4)))}
				switch k := rng.IntN(20); {
				case k < 2:
					panics := rng.IntN(5) == 0
					sleep := time.Duration(rng.Int64N(int64(slow) + 1))
					h := func(Event) {
						time.Sleep(sleep) // around the watchdog's timeout, when it has one
						if panics {
							panic("random")
						}
					}
					opts := randomOptions(rng, &hookDrops)
					var s *Subscription
					if rng.IntN(4) == 0 {
						s = b.OnTypes([]EventType{ev.Type, types[rng.IntN(len(types))]}, h, opts...)
					} else {
						s = b.On(ev.Type, h, opts...)
					}
					subs = append(subs, s)
					mu.Lock()
					all = append(all, s)
					mu.Unlock()
				case k < 3 && len(subs) > 0:
					i := rng.IntN(len(subs))
					subs[i].Unsubscribe()
					subs = append(subs[:i], subs[i+1:]...)
				case k < 4:
					b.OnAll(func(Event) {}).Unsubscribe()
				case k < 12:
					b.Publish(ev)
				case k < 15:
					_ = b.PublishWithBackpressure(ev, Priority(rng.IntN(5)))
				case k < 18:
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(200))*time.Microsecond)
					_ = b.PublishContext(ctx, ev)
					cancel()
				case k < 19:
					ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
					_ = b.WaitIdle(ctx)
					cancel()
				default:
					switch rng.IntN(30) {
					case 0:
						b.Shutdown()
					case 1, 2:
						_ = b.Resize(1 + rng.IntN(5))
					}
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, b.ShutdownContext(context.Background()))
	m := b.Metrics()
	require.Equal(t, m.EventsPublished, m.EventsProcessed+m.EventsDropped, "%+v", m)
	require.Zero(t, m.EventsPending)
	require.Equal(t, m.EventsDropped, dropped.Load())
	require.Nil(t, dropErr.Load(), "unexpected drop reason")
	// Every subscription has ended with the bus, and its figures are final.
	var subDrops int64
	for _, s := range all {
		receive(t, s.Done())
		st := s.Stats()
		require.Zero(t, st.Pending, "%+v box=%v co=%v replay=%v closed=%v", st, s.box != nil, s.co != nil, s.replay, s.closed.Load())
		require.Equal(t, st.Matched, st.Delivered+st.Dropped+st.Coalesced, "%+v", st)
		require.Zero(t, st.Running)
		if s.onDrop != nil {
			subDrops += st.Dropped
		}
	}
	require.Equal(t, subDrops, hookDrops.Load(), "WithOnDrop sees every dropped delivery once")
	require.Empty(t, m.Subscriptions)
}

// randomOptions returns a random set of subscription options; a drop hook
// counts into drops.
func randomOptions(rng *rand.Rand, drops *atomic.Int64) []SubscribeOption {
	var opts []SubscribeOption
	if rng.IntN(2) == 0 {
		opts = append(opts, WithConcurrency(1+rng.IntN(2)))
		if rng.IntN(2) == 0 {
			opts = append(opts, WithBuffer(1+rng.IntN(4), DropPolicy(rng.IntN(4))))
		}
	}
	if rng.IntN(3) == 0 {
		opts = append(opts, WithFilter(func(ev Event) bool { return ev.ProcessID != "a" }))
	}
	if rng.IntN(2) == 0 {
		opts = append(opts, WithOnDrop(func(Event, error) { drops.Add(1) }))
	}
	switch rng.IntN(8) {
	case 0:
		if len(opts) == 0 || rng.IntN(2) == 0 {
			opts = []SubscribeOption{WithReplay(1 + rng.IntN(10))}
		}
	case 1:
		opts = append(opts[:0:0], WithCoalesce(time.Duration(rng.IntN(3))*time.Millisecond, OrderByProcessID))
	}
	return opts
}
