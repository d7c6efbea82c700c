package memlimit

import (
	"math"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCgroupLimit(t *testing.T) {
	for _, tc := range []struct {
		in      string
		limit   int64
		limited bool
		err     bool
	}{
		{"max", 0, false, false},
		{"max\n", 0, false, false},
		{" max \n", 0, false, false},
		{"268435456\n", 268435456, true, false},
		{"  \t268435456 \n\n", 268435456, true, false},
		{"1", 1, true, false},
		{"4611686018427387903", 1<<62 - 1, true, false},
		{"4611686018427387904", 0, false, false}, // 2^62: "unlimited"
		{"9223372036854771712", 0, false, false}, // v1 unlimited, 4 KiB pages
		{"9223372036854710272", 0, false, false}, // v1 unlimited, 64 KiB pages
		{"9223372036854775807", 0, false, false},
		{"18446744073709551615", 0, false, false}, // fits uint64: still unlimited
		{"18446744073709551616", 0, false, true},  // beyond uint64
		{"0", 0, false, true},
		{"-1", 0, false, true},
		{"-4096\n", 0, false, true},
		{"", 0, false, true},
		{"\n", 0, false, true},
		{"MAX", 0, false, true},
		{"0x10000000", 0, false, true},
		{"1e9", 0, false, true},
		{"12 34", 0, false, true},
		{"+5", 0, false, true},
		{"lots of memory\x00\xff", 0, false, true},
	} {
		limit, limited, err := parseCgroupLimit([]byte(tc.in))
		assert.Equal(t, tc.limit, limit, "%q", tc.in)
		assert.Equal(t, tc.limited, limited, "%q", tc.in)
		assert.Equal(t, tc.err, err != nil, "%q: %v", tc.in, err)
	}
}

func TestParseCgroupErrorsQuoteAShortPrefix(t *testing.T) {
	long := "this is not a number, and it goes on for a while"
	_, _, err := parseCgroupLimit([]byte(long))
	require.Error(t, err)
	assert.Contains(t, err.Error(), long[:32]+"...")
	assert.NotContains(t, err.Error(), long)

	_, err = parseCgroupUsage([]byte(long))
	require.Error(t, err)
	assert.Contains(t, err.Error(), long[:32]+"...")
}

func TestParseCgroupUsage(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"0\n", 0, false},
		{"67108864\n", 67108864, false},
		{" 1048576\r\n", 1048576, false},
		{"9223372036854775807", math.MaxInt64, false},
		{"9223372036854775808", 0, true},
		{"-1", 0, true},
		{"", 0, true},
		{"max", 0, true},
		{"12.5", 0, true},
	} {
		got, err := parseCgroupUsage([]byte(tc.in))
		assert.Equal(t, tc.want, got, "%q", tc.in)
		assert.Equal(t, tc.err, err != nil, "%q: %v", tc.in, err)
	}
}

func FuzzParseCgroupLimit(f *testing.F) {
	for _, data := range fixtureSeeds(f, "memory.max", "memory.limit_in_bytes", "memory.current", "memory.usage_in_bytes") {
		f.Add(data)
	}
	for _, s := range []string{"", "max", "0", "-1", "4611686018427387904", "18446744073709551616", " 1 \n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		limit, limited, err := parseCgroupLimit(data)
		if err != nil || !limited {
			require.Zero(t, limit)
			return
		}
		require.Positive(t, limit)
		require.Less(t, limit, int64(cgroupUnlimited))
		// The value is the number in the file.
		again, limited, err := parseCgroupLimit([]byte(strconv.FormatInt(limit, 10)))
		require.NoError(t, err)
		require.True(t, limited)
		require.Equal(t, limit, again)

		used, err := parseCgroupUsage(data)
		require.NoError(t, err, "a valid limit is a valid usage")
		require.Equal(t, limit, used)
	})
}

func FuzzParseCgroupUsage(f *testing.F) {
	for _, data := range fixtureSeeds(f, "memory.current", "memory.usage_in_bytes") {
		f.Add(data)
	}
	f.Add([]byte("9223372036854775808"))
	f.Fuzz(func(t *testing.T, data []byte) {
		used, err := parseCgroupUsage(data)
		if err != nil {
			require.Zero(t, used)
			return
		}
		require.GreaterOrEqual(t, used, int64(0))
	})
}
