package bench

import (
	"runtime"
	"runtime/metrics"
	"time"
)

// Mem is the memory and goroutine figures at one moment.
type Mem struct {
	Goroutines int64
	Heap       uint64 // heap spans in use (HeapInuse): objects + unused
	Stack      uint64 // goroutine stacks (StackInuse)
}

var memMetrics = []string{
	"/sched/goroutines:goroutines",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/stacks:bytes",
}

func readMem(s []metrics.Sample) Mem {
	metrics.Read(s)
	return Mem{
		Goroutines: int64(s[0].Value.Uint64()),
		Heap:       s[1].Value.Uint64() + s[2].Value.Uint64(),
		Stack:      s[3].Value.Uint64(),
	}
}

func newMemSamples() []metrics.Sample {
	s := make([]metrics.Sample, len(memMetrics))
	for i, name := range memMetrics {
		s[i].Name = name
	}
	return s
}

// Sampler records the peaks of Mem, read every interval by a goroutine of
// its own (runtime/metrics, which does not stop the world). Base is the
// reading taken when it started, after a GC, with the sampler running.
type Sampler struct {
	Base Mem
	peak Mem
	stop chan struct{}
	done chan struct{}
}

// StartSampler collects garbage, starts the sampling goroutine and takes
// the base reading.
func StartSampler(every time.Duration) *Sampler {
	runtime.GC()
	s := &Sampler{stop: make(chan struct{}), done: make(chan struct{})}
	started := make(chan struct{})
	go s.run(every, started)
	<-started
	s.Base = readMem(newMemSamples())
	return s
}

func (s *Sampler) run(every time.Duration, started chan struct{}) {
	defer close(s.done)
	samples := newMemSamples()
	var peak Mem
	take := func() {
		m := readMem(samples)
		peak.Goroutines = max(peak.Goroutines, m.Goroutines)
		peak.Heap = max(peak.Heap, m.Heap)
		peak.Stack = max(peak.Stack, m.Stack)
	}
	take()
	close(started)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			take()
			s.peak = peak
			return
		case <-t.C:
			take()
		}
	}
}

// Stop ends sampling and returns the peaks.
func (s *Sampler) Stop() Mem {
	select {
	case <-s.done:
	default:
		close(s.stop)
		<-s.done
	}
	return s.peak
}
