package eventbus

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A handler that returns just as the watchdog replaces its worker must not
// leave the pool without a worker: the replacement is counted in before
// the stuck worker may leave, so every later event is still handled, and
// Shutdown finds nothing stranded.
func TestReplacementNeverLeavesThePoolEmpty(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		shrink bool
	}{
		{"one worker", Config{Workers: 1}, false},
		{"after Resize(1)", Config{Workers: 4}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.HandlerTimeout = time.Millisecond
			cfg.ReplaceStuckWorkers = true
			b := newBus(t, cfg)
			if tc.shrink {
				require.NoError(t, b.Resize(1))
			}
			done := make(chan struct{}, 1)
			b.Subscribe("work", func(Event) {
				// Around the timeout, so that many calls end just as the
				// watchdog looks at them.
				time.Sleep(time.Millisecond + time.Duration(rand.IntN(2000))*time.Microsecond)
				done <- struct{}{}
			})
			rounds := 600
			if testing.Short() {
				rounds = 200
			}
			for i := 0; i < rounds; i++ {
				b.Publish(Event{Type: "work"})
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					m := b.Metrics()
					t.Fatalf("round %d: the event was never handled (%d workers replaced, pool of %d)", i, m.WorkersReplaced, m.Workers)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			require.NoError(t, b.ShutdownContext(ctx))
			requireAccounted(t, b)
		})
	}
}
