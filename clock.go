package eventbus

import (
	"sync/atomic"
	"time"
)

// The publish timestamp is read from the monotonic clock and placed
// against a wall-clock reading taken at most anchorAge earlier. time.Now
// reads both clocks; time.Since reads only the monotonic one, which costs
// about half as much and is on every publish that leaves Event.Timestamp
// empty. Between anchors the wall clock can only drift from the monotonic
// one by what NTP slews in that time (at most 50 µs in 100 ms); a step of
// the wall clock shows within anchorAge.
const anchorAge = 100 * time.Millisecond

var anchor atomic.Pointer[time.Time]

func init() {
	t := time.Now()
	anchor.Store(&t)
}

// publishTime returns the current time, with its monotonic reading, for
// Event.Timestamp.
func publishTime() time.Time {
	a := anchor.Load()
	d := time.Since(*a) // monotonic only: a has a monotonic reading
	if d < 0 || d >= anchorAge {
		t := time.Now()
		anchor.Store(&t)
		return t
	}
	return a.Add(d)
}

// monotime returns the time since the package was loaded in nanoseconds,
// from the monotonic clock. time.Since reads only the monotonic clock,
// about half the cost of time.Now, which reads the wall clock too.
func monotime() int64 { return int64(time.Since(clockBase)) }

var clockBase = time.Now()

func monotimeOf(t time.Time) int64 { return int64(t.Sub(clockBase)) }
