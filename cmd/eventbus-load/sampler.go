package main

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// samplerInterval is how often a run samples the goroutine count and the
// heap.
const samplerInterval = 2 * time.Millisecond

// heapMetric is the memory occupied by live and not yet swept heap
// objects. Reading it does not stop the world, unlike ReadMemStats, so it
// can be sampled every few milliseconds.
const heapMetric = "/memory/classes/heap/objects:bytes"

// sampler records the peak goroutine count and heap size while a run goes:
// every samplerInterval from its own goroutine, and whenever the run pokes
// it at a moment that may be a peak (all publishers started), which a
// short run could fall between two ticks.
type sampler struct {
	stopCh chan struct{}
	done   chan struct{}

	mu     sync.Mutex
	sample []metrics.Sample
	peakG  int
	peakH  uint64
}

func startSampler(every time.Duration) *sampler {
	s := &sampler{stopCh: make(chan struct{}), done: make(chan struct{}),
		sample: []metrics.Sample{{Name: heapMetric}}}
	s.poke()
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stopCh:
				return
			case <-t.C:
				s.poke()
			}
		}
	}()
	return s
}

// poke takes a sample now.
func (s *sampler) poke() {
	g := runtime.NumGoroutine()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peakG = max(s.peakG, g)
	metrics.Read(s.sample)
	if s.sample[0].Value.Kind() == metrics.KindUint64 {
		s.peakH = max(s.peakH, s.sample[0].Value.Uint64())
	}
}

// heapNow returns the heap size now.
func (s *sampler) heapNow() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	metrics.Read(s.sample)
	if s.sample[0].Value.Kind() == metrics.KindUint64 {
		return s.sample[0].Value.Uint64()
	}
	return 0
}

// stop ends the sampling and returns the peaks: goroutines (the sampler's
// own included) and heap bytes.
func (s *sampler) stop() (goroutines int, heap uint64) {
	s.poke()
	close(s.stopCh)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakG, s.peakH
}
