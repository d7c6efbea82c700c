package eventbus

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test in the package must leave no goroutine behind: a bus that is
// shut down has stopped all of its workers and its sampler.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
