package eventbus

import (
	"io/fs"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/brummer-dev/eventbus/internal/memlimit"
)

const (
	sizingKiB = int64(1) << 10
	sizingMiB = int64(1) << 20
	sizingGiB = int64(1) << 30
)

// sizingFiles is an in-memory file system for the readFile probe: absolute
// path to contents. Reading any other path fails with fs.ErrNotExist.
type sizingFiles map[string]string

func (m sizingFiles) readFile(name string) ([]byte, error) {
	if s, ok := m[name]; ok {
		return []byte(s), nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// sizingEnv is an environment for the getenv probe.
type sizingEnv map[string]string

func (e sizingEnv) lookup(name string) (string, bool) {
	v, ok := e[name]
	return v, ok
}

// sizingMachine describes a fake machine for the probes. The zero value
// has 4 CPUs, no CI variable, no Go memory limit and no readable file.
//
// The memory probe is the real memlimit.Probe over files and the Go
// figures, so that a test sees what the machine would show; mem, when set,
// replaces it with a fixed reading, for tests of the policy alone.
type sizingMachine struct {
	cpus       int
	env        sizingEnv
	files      sizingFiles
	goLimit    int64 // 0: none
	goUsed     int64
	goUsedFail bool
	mem        *memlimit.Reading
}

func (m sizingMachine) probes() sizingProbes {
	cpus := m.cpus
	if cpus == 0 {
		cpus = 4
	}
	memory := m.memoryProbe().Smallest
	if m.mem != nil {
		r := *m.mem
		memory = func() (memlimit.Reading, bool) { return r, true }
	}
	return sizingProbes{
		cpus:   func() int { return cpus },
		getenv: m.env.lookup,
		memory: memory,
	}
}

// memoryProbe returns the machine's memlimit.Probe.
func (m sizingMachine) memoryProbe() memlimit.Probe {
	goLimit := m.goLimit
	if goLimit == 0 {
		goLimit = math.MaxInt64
	}
	return memlimit.Probe{
		ReadFile: m.files.readFile,
		GoLimit:  func() int64 { return goLimit },
		GoUsed:   func() (int64, bool) { return m.goUsed, !m.goUsedFail },
	}
}

// sizingV2Files returns a cgroup v2 machine whose process sits in /app with
// the given memory.max and memory.current ("" leaves the file out), and
// 16 GiB of RAM.
func sizingV2Files(max, current string) sizingFiles {
	f := sizingFiles{
		"/proc/self/cgroup":    "0::/app\n",
		"/proc/self/mountinfo": "30 22 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
		"/proc/meminfo":        "MemTotal: 16777216 kB\nMemAvailable: 8388608 kB\n",
	}
	if max != "" {
		f["/sys/fs/cgroup/app/memory.max"] = max
	}
	if current != "" {
		f["/sys/fs/cgroup/app/memory.current"] = current
	}
	return f
}

// sizingV1Files is sizingV2Files for a cgroup v1 memory hierarchy.
func sizingV1Files(limit, usage string) sizingFiles {
	f := sizingFiles{
		"/proc/self/cgroup":    "5:memory:/app\n3:cpu,cpuacct:/app\n0::/\n",
		"/proc/self/mountinfo": "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n",
		"/proc/meminfo":        "MemTotal: 16777216 kB\nMemAvailable: 8388608 kB\n",
	}
	if limit != "" {
		f["/sys/fs/cgroup/memory/app/memory.limit_in_bytes"] = limit
	}
	if usage != "" {
		f["/sys/fs/cgroup/memory/app/memory.usage_in_bytes"] = usage
	}
	return f
}

// sizingMeminfo returns a machine with only /proc/meminfo.
func sizingMeminfo(totalKiB, availableKiB int64) sizingFiles {
	return sizingFiles{"/proc/meminfo": "MemTotal: " + itoa64(totalKiB) + " kB\nMemFree: 1 kB\nMemAvailable: " + itoa64(availableKiB) + " kB\n"}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// requireSaneSizing checks the guarantees DecideSizing documents, whatever
// the input.
func requireSaneSizing(t testing.TB, d SizingDecision) {
	t.Helper()
	require.Contains(t, []string{SizingProfileDefault, SizingProfileCI, SizingProfileLowMemory, SizingProfileHighPerformance}, d.Profile, "profile of %v", d)
	require.GreaterOrEqual(t, d.CPUs, 1, "%v", d)
	require.GreaterOrEqual(t, d.Workers, 1, "%v", d)
	require.LessOrEqual(t, d.Workers, 32, "%v", d)
	require.GreaterOrEqual(t, d.QueueSize, d.Workers, "%v", d)
	require.Equal(t, d.CI, d.CIVariable != "", "%v", d)
	require.GreaterOrEqual(t, d.MemoryLimit, int64(0), "%v", d)
	require.NotEmpty(t, d.Reason, "%v", d)
	if d.MemoryLimit == 0 {
		require.Empty(t, d.MemoryLimitSource, "%v", d)
		require.Zero(t, d.MemoryAvailable, "%v", d)
		require.Zero(t, d.MemoryCap, "%v", d)
		require.False(t, d.LowMemory, "%v", d)
	} else {
		require.Contains(t, []string{"cgroup2", "cgroup1", "go", "meminfo"}, d.MemoryLimitSource, "%v", d)
		require.GreaterOrEqual(t, d.MemoryAvailable, int64(0), "%v", d)
		require.LessOrEqual(t, d.MemoryAvailable, d.MemoryLimit, "%v", d)
		require.Equal(t, d.MemoryLimit < 512*sizingMiB, d.LowMemory, "%v", d)
		require.Equal(t, memoryCap(d.MemoryAvailable), d.MemoryCap, "%v", d)
		require.LessOrEqual(t, d.Workers, d.MemoryCap, "%v", d)
	}
	if d.LowMemory {
		require.Equal(t, SizingProfileLowMemory, d.Profile, "%v", d)
	}
}

func TestSizingOptimalWorkers(t *testing.T) {
	for _, tc := range []struct{ cpus, want int }{
		{-3, 4}, {0, 4}, // not a CPU count; the floor applies
		{1, 4}, {2, 5}, {3, 7}, {4, 10}, {5, 12}, {7, 17}, {8, 20},
		{12, 30}, {13, 32}, {16, 32}, {64, 32}, {1 << 20, 32}, {math.MaxInt, 32},
	} {
		assert.Equal(t, tc.want, optimalWorkers(tc.cpus), "cpus=%d", tc.cpus)
	}
}

func TestCalculateOptimalWorkersFollowsGOMAXPROCS(t *testing.T) {
	assert.Equal(t, optimalWorkers(runtime.GOMAXPROCS(0)), CalculateOptimalWorkers())
}

func TestSizingProfilesByCPUCount(t *testing.T) {
	lowMem := sizingV2Files("268435456\n", "0\n")      // 256 MiB, nothing used
	bigMem := sizingV2Files("4294967296\n", "1048576") // 4 GiB
	type want struct {
		profile        string
		workers, queue int
	}
	for _, tc := range []struct {
		cpus                      int
		none, ci, low, lowCI, big want
	}{
		{1, want{"default", 4, 40}, want{"ci", 4, 20}, want{"low-memory", 2, 10}, want{"low-memory", 2, 10}, want{"default", 4, 40}},
		{2, want{"default", 5, 50}, want{"ci", 4, 20}, want{"low-memory", 2, 10}, want{"low-memory", 2, 10}, want{"default", 5, 50}},
		{3, want{"default", 7, 70}, want{"ci", 4, 20}, want{"low-memory", 2, 10}, want{"low-memory", 2, 10}, want{"default", 7, 70}},
		{4, want{"default", 10, 100}, want{"ci", 4, 20}, want{"low-memory", 2, 10}, want{"low-memory", 2, 10}, want{"default", 10, 100}},
		{7, want{"default", 17, 170}, want{"ci", 4, 20}, want{"low-memory", 2, 10}, want{"low-memory", 2, 10}, want{"default", 17, 170}},
		{8, want{"high-performance", 32, 640}, want{"ci", 4, 20}, want{"low-memory", 2, 10}, want{"low-memory", 2, 10}, want{"high-performance", 32, 640}},
		{12, want{"high-performance", 32, 640}, want{"ci", 4, 20}, want{"low-memory", 2, 10}, want{"low-memory", 2, 10}, want{"high-performance", 32, 640}},
		{13, want{"high-performance", 32, 640}, want{"ci", 4, 20}, want{"low-memory", 2, 10}, want{"low-memory", 2, 10}, want{"high-performance", 32, 640}},
		{16, want{"high-performance", 32, 640}, want{"ci", 4, 20}, want{"low-memory", 2, 10}, want{"low-memory", 2, 10}, want{"high-performance", 32, 640}},
		{64, want{"high-performance", 32, 640}, want{"ci", 4, 20}, want{"low-memory", 2, 10}, want{"low-memory", 2, 10}, want{"high-performance", 32, 640}},
	} {
		ci := sizingEnv{"CI": "true"}
		for _, c := range []struct {
			name string
			m    sizingMachine
			want want
		}{
			{"no-limit", sizingMachine{cpus: tc.cpus}, tc.none},
			{"ci", sizingMachine{cpus: tc.cpus, env: ci}, tc.ci},
			{"low-memory", sizingMachine{cpus: tc.cpus, files: lowMem}, tc.low},
			{"low-memory+ci", sizingMachine{cpus: tc.cpus, env: ci, files: lowMem}, tc.lowCI},
			{"4GiB", sizingMachine{cpus: tc.cpus, files: bigMem}, tc.big},
		} {
			d := decideSizing(c.m.probes())
			requireSaneSizing(t, d)
			assert.Equal(t, c.want.profile, d.Profile, "cpus=%d %s: %v", tc.cpus, c.name, d)
			assert.Equal(t, c.want.workers, d.Workers, "cpus=%d %s: %v", tc.cpus, c.name, d)
			assert.Equal(t, c.want.queue, d.QueueSize, "cpus=%d %s: %v", tc.cpus, c.name, d)
			assert.Equal(t, tc.cpus, d.CPUs)
		}
	}
}

func TestSizingNonsenseCPUCountCountsAsOne(t *testing.T) {
	for _, cpus := range []int{0, -1, math.MinInt} {
		p := sizingMachine{}.probes()
		p.cpus = func() int { return cpus }
		d := decideSizing(p)
		requireSaneSizing(t, d)
		assert.Equal(t, 1, d.CPUs)
		assert.Equal(t, 4, d.Workers)
	}
	p := sizingMachine{}.probes()
	p.cpus = func() int { return math.MaxInt }
	d := decideSizing(p)
	requireSaneSizing(t, d)
	assert.Equal(t, SizingProfileHighPerformance, d.Profile)
	assert.Equal(t, 32, d.Workers)
}

func TestSizingCIDetection(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     sizingEnv
		wantVar string // "" when not CI
	}{
		{"empty environment", sizingEnv{}, ""},
		{"CI=true", sizingEnv{"CI": "true"}, "CI"},
		{"CI=1", sizingEnv{"CI": "1"}, "CI"},
		{"CI=TRUE", sizingEnv{"CI": "TRUE"}, "CI"},
		{"CI=yes", sizingEnv{"CI": "yes"}, "CI"},
		{"CI=woodpecker", sizingEnv{"CI": "woodpecker"}, "CI"},
		{"CI=false", sizingEnv{"CI": "false"}, ""},
		{"CI=False", sizingEnv{"CI": "False"}, ""},
		{"CI=FALSE", sizingEnv{"CI": "FALSE"}, ""},
		{"CI=0", sizingEnv{"CI": "0"}, ""},
		{"CI empty", sizingEnv{"CI": ""}, ""},
		{"CI spaces", sizingEnv{"CI": "   "}, ""},
		{"CI padded false", sizingEnv{"CI": " false\n"}, ""},
		{"CI=no", sizingEnv{"CI": "no"}, ""},
		{"CI=off", sizingEnv{"CI": "OFF"}, ""},
		{"CI=false does not hide GITHUB_ACTIONS", sizingEnv{"CI": "false", "GITHUB_ACTIONS": "true"}, "GITHUB_ACTIONS"},
		{"CI named before GITHUB_ACTIONS", sizingEnv{"CI": "true", "GITHUB_ACTIONS": "true"}, "CI"},
		{"GITLAB_CI", sizingEnv{"GITLAB_CI": "true"}, "GITLAB_CI"},
		{"GITHUB_ACTIONS=false", sizingEnv{"GITHUB_ACTIONS": "false"}, ""},
		{"JENKINS_URL", sizingEnv{"JENKINS_URL": "https://jenkins.example.com/"}, "JENKINS_URL"},
		{"JENKINS_URL empty", sizingEnv{"JENKINS_URL": ""}, ""},
		{"TF_BUILD=True", sizingEnv{"TF_BUILD": "True"}, "TF_BUILD"},
		{"TEAMCITY_VERSION", sizingEnv{"TEAMCITY_VERSION": "2023.11.1 (build 147412)"}, "TEAMCITY_VERSION"},
		{"BITBUCKET_BUILD_NUMBER", sizingEnv{"BITBUCKET_BUILD_NUMBER": "42"}, "BITBUCKET_BUILD_NUMBER"},
		{"CODEBUILD_BUILD_ID", sizingEnv{"CODEBUILD_BUILD_ID": "proj:1234"}, "CODEBUILD_BUILD_ID"},
		{"APPVEYOR=True", sizingEnv{"APPVEYOR": "True"}, "APPVEYOR"},
		{"unrelated variables", sizingEnv{"HOME": "/root", "CONTINUOUS": "true", "MY_CI": "true"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ci, name := detectCI(tc.env.lookup)
			assert.Equal(t, tc.wantVar != "", ci)
			assert.Equal(t, tc.wantVar, name)

			d := decideSizing(sizingMachine{cpus: 16, env: tc.env}.probes())
			requireSaneSizing(t, d)
			assert.Equal(t, tc.wantVar != "", d.CI)
			assert.Equal(t, tc.wantVar, d.CIVariable)
			if tc.wantVar != "" {
				assert.Equal(t, SizingProfileCI, d.Profile)
				assert.Equal(t, 4, d.Workers)
				assert.Contains(t, d.Reason, tc.wantVar)
			} else {
				assert.Equal(t, SizingProfileHighPerformance, d.Profile)
			}
		})
	}
}

func TestSizingEveryCIVariable(t *testing.T) {
	for _, name := range []string{
		"CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "CIRCLECI", "JENKINS_URL", "TF_BUILD",
		"TRAVIS", "TEAMCITY_VERSION", "BITBUCKET_BUILD_NUMBER", "DRONE", "APPVEYOR", "CODEBUILD_BUILD_ID",
	} {
		require.Contains(t, ciVariables, name)
	}
	for _, name := range ciVariables {
		for _, v := range []string{"true", "1", "True", "anything"} {
			ci, got := detectCI(sizingEnv{name: v}.lookup)
			assert.True(t, ci, "%s=%q", name, v)
			assert.Equal(t, name, got)
		}
		for _, v := range []string{"", "0", "false", "FALSE", "False", " no ", "off"} {
			ci, got := detectCI(sizingEnv{name: v}.lookup)
			assert.False(t, ci, "%s=%q", name, v)
			assert.Empty(t, got)
		}
	}
}

// TestSizingLowMemory checks the policy on a given reading: under 512 MiB
// is low memory, whichever source the limit came from, and the reading's
// figures reach the decision unchanged.
func TestSizingLowMemory(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mem     memlimit.Reading
		wantLow bool
	}{
		{"exactly 512MiB is not low",
			memlimit.Reading{Limit: 512 * sizingMiB, Available: 512 * sizingMiB, Source: memlimit.SourceCgroup2, Where: "/sys/fs/cgroup/app/memory.max"}, false},
		{"one byte under 512MiB is low",
			memlimit.Reading{Limit: 512*sizingMiB - 1, Available: 512*sizingMiB - 1, Source: memlimit.SourceCgroup2, Where: "/sys/fs/cgroup/app/memory.max"}, true},
		{"a cgroup v1 limit",
			memlimit.Reading{Limit: 300 * sizingMiB, Available: 200 * sizingMiB, Source: memlimit.SourceCgroup1, Where: "/sys/fs/cgroup/memory/app/memory.limit_in_bytes"}, true},
		{"a Go limit with nothing left",
			memlimit.Reading{Limit: 300 * sizingMiB, Available: 0, Source: memlimit.SourceGo, Where: "Go memory limit"}, true},
		{"one byte of RAM",
			memlimit.Reading{Limit: 1, Available: 1, Source: memlimit.SourceMeminfo, Where: "/proc/meminfo MemTotal"}, true},
		{"16GiB of RAM",
			memlimit.Reading{Limit: 16 * sizingGiB, Available: 8 * sizingGiB, Source: memlimit.SourceMeminfo, Where: "/proc/meminfo MemTotal"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decideSizing(sizingMachine{cpus: 16, mem: &tc.mem}.probes())
			requireSaneSizing(t, d)
			assert.Equal(t, tc.mem.Limit, d.MemoryLimit, "%v", d)
			assert.Equal(t, string(tc.mem.Source), d.MemoryLimitSource, "%v", d)
			assert.Equal(t, tc.mem.Available, d.MemoryAvailable, "%v", d)
			assert.Equal(t, tc.wantLow, d.LowMemory, "%v", d)
			if tc.wantLow {
				assert.Equal(t, SizingProfileLowMemory, d.Profile)
				assert.LessOrEqual(t, d.Workers, 2)
				assert.Equal(t, d.Workers*5, d.QueueSize)
				assert.Contains(t, d.Reason, "("+tc.mem.Where+")")
			} else {
				assert.Equal(t, SizingProfileHighPerformance, d.Profile)
			}
		})
	}
}

// TestSizingReadsEveryMemorySource runs the decision on fake machines
// through the real memory probe, one source at a time and then several at
// once. The probe's own cases are tested in internal/memlimit; this checks
// that what it finds is what the decision reports.
func TestSizingReadsEveryMemorySource(t *testing.T) {
	for _, tc := range []struct {
		name          string
		m             sizingMachine
		wantLimit     int64
		wantSource    string
		wantAvailable int64
		wantLow       bool
	}{
		{"cgroup v2", sizingMachine{files: sizingV2Files("268435456\n", "67108864\n")},
			256 * sizingMiB, "cgroup2", 192 * sizingMiB, true},
		{"cgroup v2 max", sizingMachine{files: sizingV2Files("max\n", "67108864\n")},
			16 * sizingGiB, "meminfo", 8 * sizingGiB, false},
		{"cgroup v1", sizingMachine{files: sizingV1Files("314572800\n", "104857600\n")},
			300 * sizingMiB, "cgroup1", 200 * sizingMiB, true},
		{"Go memory limit", sizingMachine{goLimit: 300 * sizingMiB, goUsed: 100 * sizingMiB},
			300 * sizingMiB, "go", 200 * sizingMiB, true},
		{"RAM", sizingMachine{files: sizingMeminfo(400*1024, 100*1024)},
			400 * sizingMiB, "meminfo", 100 * sizingMiB, true},
		{"smallest source wins: Go limit under cgroup and RAM",
			sizingMachine{files: sizingV2Files("1073741824", "0"), goLimit: 700 * sizingMiB, goUsed: 100 * sizingMiB},
			700 * sizingMiB, "go", 600 * sizingMiB, false},
		{"smallest source wins: cgroup under Go limit",
			sizingMachine{files: sizingV2Files("104857600", "0"), goLimit: 700 * sizingMiB},
			100 * sizingMiB, "cgroup2", 100 * sizingMiB, true},
		{"nothing readable", sizingMachine{}, 0, "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decideSizing(tc.m.probes())
			requireSaneSizing(t, d)
			assert.Equal(t, tc.wantLimit, d.MemoryLimit, "%v", d)
			assert.Equal(t, tc.wantSource, d.MemoryLimitSource, "%v", d)
			assert.Equal(t, tc.wantAvailable, d.MemoryAvailable, "%v", d)
			assert.Equal(t, tc.wantLow, d.LowMemory, "%v", d)
		})
	}
}

