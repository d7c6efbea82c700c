package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The handler profile says what each handler call does, as a weighted mix
// of parts. Its grammar, for the -handler flag:
//
//	SPEC     = "mixed" | PART { "," PART }
//	PART     = KIND ":" DURATION [ "@" WEIGHT ]
//	KIND     = "cpu" | "io"
//	DURATION = a Go duration from 1µs to 10s, e.g. 20us, 1ms, 2.5ms
//	WEIGHT   = a whole number from 1 to 1000: the part's share of the calls,
//	           relative to the other parts' weights
//
// cpu is a busy loop doing real computation (a hash chain), calibrated on
// the machine at start to take DURATION; it holds a CPU the whole time.
// io is time.Sleep(DURATION), standing for a call that waits on a disk, the
// network or a slow consumer; it holds a worker but no CPU. Either every
// part has a weight or none has (equal shares). "mixed" is
// io:1ms@70,cpu:20us@30, the mix of the library's BenchmarkSizing.
//
// Which part a call does is decided by the call's sequence number within
// the run, spread by a hash, so the shares hold exactly over a run and the
// kinds are interleaved.

const mixedSpec = "io:1ms@70,cpu:20us@30"

const (
	minPartDuration = time.Microsecond
	maxPartDuration = 10 * time.Second
	maxWeight       = 1000
)

type workKind int

const (
	kindCPU workKind = iota
	kindIO
)

func (k workKind) String() string {
	if k == kindCPU {
		return "cpu"
	}
	return "io"
}

// part is one kind of work with its duration and weight.
type part struct {
	Kind   string        `json:"kind"`
	D      time.Duration `json:"duration_ns"`
	Weight int           `json:"weight"`
	kind   workKind
	rounds int // hash rounds for a cpu part, set by calibrate
}

// profile is a parsed handler spec.
type profile struct {
	spec  string // as given
	parts []part
	total int // sum of the weights
}

// parseProfile parses a -handler value. Its errors say what is wrong with
// the value without naming the flag; the caller adds the flag's name.
func parseProfile(spec string) (*profile, error) {
	s := strings.TrimSpace(spec)
	if s == "" {
		return nil, errors.New("empty handler spec (want e.g. io:1ms, cpu:20us, mixed or io:1ms@70,cpu:20us@30)")
	}
	if s == "mixed" {
		s = mixedSpec
	}
	p := &profile{spec: strings.TrimSpace(spec)}
	weighted := 0
	for _, raw := range strings.Split(s, ",") {
		item := strings.TrimSpace(raw)
		if item == "" {
			return nil, fmt.Errorf("empty part in %q", spec)
		}
		body, weightStr, hasWeight := strings.Cut(item, "@")
		kindStr, durStr, ok := strings.Cut(body, ":")
		if !ok {
			return nil, fmt.Errorf("part %q: want KIND:DURATION, e.g. io:1ms or cpu:20us", item)
		}
		var pt part
		switch strings.TrimSpace(kindStr) {
		case "cpu":
			pt.kind = kindCPU
		case "io":
			pt.kind = kindIO
		default:
			return nil, fmt.Errorf("part %q: unknown kind %q (want cpu or io)", item, strings.TrimSpace(kindStr))
		}
		pt.Kind = pt.kind.String()
		d, err := time.ParseDuration(strings.TrimSpace(durStr))
		if err != nil {
			return nil, fmt.Errorf("part %q: bad duration %q (want e.g. 20us or 1ms)", item, strings.TrimSpace(durStr))
		}
		if d < minPartDuration || d > maxPartDuration {
			return nil, fmt.Errorf("part %q: duration %v is out of range (1µs to 10s)", item, d)
		}
		pt.D = d
		pt.Weight = 1
		if hasWeight {
			w, err := strconv.Atoi(strings.TrimSpace(weightStr))
			if err != nil || w < 1 || w > maxWeight {
				return nil, fmt.Errorf("part %q: weight %q must be a whole number from 1 to %d", item, strings.TrimSpace(weightStr), maxWeight)
			}
			pt.Weight = w
			weighted++
		}
		p.parts = append(p.parts, pt)
		p.total += pt.Weight
	}
	if weighted != 0 && weighted != len(p.parts) {
		return nil, fmt.Errorf("%q: give every part a weight (@N) or none", spec)
	}
	return p, nil
}

