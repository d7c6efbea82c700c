package memlimit

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSystem runs the probes of the machine the tests run on; the figures
// depend on it, so it only checks that they are sane.
func TestSystem(t *testing.T) {
	p := System()
	assert.Positive(t, p.GoLimit(), "math.MaxInt64 when there is no limit")
	used, ok := p.GoUsed()
	assert.True(t, ok)
	assert.Positive(t, used)
	r, ok := p.Smallest()
	if runtime.GOOS == "linux" {
		assert.True(t, ok, "Linux has at least /proc/meminfo")
	}
	if ok {
		requireValidReading(t, r)
		t.Logf("this machine: %+v", r)
	}
}

func TestReadFileBounded(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	require.NoError(t, os.WriteFile(small, []byte("max\n"), 0o600))
	data, err := readFileBounded(small)
	require.NoError(t, err)
	assert.Equal(t, "max\n", string(data))

	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, bytes.Repeat([]byte("x"), maxFileSize+4096), 0o600))
	data, err = readFileBounded(big)
	require.NoError(t, err)
	assert.Len(t, data, maxFileSize, "only the first MiB is read")

	_, err = readFileBounded(filepath.Join(dir, "absent"))
	assert.True(t, errors.Is(err, fs.ErrNotExist), "%v", err)
}
