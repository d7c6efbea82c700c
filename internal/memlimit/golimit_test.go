package memlimit

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGoReading(t *testing.T) {
	const limit = 300 << 20
	for _, tc := range []struct {
		name      string
		limit     int64
		used      int64
		usedOK    bool
		ok        bool
		available int64
	}{
		{"limit and usage", limit, 100 << 20, true, true, 200 << 20},
		{"usage unknown: all of it", limit, 100 << 20, false, true, limit},
		{"negative usage counts as unknown", limit, -5, true, true, limit},
		{"usage over the limit leaves nothing", limit, 400 << 20, true, true, 0},
		{"MaxInt64 is the runtime's no limit", math.MaxInt64, 0, true, false, 0},
		{"zero is no limit", 0, 0, true, false, 0},
		{"negative is no limit", -1, 0, true, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Probe{
				GoLimit: func() int64 { return tc.limit },
				GoUsed:  func() (int64, bool) { return tc.used, tc.usedOK },
			}
			r, ok := p.goReading()
			require.Equal(t, tc.ok, ok)
			if !ok {
				assert.Zero(t, r)
				return
			}
			requireValidReading(t, r)
			assert.Equal(t, Reading{Limit: tc.limit, Available: tc.available, Source: SourceGo, Where: "Go memory limit"}, r)
		})
	}
}

func TestGoReadingWithoutUsageProbe(t *testing.T) {
	r, ok := Probe{GoLimit: func() int64 { return 1 << 30 }}.goReading()
	require.True(t, ok)
	assert.Equal(t, int64(1<<30), r.Available, "no GoUsed: the usage is unknown")
}
