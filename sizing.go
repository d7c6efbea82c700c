package eventbus

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
)

// CalculateOptimalWorkers returns the default worker count: 2.5 workers per
// CPU the process may use, truncated, and bounded to 4..32.
//
// The CPU count is runtime.GOMAXPROCS(0), not runtime.NumCPU(): since Go
// 1.25 GOMAXPROCS follows a container's CPU limit while NumCPU reports the
// host's cores, so NumCPU would over-size pools in containers.
func CalculateOptimalWorkers() int {
	return optimalWorkers(runtime.GOMAXPROCS(0))
}

func optimalWorkers(cpus int) int {
	cpus = min(max(cpus, 1), 64) // 64 CPUs already give the upper bound; this keeps cpus*5 from overflowing
	w := cpus * 5 / 2
	return min(max(w, 4), 32)
}

// The values of SizingDecision.Profile.
const (
	// SizingProfileDefault is CalculateOptimalWorkers() workers and a queue
	// of ten events per worker, as in DefaultConfig.
	SizingProfileDefault = "default"
	// SizingProfileCI is at most 4 workers and a queue of five events per
	// worker, for continuous-integration runners that share their CPUs.
	SizingProfileCI = "ci"
	// SizingProfileLowMemory is at most 2 workers and a queue of five events
	// per worker, for processes that may use less than 512 MiB.
	SizingProfileLowMemory = "low-memory"
	// SizingProfileHighPerformance is four workers per CPU up to 32 and a
	// queue of twenty events per worker, for machines with 8 CPUs or more
	// outside CI.
	SizingProfileHighPerformance = "high-performance"
)

const (
	// lowMemoryThreshold: a memory limit under it selects the low-memory
	// profile.
	lowMemoryThreshold = 512 << 20
	// memoryPerWorker is the memory one worker needs under the memory cap.
	memoryPerWorker = 256 << 10
	// cgroupUnlimited: a cgroup limit at or above it means "no limit". The
	// cgroup v1 "unlimited" value is math.MaxInt64 rounded down to the page
	// size (9223372036854771712 with 4 KiB pages), far above it.
	cgroupUnlimited = 1 << 62
	// highPerformanceCPUs is the CPU count from which the high-performance
	// profile applies.
	highPerformanceCPUs = 8
	// maxSizingFile bounds how much of a /proc or /sys file is read.
	maxSizingFile = 1 << 20
)

// SizingDecision says how GetEnvironmentSpecificConfig sized a bus and why,
// so that a program can log it. DecideSizing returns one.
//
// MemoryLimit is positive exactly when some memory limit was found; when it
// is 0, MemoryLimitSource is empty and MemoryAvailable, LowMemory and
// MemoryCap are zero too.
type SizingDecision struct {
	// Profile is the profile that set Workers and QueueSize: one of
	// SizingProfileDefault ("default"), SizingProfileCI ("ci"),
	// SizingProfileLowMemory ("low-memory") and
	// SizingProfileHighPerformance ("high-performance").
	Profile string

	// CPUs is the number of CPUs the process may use: runtime.GOMAXPROCS(0).
	CPUs int

	// CI reports whether a continuous-integration environment variable is
	// set to a true value, and CIVariable names the first one found (empty
	// when CI is false).
	CI         bool
	CIVariable string

	// MemoryLimit is the smallest memory limit found, in bytes, or 0 when
	// none could be read. MemoryLimitSource names where it came from:
	// "cgroup2" (memory.max), "cgroup1" (memory.limit_in_bytes), "go" (the
	// Go runtime's memory limit, GOMEMLIMIT or debug.SetMemoryLimit) or
	// "meminfo" (MemTotal in /proc/meminfo); empty when MemoryLimit is 0.
	MemoryLimit       int64
	MemoryLimitSource string

	// MemoryAvailable is the memory still available under MemoryLimit, in
	// bytes: the limit minus the current usage of the same source (for a
	// cgroup, the least headroom of the cgroup and of its limited
	// ancestors; for "meminfo", MemAvailable). It is the whole limit when
	// the usage cannot be read, and 0 when there is no limit or nothing is
	// left.
	MemoryAvailable int64

	// LowMemory reports whether MemoryLimit is positive and under 512 MiB.
	LowMemory bool

	// MemoryCap is the largest worker count the available memory allows:
	// one worker per 256 KiB of MemoryAvailable, at least 1 (and at most
	// WorkerLimit). It is 0, meaning no cap, when MemoryLimit is 0.
	MemoryCap int

	// Workers and QueueSize are the sizes chosen: the profile's, with
	// Workers then lowered to MemoryCap when that is smaller and QueueSize
	// following Workers. Workers is always 1..32 and QueueSize at least
	// Workers.
	Workers   int
	QueueSize int

	// Reason explains the decision in one English sentence.
	Reason string
}