// TestSizingReasons pins the explanation of each kind of decision word
// for word: programs log it, and a person reads it to see where the limit
// came from.
func TestSizingReasons(t *testing.T) {
	low := &memlimit.Reading{Limit: 256 * sizingMiB, Available: 192 * sizingMiB, Source: memlimit.SourceCgroup2, Where: "/sys/fs/cgroup/app/memory.max"}
	squeezed := &memlimit.Reading{Limit: 1 * sizingGiB, Available: 1 * sizingMiB, Source: memlimit.SourceGo, Where: "Go memory limit"}
	lowAndSqueezed := &memlimit.Reading{Limit: 384 * sizingMiB, Available: 300 * sizingKiB, Source: memlimit.SourceMeminfo, Where: "/proc/meminfo MemTotal"}
	ci := sizingEnv{"BUILDKITE": "true"}
	for _, tc := range []struct {
		name string
		m    sizingMachine
		want string
	}{
		{"low memory", sizingMachine{cpus: 4, mem: low},
			"memory limit 256.0MiB (/sys/fs/cgroup/app/memory.max) is under 512MiB: at most 2 workers, queue 5 per worker"},
		{"low memory in CI", sizingMachine{cpus: 4, env: ci, mem: low},
			"memory limit 256.0MiB (/sys/fs/cgroup/app/memory.max) is under 512MiB: at most 2 workers, queue 5 per worker (CI also detected via BUILDKITE; low memory wins)"},
		{"low memory, capped", sizingMachine{cpus: 4, mem: lowAndSqueezed},
			"memory limit 384.0MiB (/proc/meminfo MemTotal) is under 512MiB: at most 2 workers, queue 5 per worker; only 300.0KiB available under the memory limit (/proc/meminfo MemTotal): capped at 1 workers, one per 256KiB"},
		{"CI", sizingMachine{cpus: 4, env: ci},
			"CI detected via BUILDKITE: at most 4 workers, queue 5 per worker"},
		{"high performance", sizingMachine{cpus: 12},
			"12 CPUs (8 or more), not CI, memory not low: 4 workers per CPU up to 32, queue 20 per worker"},
		{"default", sizingMachine{cpus: 3},
			"3 CPUs: 2.5 workers per CPU bounded to 4..32, queue 10 per worker"},
		{"default, capped", sizingMachine{cpus: 4, mem: squeezed},
			"4 CPUs: 2.5 workers per CPU bounded to 4..32, queue 10 per worker; only 1.0MiB available under the memory limit (Go memory limit): capped at 4 workers, one per 256KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decideSizing(tc.m.probes())
			requireSaneSizing(t, d)
			assert.Equal(t, tc.want, d.Reason)
		})
	}
}

