package eventbus

import (
	"sort"
	"strings"
	"sync"
	"testing"

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