// String returns the decision on one line, for a log: the chosen sizes
// first, then the inputs and the reason, as in
//
//	workers=4 queue=20 profile=ci cpus=2 ci=GITHUB_ACTIONS mem_limit=none reason="..."
func (d SizingDecision) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "workers=%d queue=%d profile=%s cpus=%d", d.Workers, d.QueueSize, d.Profile, d.CPUs)
	if d.CI {
		fmt.Fprintf(&b, " ci=%s", d.CIVariable)
	} else {
		b.WriteString(" ci=no")
	}
	if d.MemoryLimit > 0 {
		fmt.Fprintf(&b, " mem_limit=%s mem_source=%s mem_available=%s low_memory=%t mem_cap=%d",
			formatBytes(d.MemoryLimit), d.MemoryLimitSource, formatBytes(d.MemoryAvailable), d.LowMemory, d.MemoryCap)
	} else {
		b.WriteString(" mem_limit=none")
	}
	if d.Reason != "" {
		fmt.Fprintf(&b, " reason=%q", d.Reason)
	}
	return b.String()
}

// Config returns DefaultConfig() with Workers and QueueSize set to the
// decision's. A zero SizingDecision (Workers 0) changes nothing: it returns
// DefaultConfig() as it is.
func (d SizingDecision) Config() Config {
	c := DefaultConfig()
	if d.Workers > 0 {
		c.Workers = d.Workers
		c.QueueSize = d.QueueSize
	}
	return c
}

// DecideSizing looks at the machine and the environment and decides the
// worker count and queue size of GetEnvironmentSpecificConfig.
//
// It reads the CPU count (runtime.GOMAXPROCS(0)), the CI environment
// variables, and the memory limits: the cgroup v2 and v1 limits of the
// process's own cgroup and its ancestors (found through /proc/self/cgroup
// and /proc/self/mountinfo, falling back to the cgroup root under
// /sys/fs/cgroup), the Go memory limit, and the total RAM in /proc/meminfo.
// The smallest of them is the memory limit.
//
// The profiles are tried in this order, and the first that applies wins:
//
//  1. low memory, when the memory limit is under 512 MiB: the default
//     count capped at 2 workers, queue 5 per worker;
//  2. CI, when a CI variable is set: the default count capped at 4
//     workers, queue 5 per worker;
//  3. high performance, with 8 CPUs or more: 4 workers per CPU up to 32,
//     queue 20 per worker;
//  4. otherwise the default: CalculateOptimalWorkers(), queue 10 per
//     worker.
//
// So low memory beats CI, which beats high performance; high performance
// never applies in CI or with low memory. After the profile, the memory cap
// applies: never more than one worker per 256 KiB of the memory still
// available under the limit, and never fewer than 1. QueueSize is then the
// profile's events per worker times the final Workers.
//
// The CI variables are CI, CONTINUOUS_INTEGRATION, GITHUB_ACTIONS,
// GITLAB_CI, BUILDKITE, CIRCLECI, TRAVIS, DRONE, APPVEYOR, TF_BUILD,
// SEMAPHORE, BUDDY, JENKINS_URL, HUDSON_URL, TEAMCITY_VERSION,
// BITBUCKET_BUILD_NUMBER, CODEBUILD_BUILD_ID and HEROKU_TEST_RUN_ID. A
// variable counts when it is set to anything but an empty string, "0",
// "false", "no" or "off" (ignoring case and surrounding spaces); each is
// looked at on its own, so CI=false does not hide GITHUB_ACTIONS=true.
//
// DecideSizing never fails and never panics: a file that is missing,
// unreadable or malformed, a negative or non-numeric value, or a system
// without /proc and /sys (any OS but Linux) only means that source gives no
// limit. With no limit at all, the memory is taken as not low and nothing
// is capped.
func DecideSizing() SizingDecision {
	return decideSizing(realSizingProbes())
}

