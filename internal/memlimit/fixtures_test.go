package memlimit

import (
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	kib = int64(1) << 10
	mib = int64(1) << 20
	gib = int64(1) << 30
)

// memFiles is an in-memory file system for ReadFile: absolute path to
// contents. Reading any other path fails with fs.ErrNotExist.
type memFiles map[string]string

func (m memFiles) readFile(name string) ([]byte, error) {
	if s, ok := m[name]; ok {
		return []byte(s), nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// rootsDir holds the fixture trees; testdata/README.md describes each.
var rootsDir = filepath.Join("testdata", "roots")

// rootFiles is a ReadFile that reads the fixture tree testdata/roots/name
// as if it were "/".
func rootFiles(name string) func(string) ([]byte, error) {
	root := filepath.Join(rootsDir, name)
	return func(p string) ([]byte, error) {
		return os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
	}
}

// filesProbe is a Probe over files with no Go memory limit.
func filesProbe(files memFiles) Probe {
	return Probe{
		ReadFile: files.readFile,
		GoLimit:  func() int64 { return math.MaxInt64 },
		GoUsed:   func() (int64, bool) { return 0, true },
	}
}

// fixtureSeeds returns the contents of every file under testdata/roots
// whose base name is one of names, for a fuzz target's seed corpus.
func fixtureSeeds(f *testing.F, names ...string) [][]byte {
	f.Helper()
	var out [][]byte
	err := filepath.WalkDir(rootsDir, func(p string, e fs.DirEntry, err error) error {
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

// requireValidReading checks what Probe.Smallest promises of a reading it
// returns with true.
func requireValidReading(t testing.TB, r Reading) {
	t.Helper()
	require.Positive(t, r.Limit, "%+v", r)
	require.GreaterOrEqual(t, r.Available, int64(0), "%+v", r)
	require.LessOrEqual(t, r.Available, r.Limit, "%+v", r)
	require.Contains(t, []Source{SourceCgroup2, SourceCgroup1, SourceGo, SourceMeminfo}, r.Source, "%+v", r)
	require.NotEmpty(t, r.Where, "%+v", r)
}