func TestSizingProfilePrecedence(t *testing.T) {
	low := sizingV2Files("268435456", "0")   // 256 MiB
	high := sizingV2Files("4294967296", "0") // 4 GiB
	ci := sizingEnv{"GITHUB_ACTIONS": "true"}
	for _, tc := range []struct {
		name        string
		m           sizingMachine
		wantProfile string
		wantWorkers int
		wantQueue   int
		wantReason  []string
	}{
		{"low memory beats CI and high performance", sizingMachine{cpus: 16, env: ci, files: low},
			SizingProfileLowMemory, 2, 10, []string{"under 512MiB", "CI also detected via GITHUB_ACTIONS", "low memory wins"}},
		{"low memory beats high performance", sizingMachine{cpus: 16, files: low},
			SizingProfileLowMemory, 2, 10, []string{"256.0MiB", "/sys/fs/cgroup/app/memory.max"}},
		{"CI beats high performance", sizingMachine{cpus: 16, env: ci, files: high},
			SizingProfileCI, 4, 20, []string{"CI detected via GITHUB_ACTIONS"}},
		{"high performance without CI or low memory", sizingMachine{cpus: 8, files: high},
			SizingProfileHighPerformance, 32, 640, []string{"8 CPUs"}},
		{"CI with one CPU keeps the default floor capped at 4", sizingMachine{cpus: 1, env: ci},
			SizingProfileCI, 4, 20, nil},
		{"low memory with one CPU", sizingMachine{cpus: 1, files: low},
			SizingProfileLowMemory, 2, 10, nil},
		{"default below 8 CPUs", sizingMachine{cpus: 7, files: high},
			SizingProfileDefault, 17, 170, []string{"7 CPUs", "2.5 workers per CPU"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decideSizing(tc.m.probes())
			requireSaneSizing(t, d)
			assert.Equal(t, tc.wantProfile, d.Profile, "%v", d)
			assert.Equal(t, tc.wantWorkers, d.Workers, "%v", d)
			assert.Equal(t, tc.wantQueue, d.QueueSize, "%v", d)
			for _, s := range tc.wantReason {
				assert.Contains(t, d.Reason, s)
			}
		})
	}
}