// GetEnvironmentSpecificConfig returns DefaultConfig() with Workers and
// QueueSize chosen for the environment by DecideSizing: fewer workers in CI
// and with little memory, more on machines with 8 CPUs or more. Workers is
// always 1..32 and the result is always a valid Config. It never fails:
// what cannot be read is left out of the decision (see DecideSizing).
//
// It is DecideSizing().Config(). To log why the bus got its size, call
// DecideSizing, log the decision, and use its Config method.
func GetEnvironmentSpecificConfig() Config {
	return DecideSizing().Config()
}

// sizingProbes are the inputs of the sizing decision. The real ones read
// the machine; tests replace them.
type sizingProbes struct {
	// cpus returns the number of CPUs the process may use.
	cpus func() int
	// getenv is os.LookupEnv.
	getenv func(string) (string, bool)
	// readFile reads a file of /proc or /sys.
	readFile func(string) ([]byte, error)
	// goMemLimit returns the Go runtime's memory limit, math.MaxInt64 when
	// there is none.
	goMemLimit func() int64
	// goMemUsed returns the memory the Go runtime counts against its limit.
	goMemUsed func() (int64, bool)
}

func realSizingProbes() sizingProbes {
	return sizingProbes{
		cpus:       func() int { return runtime.GOMAXPROCS(0) },
		getenv:     os.LookupEnv,
		readFile:   readSizingFile,
		goMemLimit: func() int64 { return debug.SetMemoryLimit(-1) }, // a negative value only reads it
		goMemUsed:  goRuntimeMemUsed,
	}
}

// readSizingFile reads at most maxSizingFile bytes of the file at name.
func readSizingFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxSizingFile))
}

// goRuntimeMemUsed returns the memory the Go runtime has mapped and not
// released to the OS, which is what its memory limit bounds.
func goRuntimeMemUsed() (int64, bool) {
	s := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0, false
	}
	total, released := s[0].Value.Uint64(), s[1].Value.Uint64()
	if released > total || total-released > math.MaxInt64 {
		return 0, false
	}
	return int64(total - released), true
}

// decideSizing is DecideSizing with the given probes.
func decideSizing(p sizingProbes) SizingDecision {
	d := SizingDecision{CPUs: max(p.cpus(), 1)}
	d.CI, d.CIVariable = detectCI(p.getenv)
	mem, haveMem := probeMemory(p)
	if haveMem {
		d.MemoryLimit = mem.limit
		d.MemoryLimitSource = mem.source
		d.MemoryAvailable = mem.available
		d.LowMemory = mem.limit < lowMemoryThreshold
	}

	base := optimalWorkers(d.CPUs)
	var perWorker int
	var reason string
	switch {
	case d.LowMemory:
		d.Profile = SizingProfileLowMemory
		d.Workers, perWorker = min(base, 2), 5
		reason = fmt.Sprintf("memory limit %s (%s) is under 512MiB: at most 2 workers, queue 5 per worker",
			formatBytes(mem.limit), mem.where)
		if d.CI {
			reason += " (CI also detected via " + d.CIVariable + "; low memory wins)"
		}
	case d.CI:
		d.Profile = SizingProfileCI
		d.Workers, perWorker = min(base, 4), 5
		reason = "CI detected via " + d.CIVariable + ": at most 4 workers, queue 5 per worker"
	case d.CPUs >= highPerformanceCPUs:
		d.Profile = SizingProfileHighPerformance
		d.Workers, perWorker = min(d.CPUs, 32/4)*4, 20 // min(CPUs*4, 32) without overflow
		reason = fmt.Sprintf("%d CPUs (8 or more), not CI, memory not low: 4 workers per CPU up to 32, queue 20 per worker", d.CPUs)
	default:
		d.Profile = SizingProfileDefault
		d.Workers, perWorker = base, 10
		reason = fmt.Sprintf("%d CPUs: 2.5 workers per CPU bounded to 4..32, queue 10 per worker", d.CPUs)
	}

	if haveMem {
		d.MemoryCap = memoryCap(d.MemoryAvailable)
		if d.Workers > d.MemoryCap {
			d.Workers = d.MemoryCap
			reason += fmt.Sprintf("; only %s available under the memory limit (%s): capped at %d workers, one per 256KiB",
				formatBytes(d.MemoryAvailable), mem.where, d.MemoryCap)
		}
	}
	d.QueueSize = d.Workers * perWorker
	d.Reason = reason
	return d
}

