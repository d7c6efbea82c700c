package eventbus

import (
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIDsAreUniqueSortedAndShaped(t *testing.T) {
	var s idSource
	s.init()
	const n = 5 * idBlockSize
	ids := make([]string, n)
	for i := range ids {
		ids[i] = s.next()
	}
	assert.True(t, sort.StringsAreSorted(ids), "IDs sort in the order they were taken")
	seen := map[string]bool{}
	for _, id := range ids {
		require.Len(t, id, idLen)
		require.Equal(t, byte('-'), id[idPrefixLen-1])
		require.Equal(t, ids[0][:idPrefixLen], id[:idPrefixLen], "one prefix per bus")
		require.False(t, seen[id], "duplicate %s", id)
		seen[id] = true
	}
	assert.True(t, strings.HasSuffix(ids[0], "000000000001"))
}

func TestIDsFromConcurrentCallers(t *testing.T) {
	var s idSource
	s.init()
	const callers, each = 8, 3 * idBlockSize
	out := make([][]string, callers)
	var wg sync.WaitGroup
	for c := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				out[c] = append(out[c], s.next())
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, list := range out {
		for _, id := range list {
			require.False(t, seen[id], "duplicate %s", id)
			seen[id] = true
		}
	}
	assert.Len(t, seen, callers*each)
}

func TestBusesHaveDifferentPrefixes(t *testing.T) {
	var a, b idSource
	a.init()
	b.init()
	// 40 random bits: equal prefixes would be a one-in-a-trillion event.
	assert.NotEqual(t, a.next()[:idPrefixLen], b.next()[:idPrefixLen])
}

// The block shortcut must give the same IDs as formatting each in full.
func TestIDBlocksMatchFullFormatting(t *testing.T) {
	s := idSource{}
	s.init()
	for _, first := range []uint64{0, 128, 896, 1024, 1<<20 - 128, 1 << 40, 1<<60 - 128} {
		b := s.newBlock(first)
		for k := 0; k < idBlockSize; k++ {
			want := []byte(string(s.prefix[:]) + "000000000000")
			v := first + uint64(k)
			for d := idLen - 1; d >= idPrefixLen; d-- {
				want[d] = idDigits[v&31]
				v >>= 5
			}
			require.Equal(t, string(want), b.ids[k*idLen:(k+1)*idLen], "first %d, k %d", first, k)
		}
	}
}

func BenchmarkIDs(b *testing.B) {
	var s idSource
	s.init()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = s.next()
		}
	})
}

func TestPublishTimeFollowsTheClock(t *testing.T) {
	for i := 0; i < 1000; i++ {
		before := time.Now()
		ts := publishTime()
		after := time.Now()
		require.False(t, ts.Before(before) || ts.After(after), "%v not within [%v, %v]", ts, before, after)
		// The wall reading agrees with the wall clock to well within a
		// millisecond (NTP slews at most 0.5 ms/s).
		wall := ts.UnixNano()
		require.True(t, wall >= before.UnixNano()-int64(time.Millisecond) && wall <= after.UnixNano()+int64(time.Millisecond),
			"wall %d not within [%d, %d] ± 1ms", wall, before.UnixNano(), after.UnixNano())
	}
	// A stale anchor is replaced.
	old := time.Now().Add(-time.Second)
	anchor.Store(&old)
	ts := publishTime()
	assert.WithinDuration(t, time.Now(), ts, time.Millisecond)
	assert.True(t, anchor.Load().After(old))
}
