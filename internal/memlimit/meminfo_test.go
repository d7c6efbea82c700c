package memlimit

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseMeminfo(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        string
		ok        bool
		total     int64
		available int64
	}{
		{"typical", "MemTotal:       16384000 kB\nMemFree:         8000000 kB\nMemAvailable:   12000000 kB\n", true, 16384000 * 1024, 12000000 * 1024},
		{"MemAvailable before MemFree", "MemTotal: 4 kB\nMemAvailable: 3 kB\nMemFree: 1 kB\n", true, 4096, 3072},
		{"no MemAvailable: MemFree", "MemTotal: 4 kB\nMemFree: 1 kB\n", true, 4096, 1024},
		{"neither", "MemTotal: 4 kB\n", true, 4096, -1},
		{"no unit means bytes", "MemTotal: 4096\nMemAvailable: 100\n", true, 4096, 100},
		{"unit in capitals", "MemTotal: 4 KB\n", true, 4096, -1},
		{"white space and CRLF", "MemTotal:\t  16 kB  \r\n\n MemAvailable :  8 kB\n", true, 16384, 8192},
		{"no MemTotal", "MemFree: 1 kB\nMemAvailable: 3 kB\n", false, 0, 0},
		{"MemTotal zero", "MemTotal: 0 kB\n", false, 0, 0},
		{"MemTotal negative", "MemTotal: -16384 kB\n", false, 0, 0},
		{"MemTotal not a number", "MemTotal: banana kB\n", false, 0, 0},
		{"wrong unit", "MemTotal: 12 MB\n", false, 0, 0},
		{"too many fields", "MemTotal: 12 kB extra\n", false, 0, 0},
		{"overflow in the multiplication", "MemTotal: 9223372036854775807 kB\n", false, 0, 0},
		{"largest that fits", "MemTotal: 9007199254740991 kB\n", true, 9007199254740991 * 1024, -1},
		{"negative MemAvailable is skipped", "MemTotal: 4 kB\nMemAvailable: -1 kB\nMemFree: 2 kB\n", true, 4096, 2048},
		{"empty", "", false, 0, 0},
		{"garbage", "::::\n\x00\xff\nMemTotal\n", false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := parseMeminfo([]byte(tc.in))
			require.Equal(t, tc.ok, ok)
			if ok {
				assert.Equal(t, tc.total, m.total)
				assert.Equal(t, tc.available, m.available)
			} else {
				assert.Zero(t, m)
			}
		})
	}
}

func TestMeminfoReading(t *testing.T) {
	for _, tc := range []struct {
		name, meminfo string
		ok            bool
		limit, avail  int64
	}{
		{"MemAvailable", "MemTotal: 409600 kB\nMemFree: 1 kB\nMemAvailable: 102400 kB\n", true, 400 * mib, 100 * mib},
		{"MemAvailable above MemTotal is capped", "MemTotal: 409600 kB\nMemAvailable: 819200 kB\n", true, 400 * mib, 400 * mib},
		{"MemFree on old kernels", "MemTotal: 786432 kB\nMemFree: 262144 kB\n", true, 768 * mib, 256 * mib},
		{"neither: all of it", "MemTotal: 4 kB\n", true, 4 * kib, 4 * kib},
		{"no MemTotal", "MemAvailable: 4 kB\n", false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := filesProbe(memFiles{"/proc/meminfo": tc.meminfo}).meminfoReading()
			require.Equal(t, tc.ok, ok)
			if !ok {
				assert.Zero(t, r)
				return
			}
			requireValidReading(t, r)
			assert.Equal(t, Reading{Limit: tc.limit, Available: tc.avail, Source: SourceMeminfo, Where: "/proc/meminfo MemTotal"}, r)
		})
	}
	_, ok := filesProbe(memFiles{}).meminfoReading()
	assert.False(t, ok, "an unreadable /proc/meminfo gives nothing")
}

func FuzzParseMeminfo(f *testing.F) {
	for _, data := range fixtureSeeds(f, "meminfo") {
		f.Add(data)
	}
	f.Add([]byte("MemTotal: 9007199254740992 kB\n"))
	f.Add([]byte("MemTotal: 4096\nMemFree: 1 kB\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, ok := parseMeminfo(data)
		if !ok {
			require.Zero(t, m)
			return
		}
		require.Positive(t, m.total)
		require.GreaterOrEqual(t, m.available, int64(-1))
		r, ok := filesProbe(memFiles{"/proc/meminfo": string(data)}).meminfoReading()
		require.True(t, ok)
		requireValidReading(t, r)
	})
}