// memoryCap returns the number of workers that available bytes allow: one
// per memoryPerWorker, at least 1 and at most WorkerLimit.
func memoryCap(available int64) int {
	n := available / memoryPerWorker
	return int(min(max(n, 1), WorkerLimit))
}

// detectCI returns whether a CI variable is set to a true value, and the
// first such variable.
func detectCI(getenv func(string) (string, bool)) (bool, string) {
	for _, name := range ciVariables {
		if v, ok := getenv(name); ok && ciValueTrue(v) {
			return true, name
		}
	}
	return false, ""
}

// ciVariables are the environment variables that reveal a CI runner, the
// generic ones first.
var ciVariables = []string{
	"CI",
	"CONTINUOUS_INTEGRATION",
	"GITHUB_ACTIONS",
	"GITLAB_CI",
	"BUILDKITE",
	"CIRCLECI",
	"TRAVIS",
	"DRONE",
	"APPVEYOR",
	"TF_BUILD",
	"SEMAPHORE",
	"BUDDY",
	"JENKINS_URL",
	"HUDSON_URL",
	"TEAMCITY_VERSION",
	"BITBUCKET_BUILD_NUMBER",
	"CODEBUILD_BUILD_ID",
	"HEROKU_TEST_RUN_ID",
}

// ciValueTrue reports whether the value of a CI variable means "in CI":
// anything but "", "0", "false", "no" and "off", ignoring case and spaces.
func ciValueTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "false", "no", "off":
		return false
	}
	return true
}

// memoryReading is one memory limit and the memory still available under
// it.
type memoryReading struct {
	limit     int64  // > 0
	available int64  // 0..limit
	source    string // see SizingDecision.MemoryLimitSource
	where     string // the file or setting it came from, for the reason
}

// probeMemory returns the smallest memory limit of all sources, the first
// source winning a tie, and false when no source gives one.
func probeMemory(p sizingProbes) (memoryReading, bool) {
	var best memoryReading
	found := false
	consider := func(r memoryReading, ok bool) {
		if ok && (!found || r.limit < best.limit) {
			best, found = r, true
		}
	}
	procCgroup, _ := p.readFile("/proc/self/cgroup")
	v2Path, v1Path := parseProcCgroup(procCgroup)
	mountinfo, _ := p.readFile("/proc/self/mountinfo")
	mounts, err := parseMountinfo(mountinfo)
	if err != nil || len(mounts) == 0 {
		// No mount table: assume the usual places.
		mounts = []cgroupMount{
			{v2: true, root: "/", point: "/sys/fs/cgroup"},
			{v2: false, root: "/", point: "/sys/fs/cgroup/memory"},
		}
	}
	consider(cgroupMemory(p, pickMount(mounts, true, v2Path), v2Path, true))
	consider(cgroupMemory(p, pickMount(mounts, false, v1Path), v1Path, false))
	consider(goMemory(p))
	consider(meminfoMemory(p))
	return best, found
}

// goMemory reads the Go runtime's memory limit.
func goMemory(p sizingProbes) (memoryReading, bool) {
	limit := p.goMemLimit()
	if limit <= 0 || limit == math.MaxInt64 {
		return memoryReading{}, false
	}
	r := memoryReading{limit: limit, available: limit, source: "go", where: "Go memory limit"}
	if used, ok := p.goMemUsed(); ok && used >= 0 {
		r.available = max(limit-used, 0)
	}
	return r, true
}

// meminfoMemory reads the total RAM from /proc/meminfo.
func meminfoMemory(p sizingProbes) (memoryReading, bool) {
	data, err := p.readFile("/proc/meminfo")
	if err != nil {
		return memoryReading{}, false
	}
	m, ok := parseMeminfo(data)
	if !ok {
		return memoryReading{}, false
	}
	r := memoryReading{limit: m.total, available: m.total, source: "meminfo", where: "/proc/meminfo MemTotal"}
	if m.available >= 0 {
		r.available = min(m.available, m.total)
	}
	return r, true
}

// meminfo holds the figures of /proc/meminfo that sizing uses, in bytes.
type meminfo struct {
	total     int64 // MemTotal, > 0
	available int64 // MemAvailable, else MemFree; -1 when neither is there
}

