package eventbus

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The fuzz targets of the sizing parsers. A plain "go test" runs their
// seeds: every fixture under testdata/sizing whose name fits, plus a few
// hand-written cases. Fuzz one with, for example,
//
//	go test -run '^$' -fuzz '^FuzzSizingParseCgroupLimit$' -fuzztime 30s .

// sizingFixtures returns the contents of the fixture files under
// testdata/sizing whose base name is one of names.
func sizingFixtures(f *testing.F, names ...string) [][]byte {
	f.Helper()
	var out [][]byte
	err := filepath.WalkDir(filepath.Join("testdata", "sizing"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		for _, n := range names {
			if e.Name() == n {
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				out = append(out, data)
			}
		}
		return nil
	})
	require.NoError(f, err)
	require.NotEmpty(f, out, "no fixture named %v", names)
	return out
}

func FuzzSizingParseCgroupLimit(f *testing.F) {
	for _, data := range sizingFixtures(f, "memory.max", "memory.limit_in_bytes", "memory.current", "memory.usage_in_bytes") {
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

func FuzzSizingParseCgroupUsage(f *testing.F) {
	for _, data := range sizingFixtures(f, "memory.current", "memory.usage_in_bytes") {
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

func FuzzSizingParseMeminfo(f *testing.F) {
	for _, data := range sizingFixtures(f, "meminfo") {
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
	})
}

func FuzzSizingParseProcCgroup(f *testing.F) {
	for _, data := range sizingFixtures(f, "cgroup") {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v2, v1 := parseProcCgroup(data)
		for _, p := range []string{v2, v1} {
			if p != "" {
				require.True(t, strings.HasPrefix(p, "/"), "%q", p)
				require.NotContains(t, p, "\n")
			}
		}
	})
}

func FuzzSizingParseMountinfo(f *testing.F) {
	for _, data := range sizingFixtures(f, "mountinfo") {
		f.Add(data)
	}
	f.Add([]byte("1 1 0:1 /a\\040b /mnt/c\\011d rw - cgroup2 cgroup2 rw\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		mounts, err := parseMountinfo(data)
		if err != nil {
			require.Empty(t, mounts)
			return
		}
		for _, m := range mounts {
			require.True(t, strings.HasPrefix(m.root, "/"), "%+v", m)
			require.True(t, strings.HasPrefix(m.point, "/"), "%+v", m)
			p := pickMount(mounts, m.v2, m.root)
			require.Equal(t, m.v2, p.v2)
		}
	})
}

// FuzzSizingDecide runs the whole decision on a cgroup v2 machine and a
// cgroup v1 machine whose every file holds fuzzed text.
func FuzzSizingDecide(f *testing.F) {
	read := func(dir, name string) string {
		data, err := os.ReadFile(filepath.Join("testdata", "sizing", dir, filepath.FromSlash(name)))
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
		f.Add(read(dir, "/proc/self/cgroup"), read(dir, "/proc/self/mountinfo"), read(dir, limit), read(dir, usage), read(dir, "/proc/meminfo"), 4, false)
	}
	f.Fuzz(func(t *testing.T, procCgroup, mountinfo, limit, usage, meminfo string, cpus int, ci bool) {
		v2, v1 := parseProcCgroup([]byte(procCgroup))
		files := sizingFiles{
			"/proc/self/cgroup":    procCgroup,
			"/proc/self/mountinfo": mountinfo,
			"/proc/meminfo":        meminfo,
		}
		// Put the limit and usage where the decision looks first, for both
		// versions, and at the roots.
		for _, dir := range []string{
			"/sys/fs/cgroup" + v2, "/sys/fs/cgroup",
		} {
			files[filepath.ToSlash(filepath.Join(dir, "memory.max"))] = limit
			files[filepath.ToSlash(filepath.Join(dir, "memory.current"))] = usage
		}
		for _, dir := range []string{
			"/sys/fs/cgroup/memory" + v1, "/sys/fs/cgroup/memory",
		} {
			files[filepath.ToSlash(filepath.Join(dir, "memory.limit_in_bytes"))] = limit
			files[filepath.ToSlash(filepath.Join(dir, "memory.usage_in_bytes"))] = usage
		}
		env := sizingEnv{}
		if ci {
			env["CI"] = "true"
		}
		d := decideSizing(sizingMachine{cpus: cpus, env: env, files: files}.probes())
		requireSaneSizing(t, d)
		require.Equal(t, ci, d.CI)
	})
}