// String returns the spec in canonical form: "io:1ms", or every part with
// its weight when there are several.
func (p *profile) String() string {
	if len(p.parts) == 1 {
		return p.parts[0].Kind + ":" + p.parts[0].D.String()
	}
	var b strings.Builder
	for i, pt := range p.parts {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s:%v@%d", pt.Kind, pt.D, pt.Weight)
	}
	return b.String()
}

// describe says in words what a handler call does.
func (p *profile) describe() string {
	what := func(pt part) string {
		if pt.kind == kindCPU {
			return fmt.Sprintf("%v of computation (a calibrated hash loop)", pt.D)
		}
		return fmt.Sprintf("%v of time.Sleep (simulated I/O)", pt.D)
	}
	if len(p.parts) == 1 {
		return what(p.parts[0]) + " per event"
	}
	var items []string
	for _, pt := range p.parts {
		items = append(items, fmt.Sprintf("%.0f%% %s", 100*float64(pt.Weight)/float64(p.total), what(pt)))
	}
	return "per event: " + strings.Join(items, ", ")
}

// mean returns the mean time of a call, and the mean CPU time of a call
// (the cpu parts' share).
func (p *profile) mean() (all, cpu time.Duration) {
	var sum, sumCPU float64
	for _, pt := range p.parts {
		share := float64(pt.Weight) / float64(p.total)
		sum += share * float64(pt.D)
		if pt.kind == kindCPU {
			sumCPU += share * float64(pt.D)
		}
	}
	return time.Duration(sum), time.Duration(sumCPU)
}

// capacity estimates the events per second that workers handlers of this
// profile can handle on cpus CPUs: each worker takes one event per mean
// call time, and the computing parts cannot run on more than cpus CPUs at
// once. It ignores the bus's own overhead, which is small against the
// handlers' time.
func (p *profile) capacity(workers, cpus int) float64 {
	all, cpu := p.mean()
	c := float64(workers) * float64(time.Second) / float64(all)
	if cpu > 0 {
		c = min(c, float64(max(cpus, 1))*float64(time.Second)/float64(cpu))
	}
	return c
}

// work does the work of the n-th call of a run.
func (p *profile) work(n uint64) {
	pt := &p.parts[0]
	if len(p.parts) > 1 {
		pt = &p.parts[p.pick(n)]
	}
	if pt.kind == kindIO {
		time.Sleep(pt.D)
		return
	}
	workSink.Add(hashRounds(pt.rounds))
}

// pick returns the index of the part the n-th call does: the call's hashed
// sequence number falls in the part's share of the weights.
func (p *profile) pick(n uint64) int {
	x := splitmix64(n) % uint64(p.total)
	for i, pt := range p.parts {
		if x < uint64(pt.Weight) {
			return i
		}
		x -= uint64(pt.Weight)
	}
	return len(p.parts) - 1
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// calibrate sets the hash rounds of the cpu parts from the machine's speed.
func (p *profile) calibrate() {
	perRound := roundTime()
	for i := range p.parts {
		if p.parts[i].kind == kindCPU {
			p.parts[i].rounds = max(int(float64(p.parts[i].D)/perRound), 1)
		}
	}
}

// workSink keeps the compiler from dropping the hash loop.
var workSink atomic.Uint64

// hashRounds is the computation: n rounds of FNV-1a over a counter, a chain
// of dependent multiplications that touches no memory, so its speed does
// not depend on caches or on what the other goroutines do.
func hashRounds(n int) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < n; i++ {
		h ^= uint64(i)
		h *= 1099511628211
	}
	return h
}

var (
	roundTimeOnce sync.Once
	roundTimeNS   float64
)

// roundTime returns the time of one hashRounds round in nanoseconds: the
// fastest of several timed runs, as the slower ones were interrupted by
// something else. It measures once per process, in about 5 ms.
func roundTime() float64 {
	roundTimeOnce.Do(func() {
		const rounds = 1 << 17
		best := time.Duration(math.MaxInt64)
		for i := 0; i < 15; i++ {
			start := time.Now()
			workSink.Add(hashRounds(rounds))
			best = min(best, time.Since(start))
		}
		roundTimeNS = max(float64(best), 1) / rounds
	})
	return roundTimeNS
}