// parseMeminfo parses the text of /proc/meminfo. It needs a positive
// MemTotal; values are in kB (KiB) or, without a unit, in bytes. Lines it
// cannot parse are skipped.
func parseMeminfo(data []byte) (meminfo, bool) {
	m := meminfo{available: -1}
	free := int64(-1)
	for _, line := range strings.Split(string(data), "\n") {
		key, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key = strings.TrimSpace(key)
		if key != "MemTotal" && key != "MemAvailable" && key != "MemFree" {
			continue
		}
		v, ok := parseMeminfoValue(rest)
		if !ok {
			continue
		}
		switch key {
		case "MemTotal":
			m.total = v
		case "MemAvailable":
			m.available = v
		case "MemFree":
			free = v
		}
	}
	if m.total <= 0 {
		return meminfo{}, false
	}
	if m.available < 0 {
		m.available = free
	}
	return m, true
}

// parseMeminfoValue parses " 16384 kB" into bytes.
func parseMeminfoValue(s string) (int64, bool) {
	f := strings.Fields(s)
	if len(f) == 0 || len(f) > 2 {
		return 0, false
	}
	v, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || v < 0 {
		return 0, false
	}
	if len(f) == 2 {
		if !strings.EqualFold(f[1], "kB") {
			return 0, false
		}
		if v > math.MaxInt64/1024 {
			return 0, false
		}
		v *= 1024
	}
	return v, true
}

// cgroupMount is a cgroup file system in /proc/self/mountinfo: the cgroup
// v2 hierarchy, or a v1 hierarchy with the memory controller.
type cgroupMount struct {
	v2    bool
	root  string // the cgroup shown at point
	point string // where it is mounted
}

// parseMountinfo returns the cgroup mounts of the text of
// /proc/self/mountinfo that sizing can use: every cgroup2 mount and every
// cgroup (v1) mount with the memory controller. Lines it cannot parse are
// skipped; it fails only when data is empty.
func parseMountinfo(data []byte) ([]cgroupMount, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("empty mountinfo")
	}
	var mounts []cgroupMount
	for _, line := range strings.Split(string(data), "\n") {
		// 36 35 98:0 /root /mount/point rw,noatime master:1 - cgroup cgroup rw,memory
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+3 >= len(f) {
			continue
		}
		m := cgroupMount{root: unescapeMountinfo(f[3]), point: unescapeMountinfo(f[4])}
		if !strings.HasPrefix(m.root, "/") || !strings.HasPrefix(m.point, "/") {
			continue
		}
		switch f[sep+1] {
		case "cgroup2":
			m.v2 = true
		case "cgroup":
			if !hasMemoryController(f[sep+3]) {
				continue
			}
		default:
			continue
		}
		mounts = append(mounts, m)
	}
	return mounts, nil
}

// hasMemoryController reports whether a comma-separated list of cgroup
// controllers or mount options names "memory".
func hasMemoryController(list string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == "memory" {
			return true
		}
	}
	return false
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of a path in
// /proc/self/mountinfo. A malformed escape is kept as it is.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] <= '3' && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// pickMount returns the mount of the wanted version whose root holds
// cgPath, else the first of that version, else the usual place.
func pickMount(mounts []cgroupMount, v2 bool, cgPath string) cgroupMount {
	var first *cgroupMount
	for i := range mounts {
		m := &mounts[i]
		if m.v2 != v2 {
			continue
		}
		if first == nil {
			first = m
		}
		if cgPath != "" && pathWithin(cgPath, m.root) {
			return *m
		}
	}
	if first != nil {
		return *first
	}
	if v2 {
		return cgroupMount{v2: true, root: "/", point: "/sys/fs/cgroup"}
	}
	return cgroupMount{root: "/", point: "/sys/fs/cgroup/memory"}
}

// pathWithin reports whether p is dir or below it.
func pathWithin(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}

// parseProcCgroup returns the process's cgroup v2 path and cgroup v1
// memory path from the text of /proc/self/cgroup, each empty when absent.
// Lines it cannot parse are skipped.
func parseProcCgroup(data []byte) (v2, v1Memory string) {
	for _, line := range strings.Split(string(data), "\n") {
		// hierarchy-ID:controller-list:cgroup-path
		id, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		controllers, p, ok := strings.Cut(rest, ":")
		if !ok || !strings.HasPrefix(p, "/") {
			continue
		}
		p = strings.TrimRight(p, "\r")
		switch {
		case id == "0" && controllers == "":
			if v2 == "" {
				v2 = p
			}
		case hasMemoryController(controllers):
			if v1Memory == "" {
				v1Memory = p
			}
		}
	}
	return v2, v1Memory
}

