package memlimit

import (
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSmallestOnFixtures runs the probe on each fake root under
// testdata/roots, described in testdata/README.md.
func TestSmallestOnFixtures(t *testing.T) {
	cases := []struct {
		dir  string
		want Reading // the zero Reading: no limit found
	}{
		// The process's own cgroup has a limit; its parent has "max".
		{"v2", Reading{256 * mib, 192 * mib, SourceCgroup2, "/sys/fs/cgroup/system.slice/app.service/memory.max"}},
		// "max" at every level: the RAM is the limit.
		{"v2-max", Reading{16384000 * kib, 12000000 * kib, SourceMeminfo, "/proc/meminfo MemTotal"}},
		// The parent's limit is smaller and almost used up.
		{"v2-parent", Reading{400 * mib, 1 * mib, SourceCgroup2, "/sys/fs/cgroup/kubepods/burstable/pod1234/memory.max"}},
		// Neither /proc/self/cgroup nor mountinfo: the root path is used.
		{"v2-root", Reading{384 * mib, 288 * mib, SourceCgroup2, "/sys/fs/cgroup/memory.max"}},
		{"v1", Reading{300 * mib, 200 * mib, SourceCgroup1,
			"/sys/fs/cgroup/memory/process_api/530e23748b32b13fd8f47b89be0dce98/memory.limit_in_bytes"}},
		// The cgroup path is the root of the mount (no cgroup namespace).
		{"v1-docker", Reading{200 * mib, 512 * kib, SourceCgroup1, "/sys/fs/cgroup/memory/memory.limit_in_bytes"}},
		{"v1-unlimited", Reading{2 * gib, 1 * gib, SourceMeminfo, "/proc/meminfo MemTotal"}},
		{"missing", Reading{}},
		{"garbage", Reading{}},
		{"negative", Reading{}},
		{"whitespace", Reading{256 * mib, 255 * mib, SourceCgroup2, "/sys/fs/cgroup/app/memory.max"}},
		{"meminfo-low", Reading{384 * mib, 1 * mib, SourceMeminfo, "/proc/meminfo MemTotal"}},
		// No MemAvailable (kernels before 3.14): MemFree is used.
		{"meminfo-old", Reading{768 * mib, 256 * mib, SourceMeminfo, "/proc/meminfo MemTotal"}},
	}
	entries, err := os.ReadDir(rootsDir)
	require.NoError(t, err)
	var dirs, tested []string
	for _, e := range entries {
		dirs = append(dirs, e.Name())
	}
	for _, tc := range cases {
		tested = append(tested, tc.dir)
		t.Run(tc.dir, func(t *testing.T) {
			p := Probe{
				ReadFile: rootFiles(tc.dir),
				GoLimit:  func() int64 { return math.MaxInt64 },
				GoUsed:   func() (int64, bool) { return 0, true },
			}
			r, ok := p.Smallest()
			assert.Equal(t, tc.want, r)
			assert.Equal(t, tc.want != Reading{}, ok)
			if ok {
				requireValidReading(t, r)
			}
		})
	}
	assert.ElementsMatch(t, dirs, tested, "every fixture tree has a case")
}
