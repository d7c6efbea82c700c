package memlimit

import (
	"io"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
)

// maxFileSize bounds how much of a /proc or /sys file is read. The values
// sought fit in a few hundred bytes; the bound keeps a strange file (or a
// mountinfo with thousands of mounts) from costing much memory.
const maxFileSize = 1 << 20

// System returns the Probe of the running process. Its ReadFile reads the
// real file system, at most the first MiB of a file; its GoLimit reads the
// runtime's limit with debug.SetMemoryLimit(-1), which leaves it unchanged;
// its GoUsed reads runtime/metrics.
//
// On a system without /proc and /sys (any OS but Linux) the files cannot
// be read, and only the Go limit can give a reading.
func System() Probe {
	return Probe{
		ReadFile: readFileBounded,
		GoLimit:  func() int64 { return debug.SetMemoryLimit(-1) }, // a negative value only reads it
		GoUsed:   goRuntimeUsed,
	}
}

// readFileBounded reads at most maxFileSize bytes of the file at name.
func readFileBounded(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxFileSize))
}

// goRuntimeUsed returns the memory the Go runtime has mapped and not
// released to the OS, which is what its memory limit bounds.
func goRuntimeUsed() (int64, bool) {
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
