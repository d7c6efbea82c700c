package memlimit

import (
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
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

// TestSmallestPrefersTheSmallestLimit puts a limit in every source and
// checks that the smallest wins and, on a tie, the earlier source.
func TestSmallestPrefersTheSmallestLimit(t *testing.T) {
	const (
		v2Limit   = "/sys/fs/cgroup/unified/app/memory.max"
		v1Limit   = "/sys/fs/cgroup/memory/app/memory.limit_in_bytes"
		oneGiBKiB = "1048576"
	)
	machine := func(v2, v1, ram string) memFiles {
		return memFiles{
			"/proc/self/cgroup": "5:memory:/app\n0::/app\n",
			"/proc/self/mountinfo": "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" +
				"41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
			v2Limit:         v2,
			v1Limit:         v1,
			"/proc/meminfo": "MemTotal: " + ram + " kB\n",
		}
	}
	for _, tc := range []struct {
		name       string
		files      memFiles
		goLimit    int64
		wantSource Source
		wantWhere  string
	}{
		{"all equal: cgroup v2 first", machine("1073741824", "1073741824", oneGiBKiB), gib, SourceCgroup2, v2Limit},
		{"v2 unlimited, the rest equal: cgroup v1", machine("max", "1073741824", oneGiBKiB), gib, SourceCgroup1, v1Limit},
		{"Go equal to RAM: Go", machine("max", "max", oneGiBKiB), gib, SourceGo, "Go memory limit"},
		{"RAM alone", machine("max", "max", oneGiBKiB), math.MaxInt64, SourceMeminfo, "/proc/meminfo MemTotal"},
		{"RAM smallest", machine("1073741824", "1073741824", "1048575"), gib, SourceMeminfo, "/proc/meminfo MemTotal"},
		{"Go smallest", machine("1073741824", "1073741824", oneGiBKiB), gib - 1, SourceGo, "Go memory limit"},
		{"v1 smallest", machine("1073741824", "1073741823", oneGiBKiB), gib, SourceCgroup1, v1Limit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filesProbe(tc.files)
			p.GoLimit = func() int64 { return tc.goLimit }
			r, ok := p.Smallest()
			require.True(t, ok)
			requireValidReading(t, r)
			assert.Equal(t, tc.wantSource, r.Source)
			assert.Equal(t, tc.wantWhere, r.Where)
		})
	}
}

func TestSmallestWithNilFields(t *testing.T) {
	r, ok := Probe{}.Smallest()
	assert.False(t, ok, "the zero Probe reads nothing")
	assert.Zero(t, r)

	r, ok = Probe{GoLimit: func() int64 { return 100 << 20 }}.Smallest()
	require.True(t, ok, "a Go limit without files or usage")
	assert.Equal(t, Reading{Limit: 100 << 20, Available: 100 << 20, Source: SourceGo, Where: "Go memory limit"}, r)

	r, ok = Probe{ReadFile: memFiles{"/proc/meminfo": "MemTotal: 4 kB\n"}.readFile}.Smallest()
	require.True(t, ok, "files without the Go probes")
	assert.Equal(t, SourceMeminfo, r.Source)
}

// TestSmallestOnGarbage feeds random bytes to every file and random
// figures to the Go probes.
func TestSmallestOnGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("0123456789 \n\t:-/max kBMemTotalAvailable\\cgroup2memory,\x00\xff")
	found := 0
	for i := 0; i < 2000; i++ {
		p := Probe{
			ReadFile: func(name string) ([]byte, error) {
				if rng.IntN(5) == 0 {
					return nil, fs.ErrNotExist
				}
				if rng.IntN(3) == 0 {
					return []byte(strings.Repeat(" ", rng.IntN(3)) + strconv.FormatInt(rng.Int64N(1<<40)-1<<20, 10)), nil
				}
				b := make([]byte, rng.IntN(120))
				for j := range b {
					b[j] = alphabet[rng.IntN(len(alphabet))]
				}
				return b, nil
			},
			GoLimit: func() int64 { return rng.Int64() - math.MaxInt64/2 },
			GoUsed:  func() (int64, bool) { return rng.Int64() - math.MaxInt64/2, rng.IntN(2) == 0 },
		}
		if r, ok := p.Smallest(); ok {
			requireValidReading(t, r)
			found++
		}
	}
	assert.Positive(t, found, "some garbage must still give a reading, or the test checks nothing")
}

// FuzzSmallest runs the whole probe on a machine whose every file holds
// fuzzed text: every limit file holds limit and every usage file usage,
// at whatever path the probe looks.
func FuzzSmallest(f *testing.F) {
	read := func(dir, name string) string {
		data, err := os.ReadFile(filepath.Join(rootsDir, dir, filepath.FromSlash(name)))
		if err != nil {
			return ""
		}
		return string(data)
	}
	for _, dir := range []string{"v2", "v2-parent", "v1", "v1-docker", "garbage", "negative", "whitespace"} {
		limit, usage := "/sys/fs/cgroup/system.slice/app.service/memory.max", "/sys/fs/cgroup/system.slice/app.service/memory.current"
		if strings.HasPrefix(dir, "v1") {
			limit, usage = "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"
		}
		f.Add(read(dir, "/proc/self/cgroup"), read(dir, "/proc/self/mountinfo"), read(dir, limit), read(dir, usage),
			read(dir, "/proc/meminfo"), int64(math.MaxInt64), int64(0))
	}
	f.Add("0::/a/../../b\n", "1 1 0:1 /a /x/../y rw - cgroup2 cgroup2 rw\n", "4096", "8192", "", int64(300<<20), int64(-1))
	f.Fuzz(func(t *testing.T, procCgroup, mountinfo, limit, usage, meminfo string, goLimit, goUsed int64) {
		proc := memFiles{"/proc/self/cgroup": procCgroup, "/proc/self/mountinfo": mountinfo, "/proc/meminfo": meminfo}
		p := Probe{
			ReadFile: func(name string) ([]byte, error) {
				require.True(t, strings.HasPrefix(name, "/"), "%q", name)
				require.Equal(t, path.Clean(name), name, "a path with . or .. in it")
				switch path.Base(name) {
				case "memory.max", "memory.limit_in_bytes":
					return []byte(limit), nil
				case "memory.current", "memory.usage_in_bytes":
					return []byte(usage), nil
				}
				_, known := proc[name]
				require.True(t, known, "read %q", name)
				return proc.readFile(name)
			},
			GoLimit: func() int64 { return goLimit },
			GoUsed:  func() (int64, bool) { return goUsed, true },
		}
		if r, ok := p.Smallest(); ok {
			requireValidReading(t, r)
		}
	})
}
