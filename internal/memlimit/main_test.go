package memlimit

import (
	"testing"

	"go.uber.org/goleak"
)

// The probe starts no goroutine; goleak holds it to that.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