// cgroupMemory reads the memory limit of the cgroup at cgPath (the root
// when empty) in the hierarchy mounted by m, and of its ancestors up to the
// mount point. The limit is the smallest found; the available memory is
// the least headroom (limit minus usage) of the limited cgroups.
func cgroupMemory(p sizingProbes, m cgroupMount, cgPath string, v2 bool) (memoryReading, bool) {
	limitFile, usageFile, source := "memory.limit_in_bytes", "memory.usage_in_bytes", "cgroup1"
	if v2 {
		limitFile, usageFile, source = "memory.max", "memory.current", "cgroup2"
	}
	rel := "/"
	if cgPath != "" && pathWithin(cgPath, m.root) {
		rel = strings.TrimPrefix(cgPath, m.root)
	}
	mount := path.Clean(m.point)
	// Cleaning "/"+rel first removes any ".." that would climb out of the
	// mount.
	dir := path.Join(mount, path.Clean("/"+rel))

	var r memoryReading
	found := false
	for range 256 { // a bound on the depth, in case of a pathological path
		if limit, ok := readCgroupLimit(p, path.Join(dir, limitFile)); ok {
			avail := limit
			if used, ok := readCgroupUsage(p, path.Join(dir, usageFile)); ok {
				avail = max(limit-used, 0)
			}
			if !found || limit < r.limit {
				r.limit = limit
				r.where = path.Join(dir, limitFile)
			}
			if !found || avail < r.available {
				r.available = avail
			}
			found = true
		}
		if dir == mount || dir == "/" {
			break
		}
		dir = path.Dir(dir)
	}
	if !found {
		return memoryReading{}, false
	}
	r.source = source
	r.available = min(r.available, r.limit)
	return r, true
}

func readCgroupLimit(p sizingProbes, name string) (int64, bool) {
	data, err := p.readFile(name)
	if err != nil {
		return 0, false
	}
	limit, limited, err := parseCgroupLimit(data)
	return limit, err == nil && limited
}

func readCgroupUsage(p sizingProbes, name string) (int64, bool) {
	data, err := p.readFile(name)
	if err != nil {
		return 0, false
	}
	used, err := parseCgroupUsage(data)
	return used, err == nil
}

// parseCgroupLimit parses the contents of a cgroup memory limit file
// (v2 memory.max or v1 memory.limit_in_bytes), surrounding white space
// allowed. "max", and any value of 2^62 or more (the v1 "unlimited" value
// is about 2^63), give limited false. A value that is not a positive
// decimal integer is an error.
func parseCgroupLimit(data []byte) (limit int64, limited bool, err error) {
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return 0, false, nil
	}
	u, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("cgroup memory limit %q: not a number or \"max\"", truncateForError(s))
	}
	if u == 0 {
		return 0, false, fmt.Errorf("cgroup memory limit is 0")
	}
	if u >= cgroupUnlimited {
		return 0, false, nil
	}
	return int64(u), true, nil
}

// parseCgroupUsage parses the contents of a cgroup memory usage file (v2
// memory.current or v1 memory.usage_in_bytes): a non-negative decimal
// integer below 2^63, surrounding white space allowed.
func parseCgroupUsage(data []byte) (int64, error) {
	s := strings.TrimSpace(string(data))
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("cgroup memory usage %q: not a non-negative number", truncateForError(s))
	}
	return v, nil
}

func truncateForError(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// formatBytes formats n bytes with a binary unit, as in "256.0MiB".
func formatBytes(n int64) string {
	const (
		kib = 1 << 10
		mib = 1 << 20
		gib = 1 << 30
	)
	switch {
	case n >= gib:
		return strconv.FormatFloat(float64(n)/gib, 'f', 1, 64) + "GiB"
	case n >= mib:
		return strconv.FormatFloat(float64(n)/mib, 'f', 1, 64) + "MiB"
	case n >= kib:
		return strconv.FormatFloat(float64(n)/kib, 'f', 1, 64) + "KiB"
	}
	return strconv.FormatInt(n, 10) + "B"
}