func TestSizingMemoryCapArithmetic(t *testing.T) {
	for _, tc := range []struct {
		available int64
		want      int
	}{
		{math.MinInt64, 1},
		{-1, 1},
		{0, 1},
		{1, 1},
		{256*sizingKiB - 1, 1},
		{256 * sizingKiB, 1},
		{512*sizingKiB - 1, 1},
		{512 * sizingKiB, 2},
		{1 * sizingMiB, 4},
		{8 * sizingMiB, 32},
		{8*sizingMiB - 1, 31},
		{16 * sizingGiB, WorkerLimit}, // far more than WorkerLimit workers' worth
		{math.MaxInt64, WorkerLimit},
	} {
		assert.Equal(t, tc.want, memoryCap(tc.available), "available=%d", tc.available)
	}
}

func TestSizingMemoryCapAppliesAfterTheProfile(t *testing.T) {
	for _, tc := range []struct {
		name        string
		m           sizingMachine
		wantProfile string
		wantCap     int
		wantWorkers int
		wantQueue   int
		capped      bool
	}{
		{"default profile capped by 1MiB left under a 600MiB Go limit",
			sizingMachine{cpus: 4, goLimit: 600 * sizingMiB, goUsed: 599 * sizingMiB},
			SizingProfileDefault, 4, 4, 40, true},
		{"high performance capped by 2MiB left in the cgroup",
			sizingMachine{cpus: 16, files: sizingV2Files("1073741824", "1071644672")},
			SizingProfileHighPerformance, 8, 8, 160, true},
		{"CI capped to 1 when nothing is left",
			sizingMachine{cpus: 2, env: sizingEnv{"CI": "1"}, files: sizingV2Files("1073741824", "2147483648")},
			SizingProfileCI, 1, 1, 5, true},
		{"low memory with usage above the limit still gets one worker",
			sizingMachine{cpus: 2, goLimit: 100 * sizingMiB, goUsed: 200 * sizingMiB},
			SizingProfileLowMemory, 1, 1, 5, true},
		{"low memory with 300KiB left gets one worker",
			sizingMachine{cpus: 2, files: sizingV1Files("104857600", "104550400")},
			SizingProfileLowMemory, 1, 1, 5, true},
		{"cap above the profile changes nothing",
			sizingMachine{cpus: 4, files: sizingV2Files("1073741824", "0")},
			SizingProfileDefault, WorkerLimit, 10, 100, false}, // 4,096 workers' worth, at most WorkerLimit
		{"exactly the profile's workers is not a cap",
			sizingMachine{cpus: 4, files: sizingV2Files("1073741824", itoa64(1073741824-10*256*sizingKiB))},
			SizingProfileDefault, 10, 10, 100, false},
		{"no limit, no cap", sizingMachine{cpus: 4}, SizingProfileDefault, 0, 10, 100, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decideSizing(tc.m.probes())
			requireSaneSizing(t, d)
			assert.Equal(t, tc.wantProfile, d.Profile, "%v", d)
			assert.Equal(t, tc.wantCap, d.MemoryCap, "%v", d)
			assert.Equal(t, tc.wantWorkers, d.Workers, "%v", d)
			assert.Equal(t, tc.wantQueue, d.QueueSize, "%v", d)
			if tc.capped {
				assert.Contains(t, d.Reason, "capped at")
			} else {
				assert.NotContains(t, d.Reason, "capped at")
			}
		})
	}
}

