package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseProfile(t *testing.T) {
	for _, c := range []struct {
		spec, canonical string
		parts           int
	}{
		{"io:1ms", "io:1ms", 1},
		{"cpu:20us", "cpu:20µs", 1},
		{"cpu:20µs", "cpu:20µs", 1},
		{"mixed", "io:1ms@70,cpu:20µs@30", 2},
		{" io:1ms@70 , cpu:20us@30 ", "io:1ms@70,cpu:20µs@30", 2},
		{"io:2ms,cpu:50us", "io:2ms@1,cpu:50µs@1", 2},
		{"io:1ms@1,io:5ms@1,cpu:10us@2", "io:1ms@1,io:5ms@1,cpu:10µs@2", 3},
	} {
		p, err := parseProfile(c.spec)
		require.NoError(t, err, c.spec)
		assert.Equal(t, c.canonical, p.String(), c.spec)
		assert.Len(t, p.parts, c.parts, c.spec)
	}
}

// The parts' shares hold over a run, interleaved rather than in blocks.
func TestProfilePicksByWeight(t *testing.T) {
	p, err := parseProfile("mixed")
	require.NoError(t, err)
	const n = 10000
	var io, runs, longest int
	prev := -1
	for i := range uint64(n) {
		k := p.pick(i)
		if p.parts[k].kind == kindIO {
			io++
		}
		if k == prev {
			runs++
		} else {
			runs = 1
		}
		longest = max(longest, runs)
		prev = k
	}
	assert.InDelta(t, 0.70, float64(io)/n, 0.02)
	assert.Less(t, longest, 40, "the kinds are interleaved")
}

func TestProfileCapacityAndMean(t *testing.T) {
	io, _ := parseProfile("io:1ms")
	assert.InDelta(t, 5000, io.capacity(5, 2), 1e-6, "5 workers, 1ms each")
	cpu, _ := parseProfile("cpu:20us")
	assert.InDelta(t, 100000, cpu.capacity(5, 2), 1e-6, "bounded by the 2 CPUs")
	assert.InDelta(t, 50000, cpu.capacity(1, 2), 1e-6, "bounded by the 1 worker")
	mixed, _ := parseProfile("mixed")
	all, c := mixed.mean()
	assert.Equal(t, 706*time.Microsecond, all)
	assert.Equal(t, 6*time.Microsecond, c)
	assert.Contains(t, mixed.describe(), "70% 1ms of time.Sleep")
}

func TestCPUWorkIsCalibrated(t *testing.T) {
	p, err := parseProfile("cpu:200us")
	require.NoError(t, err)
	p.calibrate()
	require.Positive(t, p.parts[0].rounds)
	// The fastest of a few calls takes about the duration asked for: more
	// when the machine is busy, never much less.
	best := time.Hour
	for i := range uint64(20) {
		start := time.Now()
		p.work(i)
		best = min(best, time.Since(start))
	}
	assert.Greater(t, best, 50*time.Microsecond)
}
