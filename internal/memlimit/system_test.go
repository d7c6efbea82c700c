package memlimit

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
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