func TestSizingDecisionString(t *testing.T) {
	d := SizingDecision{
		Profile: SizingProfileLowMemory, CPUs: 2, CI: true, CIVariable: "GITHUB_ACTIONS",
		MemoryLimit: 256 * sizingMiB, MemoryLimitSource: "cgroup2", MemoryAvailable: 1536 * sizingKiB,
		LowMemory: true, MemoryCap: 6, Workers: 2, QueueSize: 10, Reason: "a reason",
	}
	assert.Equal(t, `workers=2 queue=10 profile=low-memory cpus=2 ci=GITHUB_ACTIONS mem_limit=256.0MiB mem_source=cgroup2 mem_available=1.5MiB low_memory=true mem_cap=6 reason="a reason"`, d.String())

	d = SizingDecision{Profile: SizingProfileDefault, CPUs: 4, Workers: 10, QueueSize: 100}
	assert.Equal(t, `workers=10 queue=100 profile=default cpus=4 ci=no mem_limit=none`, d.String())

	d = decideSizing(sizingMachine{cpus: 16, files: sizingV2Files("4294967296", "0")}.probes())
	s := d.String()
	assert.True(t, strings.HasPrefix(s, "workers=32 queue=640 profile=high-performance cpus=16 ci=no mem_limit=4.0GiB mem_source=cgroup2"), s)
	assert.NotContains(t, s, "\n")

	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0B"}, {1023, "1023B"}, {1024, "1.0KiB"}, {300 * sizingKiB, "300.0KiB"},
		{sizingMiB, "1.0MiB"}, {512*sizingMiB - 1, "512.0MiB"}, {sizingGiB, "1.0GiB"}, {math.MaxInt64, "8589934592.0GiB"},
	} {
		assert.Equal(t, tc.want, formatBytes(tc.n))
	}
}

