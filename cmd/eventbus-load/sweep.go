package main

import (
	"fmt"
	"time"
)

// bestShare is the share of the best throughput a recommended worker count
// must reach.
const bestShare = 0.95

// sweepResult is one scenario run at several worker counts.
type sweepResult struct {
	Scenario string        `json:"scenario"`
	Workers  []int         `json:"workers"` // the counts planned, ascending
	Points   []*result     `json:"points"`  // the runs made, ascending by workers
	Budget   time.Duration `json:"p99_budget_ns"`
	Queue    string        `json:"queue"` // "10 per worker" or the fixed size

	DefaultWorkers    int    `json:"default_workers"`              // CalculateOptimalWorkers()
	EnvWorkers        int    `json:"environment_workers"`          // GetEnvironmentSpecificConfig().Workers
	EnvProfile        string `json:"environment_profile"`          // its SizingDecision.Profile
	ConfiguredWorkers int    `json:"configured_workers,omitempty"` // -workers, when given

	BestEventsPerSec float64        `json:"best_events_per_sec"`
	BestWorkers      int            `json:"best_workers"`
	Rec              recommendation `json:"recommendation"`
	Interrupted      bool           `json:"interrupted"`
}

// recommendation is the worker count the sweep suggests.
type recommendation struct {
	Workers      int           `json:"workers"` // 0 when no point was measured
	WithinBudget bool          `json:"within_budget"`
	HighP99      time.Duration `json:"high_p99_ns"`
	EventsPerSec float64       `json:"events_per_sec"`
	Reason       string        `json:"reason"`
}

// point returns the measured point at workers, or nil.
func (s *sweepResult) point(workers int) *result {
	for _, p := range s.Points {
		if p.Workers == workers {
			return p
		}
	}
	return nil
}

// highP99 returns the high-priority p99 wait of a point and whether it had
// high-priority events.
func highP99(r *result) (time.Duration, bool) {
	w := r.Levels[levelHigh].Wait
	return w.P99, w.Count > 0
}

// usable reports whether a point counts for the recommendation: it ran to
// the end and its counts add up.
func usable(r *result) bool { return !r.Interrupted && r.ok() }

// recommend fills in the best throughput and the recommendation: the
// smallest worker count whose throughput reaches bestShare of the best and
// whose high-priority p99 wait is within the budget. When none keeps the
// budget, it is the count with the lowest high-priority p99 among those
// reaching bestShare, marked as over budget.
func (s *sweepResult) recommend() {
	s.recommendPoints()
	if s.Interrupted {
		s.Rec.Reason += fmt.Sprintf(" (the sweep was interrupted: %d of %d counts measured)", len(s.Points), len(s.Workers))
	}
}

func (s *sweepResult) recommendPoints() {
	var pts []*result
	for _, p := range s.Points {
		if usable(p) {
			pts = append(pts, p)
		}
	}
	s.BestEventsPerSec, s.BestWorkers = 0, 0
	for _, p := range pts {
		if p.EventsPerSec > s.BestEventsPerSec {
			s.BestEventsPerSec, s.BestWorkers = p.EventsPerSec, p.Workers
		}
	}
	if len(pts) == 0 {
		s.Rec = recommendation{Reason: "no sweep point ran to the end"}
		return
	}
	floor := bestShare * s.BestEventsPerSec
	var fastest *result // lowest high p99 among the fast enough
	for _, p := range pts {
		if p.EventsPerSec < floor {
			continue
		}
		p99, has := highP99(p)
		if !has || p99 <= s.Budget {
			s.Rec = recommendation{Workers: p.Workers, WithinBudget: true, HighP99: p99, EventsPerSec: p.EventsPerSec,
				Reason: fmt.Sprintf("the smallest count reaching %.0f%% of the best throughput (%s events/s at %d workers) with the high-priority p99 wait (%s) within the %s budget",
					100*bestShare, fmtCount(int64(s.BestEventsPerSec)), s.BestWorkers, fmtDur(p99), fmtDur(s.Budget))}
			return
		}
		if fastest == nil {
			fastest = p
		} else if f, _ := highP99(fastest); p99 < f {
			fastest = p
		}
	}
	p99, _ := highP99(fastest)
	s.Rec = recommendation{Workers: fastest.Workers, HighP99: p99, EventsPerSec: fastest.EventsPerSec,
		Reason: fmt.Sprintf("no count reaching %.0f%% of the best throughput (%s events/s at %d workers) kept the high-priority p99 wait within %s; %d workers came closest (%s)",
			100*bestShare, fmtCount(int64(s.BestEventsPerSec)), s.BestWorkers, fmtDur(s.Budget), fastest.Workers, fmtDur(p99))}
}

// share returns the point's throughput as a share of the best, 0..1.
func (s *sweepResult) share(r *result) float64 {
	if s.BestEventsPerSec <= 0 {
		return 0
	}
	return r.EventsPerSec / s.BestEventsPerSec
}

// shareCell is the share as a percentage for a table, "-" for a point
// that does not count.
func (s *sweepResult) shareCell(r *result) string {
	if !usable(r) {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*s.share(r))
}

// marks names what a worker count is: the default, the environment's, the
// configured one, the recommended one.
func (s *sweepResult) marks(w int) []string {
	var m []string
	if w == s.DefaultWorkers {
		m = append(m, "default")
	}
	if w == s.EnvWorkers {
		m = append(m, "environment")
	}
	if w == s.ConfiguredWorkers {
		m = append(m, "-workers")
	}
	if w == s.Rec.Workers {
		m = append(m, "recommended")
	}
	if len(m) > 0 {
		m[0] = "◀ " + m[0]
	}
	return m
}
