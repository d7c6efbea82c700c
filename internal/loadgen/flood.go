package loadgen

import (
	"context"
	"strconv"
	"time"

	"github.com/brummer-dev/eventbus"
)

// Flood is the traffic of a busy development server for Duration: log
// lines (low priority) at LogRate per second from FloodProcesses
// processes, and beside them a process.started or process.exited every
// FloodProcessEvery and an error.detected every FloodErrorEvery (high), and
// a build.event every FloodBuildEvery (medium). The log rate is the
// caller's, as it is meant to be a multiple of what the pool under test can
// take; the rest is fixed, so that a flood is the same scenario wherever it
// runs.
type Flood struct {
	Duration time.Duration
	LogRate  float64 // log lines per second, all processes together
}

// The flood's fixed traffic.
const (
	FloodProcesses    = 4                     // processes printing log lines, a publisher each
	FloodTick         = 2 * time.Millisecond  // log publishers wake this often and publish what is due
	FloodProcessEvery = 5 * time.Millisecond  // a process.started or process.exited, alternately
	FloodErrorEvery   = 50 * time.Millisecond // an error.detected
	FloodBuildEvery   = 25 * time.Millisecond // a build.event
)

// FloodHighPerSecond and FloodMediumPerSecond are the rates of the events
// mixed into the log lines.
const (
	FloodHighPerSecond   = int(time.Second/FloodProcessEvery + time.Second/FloodErrorEvery)
	FloodMediumPerSecond = int(time.Second / FloodBuildEvery)
)

// FloodTypes are the types a flood publishes, for a bus that needs a
// subscription per type.
var FloodTypes = []eventbus.EventType{
	eventbus.LogLine, eventbus.ProcessStarted, eventbus.ProcessExited, eventbus.ErrorDetected, eventbus.BuildEvent,
}

// Each source publishes until the flood's time is up or the context of Run
// is done. The Publish calls get Run's context, not the flood's timer, so
// that a publisher waiting for room at the end (under the Block policy)
// still publishes its event instead of dropping it for the timer.
func (f Flood) jobs() []job {
	var jobs []job
	for i := range FloodProcesses {
		jobs = append(jobs, f.logLines("proc-"+strconv.Itoa(i+1), f.LogRate/FloodProcesses))
	}
	return append(jobs,
		f.every(FloodProcessEvery, func(n int64) eventbus.Event {
			t := eventbus.ProcessStarted
			if n%2 == 1 {
				t = eventbus.ProcessExited
			}
			return eventbus.Event{Type: t, ProcessID: "job-" + strconv.FormatInt(n/2, 10)}
		}),
		f.every(FloodErrorEvery, func(int64) eventbus.Event {
			return eventbus.Event{Type: eventbus.ErrorDetected, ProcessID: "proc-1"}
		}),
		f.every(FloodBuildEvery, func(int64) eventbus.Event {
			return eventbus.Event{Type: eventbus.BuildEvent, ProcessID: "build"}
		}),
	)
}

// logLines is a process printing perSecond log lines. On each tick it
// publishes what is due by then rather than a fixed batch, so that late
// ticks, and time spent blocked in Publish, are made up for and the rate
// holds.
func (f Flood) logLines(process string, perSecond float64) job {
	return func(ctx context.Context, send func(eventbus.Event)) {
		var sent int64
		f.tick(ctx, FloodTick, func(fctx context.Context, since time.Duration) {
			due := int64(since.Seconds() * perSecond)
			for ; sent < due && fctx.Err() == nil; sent++ {
				send(eventbus.Event{Type: eventbus.LogLine, ProcessID: process})
			}
		})
	}
}

// every is a source that publishes one event per interval, the n-th being
// next(n).
func (f Flood) every(interval time.Duration, next func(n int64) eventbus.Event) job {
	return func(ctx context.Context, send func(eventbus.Event)) {
		var n int64
		f.tick(ctx, interval, func(context.Context, time.Duration) {
			send(next(n))
			n++
		})
	}
}

// tick calls fn every interval until the flood's time is up or ctx is
// done, with a context that ends with the flood and the time since the
// source started, never more than Duration.
func (f Flood) tick(ctx context.Context, interval time.Duration, fn func(fctx context.Context, since time.Duration)) {
	fctx, cancel := context.WithTimeout(ctx, f.Duration)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	start := time.Now()
	for {
		select {
		case <-fctx.Done():
			return
		case now := <-t.C:
			// A tick that fired after the flood's time, but was read
			// before its context noticed, is past the end: the counts
			// stay within Duration's worth.
			since := now.Sub(start)
			if since > f.Duration {
				return
			}
			fn(fctx, since)
		}
	}
}
