package eventbus

import (
	"expvar"
	"strconv"
	"strings"
	"time"
)

// String formats the snapshot as one line for a log, for example:
//
//	published=1200 processed=1150 dropped=50 (full=50) pending=0 panics=0 queue(low/med/high)=0/0/0 of 50 wait.high.p99=1.02ms avg=210µs util=0.97
//
// The timing figures appear only with monitoring on.
func (m MetricsSnapshot) String() string {
	var s strings.Builder
	field := func(name string, v int64) {
		if s.Len() > 0 {
			s.WriteByte(' ')
		}
		s.WriteString(name)
		s.WriteByte('=')
		s.WriteString(strconv.FormatInt(v, 10))
	}
	field("published", m.EventsPublished)
	field("processed", m.EventsProcessed)
	field("dropped", m.EventsDropped)
	if m.EventsDropped > 0 {
		var why []string
		for _, r := range []struct {
			name string
			n    int64
		}{{"full", m.Drops.QueueFull}, {"shutdown", m.Drops.Shutdown}, {"context", m.Drops.Context}, {"invalid", m.Drops.InvalidPriority}} {
			if r.n > 0 {
				why = append(why, r.name+"="+strconv.FormatInt(r.n, 10))
			}
		}
		s.WriteString(" (" + strings.Join(why, " ") + ")")
	}
	field("pending", m.EventsPending)
	field("panics", m.HandlerPanics)
	if m.SlowHandlers > 0 {
		field("slow", m.SlowHandlers)
		field("stuck", int64(m.StuckWorkers))
	}
	if m.PublishersWaiting > 0 {
		field("waiting", int64(m.PublishersWaiting))
	}
	s.WriteString(" queue(low/med/high)=" + strconv.FormatInt(m.QueueDepth.Low, 10) + "/" +
		strconv.FormatInt(m.QueueDepth.Medium, 10) + "/" + strconv.FormatInt(m.QueueDepth.High, 10) +
		" of " + strconv.Itoa(m.QueueCapacity))
	if !m.MonitoringEnabled {
		s.WriteString(" monitoring=off")
		return s.String()
	}
	for _, w := range []struct {
		name string
		st   WaitStats
	}{{"high", m.Wait.High}, {"medium", m.Wait.Medium}, {"low", m.Wait.Low}} {
		if w.st.Count > 0 {
			s.WriteString(" wait." + w.name + ".p99=" + roundDuration(w.st.P99).String())
		}
	}
	s.WriteString(" avg=" + roundDuration(m.AvgProcessingTime).String())
	var util float64
	for _, u := range m.WorkerUtilization {
		util += u
	}
	if n := len(m.WorkerUtilization); n > 0 {
		s.WriteString(" util=" + strconv.FormatFloat(util/float64(n), 'f', 2, 64))
	}
	return s.String()
}

// roundDuration keeps three significant digits, enough for a log line.
func roundDuration(d time.Duration) time.Duration {
	for unit := time.Duration(1); unit < time.Hour; unit *= 10 {
		if d < 1000*unit {
			return d.Round(unit)
		}
	}
	return d.Round(time.Second)
}

// Expvar returns an expvar.Var whose String is the JSON of a fresh
// snapshot of the bus's metrics. Put it in an expvar.Map of your own to
// control the name and to replace it when a bus is replaced; PublishExpvar
// does the common case.
func (b *EventBus) Expvar() expvar.Var {
	return expvar.Func(func() any { return b.Metrics() })
}

// PublishExpvar makes the bus's metrics visible through the standard
// library's expvar package under name, so that a program serving
// /debug/vars shows them as JSON (the fields of MetricsSnapshot). Each read
// takes a fresh snapshot. expvar has no way to remove a variable: the name
// keeps the bus reachable and shows its final figures after Shutdown, and
// it cannot be published again. A name that is already published gives
// ErrExpvarNameTaken instead of expvar's panic. A program that creates
// buses repeatedly (tests, reloads) should put Expvar into an expvar.Map
// of its own instead.
func (b *EventBus) PublishExpvar(name string) (err error) {
	if expvar.Get(name) != nil {
		return ErrExpvarNameTaken
	}
	defer func() {
		// Another goroutine may have taken the name since the check.
		if recover() != nil {
			err = ErrExpvarNameTaken
		}
	}()
	expvar.Publish(name, b.Expvar())
	return nil
}
