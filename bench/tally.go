package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/brummer-dev/eventbus/internal/loadgen"
)

// counter is an atomic counter on a cache line of its own.
type counter struct {
	atomic.Int64
	_ [56]byte
}

// Tally counts what became of the events of one run, per priority level
// (loadgen.Level, by the type's DefaultPriority): delivered
// (a handler ran its work), dropped (the bus said so through
// Options.OnDrop), or abandoned (the harness gave up on the run at a
// deadline, after which handlers return at once and count here). Every
// published event must end up in exactly one of the three.
type Tally struct {
	delivered [loadgen.Levels]counter
	dropped   [loadgen.Levels]counter
	abandoned [loadgen.Levels]counter
	abort     atomic.Bool
}

// OnDrop is the Options.OnDrop of a run.
func (t *Tally) OnDrop(ev eventbus.Event) { t.dropped[loadgen.Level(ev.Type)].Add(1) }

// Wrap returns the handler to subscribe: it runs work (when not nil) and
// counts a delivery, or, once the run is abandoned, only counts that.
func (t *Tally) Wrap(work func(eventbus.Event)) Handler {
	return func(ev eventbus.Event) {
		l := loadgen.Level(ev.Type)
		if t.abort.Load() {
			t.abandoned[l].Add(1)
			return
		}
		if work != nil {
			work(ev)
		}
		t.delivered[l].Add(1)
	}
}

// Abandon makes every handler invocation from now on return at once,
// counted as abandoned.
func (t *Tally) Abandon() { t.abort.Store(true) }

func sumLevels(c *[loadgen.Levels]counter) int64 {
	var n int64
	for i := range c {
		n += c[i].Load()
	}
	return n
}

// Delivered, Dropped and Abandoned return the counts over every level.
func (t *Tally) Delivered() int64 { return sumLevels(&t.delivered) }
func (t *Tally) Dropped() int64   { return sumLevels(&t.dropped) }
func (t *Tally) Abandoned() int64 { return sumLevels(&t.abandoned) }

// Handled counts every handler invocation, delivered or abandoned.
func (t *Tally) Handled() int64 { return t.Delivered() + t.Abandoned() }

// accounted returns delivered + dropped + abandoned.
func (t *Tally) accounted() int64 { return t.Delivered() + t.Dropped() + t.Abandoned() }

// ErrAccounting is wrapped by every error about events lost or counted
// twice.
var ErrAccounting = errors.New("accounting")

// Check returns an error unless every one of published events was
// counted exactly once, on each level when perLevel is given.
func (t *Tally) Check(published int64, perLevel *[loadgen.Levels]int64) error {
	if got := t.accounted(); got != published {
		return fmt.Errorf("%w: published %d != delivered %d + dropped %d + abandoned %d (= %d)",
			ErrAccounting, published, t.Delivered(), t.Dropped(), t.Abandoned(), got)
	}
	if perLevel != nil {
		for l := range perLevel {
			got := t.delivered[l].Load() + t.dropped[l].Load() + t.abandoned[l].Load()
			if got != perLevel[l] {
				return fmt.Errorf("%w: %s priority: published %d != delivered %d + dropped %d + abandoned %d",
					ErrAccounting, eventbus.Priority(l+1), perLevel[l], t.delivered[l].Load(), t.dropped[l].Load(), t.abandoned[l].Load())
			}
		}
	}
	return nil
}

// settlePoll is how often settle looks at the counts.
const settlePoll = 250 * time.Microsecond

// settle waits until every published event is accounted for, or timeout
// passes (an error wrapping ErrAccounting that says what is missing). More
// events accounted for than published is an error at once.
func (t *Tally) settle(published int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got := t.accounted()
		if got == published {
			return nil
		}
		if got > published {
			return t.Check(published, nil)
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("after waiting %v: %w", timeout, t.Check(published, nil))
		}
		time.Sleep(settlePoll)
	}
}

// waitUntil polls cond until it holds or ctx is done.
func waitUntil(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(settlePoll):
		}
	}
	return nil
}