func TestSizingDecisionConfig(t *testing.T) {
	def := DefaultConfig()
	d := decideSizing(sizingMachine{cpus: 2, env: sizingEnv{"CI": "true"}}.probes())
	c := d.Config()
	assert.Equal(t, 4, c.Workers)
	assert.Equal(t, 20, c.QueueSize)
	// The other fields come from DefaultConfig.
	assert.Equal(t, def.EnablePriority, c.EnablePriority)
	assert.Equal(t, def.BackpressureMode, c.BackpressureMode)
	assert.Equal(t, def.MonitoringEnabled, c.MonitoringEnabled)
	assert.Equal(t, def.MetricsWindow, c.MetricsWindow)
	assert.Equal(t, def.TimeoutDuration, c.TimeoutDuration)
	assert.Equal(t, def.ShutdownTimeout, c.ShutdownTimeout)
	assert.Equal(t, def.StarvationLimit, c.StarvationLimit)

	zero := SizingDecision{}.Config()
	assert.Equal(t, def.Workers, zero.Workers)
	assert.Equal(t, def.QueueSize, zero.QueueSize)
}

// TestSizingRealProbes runs the probes of the machine the tests run on; the
// results depend on it, so it only checks that they are sane.
func TestSizingRealProbes(t *testing.T) {
	p := realSizingProbes()
	assert.GreaterOrEqual(t, p.cpus(), 1)
	assert.Equal(t, runtime.GOMAXPROCS(0), p.cpus())
	m, found := p.memory()
	if found {
		assert.Positive(t, m.Limit)
		assert.GreaterOrEqual(t, m.Available, int64(0))
		assert.LessOrEqual(t, m.Available, m.Limit)
	}

	d := DecideSizing()
	requireSaneSizing(t, d)
	t.Logf("this machine: %v", d)
	assert.Equal(t, runtime.GOMAXPROCS(0), d.CPUs)

	cfg := GetEnvironmentSpecificConfig()
	assert.GreaterOrEqual(t, cfg.Workers, 1)
	assert.LessOrEqual(t, cfg.Workers, 32)
	b, err := NewEventBus(cfg)
	require.NoError(t, err, "the config must be valid")
	b.Shutdown()
}

