package memlimit

import (
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const v2Mount = "30 22 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"

// TestCgroupWalksUpTheHierarchy reads a cgroup v2 process in /a/b/c with
// limits at several levels: a parent's limit binds its children.
func TestCgroupWalksUpTheHierarchy(t *testing.T) {
	base := memFiles{"/proc/self/cgroup": "0::/a/b/c\n", "/proc/self/mountinfo": v2Mount}
	with := func(extra memFiles) memFiles {
		f := memFiles{}
		for k, v := range base {
			f[k] = v
		}
		for k, v := range extra {
			f[k] = v
		}
		return f
	}
	for _, tc := range []struct {
		name  string
		files memFiles
		want  Reading
		ok    bool
	}{
		{"own limit only", with(memFiles{
			"/sys/fs/cgroup/a/b/c/memory.max": "300000\n", "/sys/fs/cgroup/a/b/c/memory.current": "100000\n",
		}), Reading{Limit: 300000, Available: 200000, Source: SourceCgroup2, Where: "/sys/fs/cgroup/a/b/c/memory.max"}, true},
		{"a grandparent's smaller limit wins and names its file", with(memFiles{
			"/sys/fs/cgroup/a/b/c/memory.max": "300000\n", "/sys/fs/cgroup/a/memory.max": "200000\n",
		}), Reading{Limit: 200000, Available: 200000, Source: SourceCgroup2, Where: "/sys/fs/cgroup/a/memory.max"}, true},
		{"the least headroom wins even under the larger limit", with(memFiles{
			"/sys/fs/cgroup/a/b/c/memory.max": "300000\n", "/sys/fs/cgroup/a/b/c/memory.current": "0\n",
			"/sys/fs/cgroup/a/b/memory.max": "900000\n", "/sys/fs/cgroup/a/b/memory.current": "850000\n",
		}), Reading{Limit: 300000, Available: 50000, Source: SourceCgroup2, Where: "/sys/fs/cgroup/a/b/c/memory.max"}, true},
		{"a child's larger headroom does not raise what is available", with(memFiles{
			"/sys/fs/cgroup/a/b/c/memory.max": "900000\n", "/sys/fs/cgroup/a/b/c/memory.current": "0\n",
			"/sys/fs/cgroup/a/memory.max": "300000\n", "/sys/fs/cgroup/a/memory.current": "not a number\n",
		}), Reading{Limit: 300000, Available: 300000, Source: SourceCgroup2, Where: "/sys/fs/cgroup/a/memory.max"}, true},
		{"usage over the limit leaves nothing", with(memFiles{
			"/sys/fs/cgroup/a/b/c/memory.max": "300000\n", "/sys/fs/cgroup/a/b/c/memory.current": "400000\n",
		}), Reading{Limit: 300000, Available: 0, Source: SourceCgroup2, Where: "/sys/fs/cgroup/a/b/c/memory.max"}, true},
		{"the mount's root counts", with(memFiles{"/sys/fs/cgroup/memory.max": "300000\n"}),
			Reading{Limit: 300000, Available: 300000, Source: SourceCgroup2, Where: "/sys/fs/cgroup/memory.max"}, true},
		{"max and malformed levels are skipped", with(memFiles{
			"/sys/fs/cgroup/a/b/c/memory.max": "max\n", "/sys/fs/cgroup/a/b/memory.max": "-1\n", "/sys/fs/cgroup/a/memory.max": "0\n",
		}), Reading{}, false},
		{"no limit file at all", base, Reading{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := filesProbe(tc.files).cgroupReading(pickMount([]cgroupMount{defaultMount(true)}, true, "/a/b/c"), "/a/b/c")
			require.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, r)
			if ok {
				requireValidReading(t, r)
			}
		})
	}
}

func TestCgroupV1UnlimitedValues(t *testing.T) {
	for _, v := range []string{"9223372036854771712\n", "9223372036854710272\n", "4611686018427387904"} {
		files := memFiles{
			"/proc/self/cgroup":                               "5:memory:/app\n",
			"/proc/self/mountinfo":                            "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
			"/sys/fs/cgroup/memory/app/memory.limit_in_bytes": v,
			"/sys/fs/cgroup/memory/app/memory.usage_in_bytes": "1\n",
		}
		_, ok := filesProbe(files).Smallest()
		assert.False(t, ok, "%q is no limit", v)
	}
}

// TestCgroupReadsStayUnderTheMount checks where the walk starts and that
// no cgroup path makes it read outside /proc and /sys/fs.
func TestCgroupReadsStayUnderTheMount(t *testing.T) {
	for _, tc := range []struct {
		name, procCgroup, mountinfo string
		wantFirst                   string // the first limit file read
	}{
		{"climbing path", "0::/../../../etc\n", "", "/sys/fs/cgroup/etc/memory.max"},
		{"cgroup outside the mount root", "0::/elsewhere/x\n",
			"30 22 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup/memory.max"},
		{"escaped mount point", "0::/a\n",
			"30 22 0:26 / /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw\n", "/sys/fs/my cgroup/a/memory.max"},
		{"relative path ignored", "0::a/b\n", "", "/sys/fs/cgroup/memory.max"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var read []string
			files := memFiles{"/proc/self/cgroup": tc.procCgroup, "/proc/self/mountinfo": tc.mountinfo}
			p := filesProbe(files)
			p.ReadFile = func(name string) ([]byte, error) {
				mu.Lock()
				read = append(read, name)
				mu.Unlock()
				return files.readFile(name)
			}
			_, ok := p.Smallest()
			assert.False(t, ok, "no limit file exists")
			var limits []string
			for _, name := range read {
				switch {
				case strings.HasPrefix(name, "/proc/"):
				case strings.HasPrefix(name, "/sys/fs/"):
					if strings.HasSuffix(name, "/memory.max") || strings.HasSuffix(name, "/memory.limit_in_bytes") {
						limits = append(limits, name)
					}
				default:
					t.Errorf("read %q, outside /proc and /sys/fs", name)
				}
				assert.NotContains(t, name, "..")
			}
			require.NotEmpty(t, limits)
			assert.Equal(t, tc.wantFirst, limits[0])
		})
	}
}

// TestCgroupWalkIsBounded gives a path deeper than maxCgroupDepth: the walk
// stops there instead of reading every level.
func TestCgroupWalkIsBounded(t *testing.T) {
	deep := strings.Repeat("/d", maxCgroupDepth+50)
	var limitReads int
	p := Probe{ReadFile: func(name string) ([]byte, error) {
		if strings.HasSuffix(name, "/memory.max") {
			limitReads++
		}
		return nil, errNoReadFile
	}}
	_, ok := p.cgroupReading(defaultMount(true), deep)
	assert.False(t, ok)
	assert.Equal(t, maxCgroupDepth, limitReads)
}

func TestPathWithin(t *testing.T) {
	assert.True(t, pathWithin("/a/b", "/"))
	assert.True(t, pathWithin("/a/b", "/a"))
	assert.True(t, pathWithin("/a", "/a"))
	assert.False(t, pathWithin("/ab", "/a"))
	assert.False(t, pathWithin("/b", "/a"))
}
