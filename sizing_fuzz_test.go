package eventbus

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzSizingDecide runs the whole decision, memory probe included, on a
// machine whose every file holds fuzzed text, and checks the guarantees
// DecideSizing documents. The parsers of those files have their own fuzz
// targets in internal/memlimit. Fuzz it with
//
//	go test -run '^$' -fuzz '^FuzzSizingDecide$' -fuzztime 30s .
func FuzzSizingDecide(f *testing.F) {
	const (
		v2Mounts = "22 1 0:20 / / rw,relatime shared:1 - overlay overlay rw\n" +
			"30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
		v1Mounts = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n" +
			"35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n" +
			"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
		dockerMounts = "700 650 0:60 /docker/3f2a /sys/fs/cgroup/memory ro,nosuid master:20 - cgroup cgroup rw,memory\n"
		ram          = "MemTotal:       16384000 kB\nMemFree:         8000000 kB\nMemAvailable:   12000000 kB\n"
	)
	for _, seed := range []struct {
		procCgroup, mountinfo, limit, usage, meminfo string
		goLimit, goUsed                              int64
	}{
		{"0::/system.slice/app.service\n", v2Mounts, "268435456\n", "67108864\n", ram, 0, 0},
		{"0::/kubepods/burstable/pod1234/ctr\n", v2Mounts, "max\n", "10485760\n", ram, 0, 0},
		{"4:memory:/process_api/530e\n1:cpu:/\n0::/\n", v1Mounts, "314572800\n", "104857600\n", ram, 700 << 20, 100 << 20},
		{"12:memory:/docker/3f2a\n", dockerMounts, "209715200\n", "209190912\n", ram, 0, 0},
		{"\x00\xff::::\n0::relative/path\n:memory\n", "garbage - - -\n1 2 3\n\\777 - cgroup2\n",
			"lots of memory\x00\xff", "12.5", "MemTotal: banana kB\n::::\nMemFree: 12 MB\n", -1, -1},
		{"", "", "-1\n", "-4096\n", "MemTotal: -16384 kB\nMemAvailable: -1 kB\n", 0, 0},
		{"0::/app\r\n", v2Mounts, "  \t268435456 \n\n", " 1048576\r\n", "MemTotal:\t  16384000   kB  \r\n\nMemAvailable:  12000000 kB\n", 0, 0},
	} {
		f.Add(seed.procCgroup, seed.mountinfo, seed.limit, seed.usage, seed.meminfo, seed.goLimit, seed.goUsed, 4, false)
	}
	f.Fuzz(func(t *testing.T, procCgroup, mountinfo, limit, usage, meminfo string, goLimit, goUsed int64, cpus int, ci bool) {
		// Every limit and usage file holds the fuzzed text, at whatever
		// level of whichever hierarchy the probe looks.
		readFile := func(name string) ([]byte, error) {
			switch {
			case strings.HasSuffix(name, "/memory.max"), strings.HasSuffix(name, "/memory.limit_in_bytes"):
				return []byte(limit), nil
			case strings.HasSuffix(name, "/memory.current"), strings.HasSuffix(name, "/memory.usage_in_bytes"):
				return []byte(usage), nil
			}
			return sizingFiles{
				"/proc/self/cgroup":    procCgroup,
				"/proc/self/mountinfo": mountinfo,
				"/proc/meminfo":        meminfo,
			}.readFile(name)
		}
		env := sizingEnv{}
		if ci {
			env["CI"] = "true"
		}
		m := sizingMachine{cpus: cpus, env: env, goLimit: goLimit, goUsed: goUsed}
		p := m.probes()
		mem := m.memoryProbe()
		mem.ReadFile = readFile
		p.memory = mem.Smallest
		d := decideSizing(p)
		requireSaneSizing(t, d)
		require.Equal(t, ci, d.CI)
	})
}