func TestGetEnvironmentSpecificConfigInCI(t *testing.T) {
	t.Setenv("CI", "true")
	cfg := GetEnvironmentSpecificConfig()
	d := DecideSizing()
	requireSaneSizing(t, d)
	assert.True(t, d.CI)
	assert.Equal(t, "CI", d.CIVariable)
	assert.Contains(t, []string{SizingProfileCI, SizingProfileLowMemory}, d.Profile)
	assert.LessOrEqual(t, cfg.Workers, 4)
	assert.Equal(t, cfg.Workers*5, cfg.QueueSize)
	def := DefaultConfig()
	assert.Equal(t, def.EnablePriority, cfg.EnablePriority)
	assert.Equal(t, def.BackpressureMode, cfg.BackpressureMode)
	assert.Equal(t, def.MonitoringEnabled, cfg.MonitoringEnabled)
}

func TestDecideSizingOutsideCI(t *testing.T) {
	for _, name := range ciVariables {
		t.Setenv(name, "false") // set and false: not CI
	}
	d := DecideSizing()
	requireSaneSizing(t, d)
	assert.False(t, d.CI)
	assert.NotEqual(t, SizingProfileCI, d.Profile)
}

// TestSizingGarbageNeverPanics feeds random bytes to every file the memory
// probe reads and random figures to its Go probes.
func TestSizingGarbageNeverPanics(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("0123456789 \n\t:-/max kBMemTotalAvailable\\cgroup2memory,\x00\xff")
	for i := 0; i < 500; i++ {
		p := sizingMachine{cpus: rng.IntN(70) - 3}.probes()
		mem := memlimit.Probe{}
		mem.ReadFile = func(name string) ([]byte, error) {
			if rng.IntN(5) == 0 {
				return nil, fs.ErrNotExist
			}
			b := make([]byte, rng.IntN(120))
			for j := range b {
				b[j] = alphabet[rng.IntN(len(alphabet))]
			}
			if rng.IntN(3) == 0 {
				b = []byte(itoa64(rng.Int64N(1<<40) - 1<<20))
			}
			return b, nil
		}
		mem.GoLimit = func() int64 { return rng.Int64() - math.MaxInt64/2 }
		mem.GoUsed = func() (int64, bool) { return rng.Int64() - math.MaxInt64/2, rng.IntN(2) == 0 }
		p.memory = mem.Smallest
		requireSaneSizing(t, decideSizing(p))
	}
}
