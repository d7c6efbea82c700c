package eventbus

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Unsubscribe waits for a worker that has checked the subscription but not
// yet called the handler, so that no call begins after it returns; a
// worker that checks after Unsubscribe began is turned away.
func TestUnsubscribeWaitsForAWorkerAboutToCall(t *testing.T) {
	b := newBus(t, Config{Workers: 1})
	s := b.On("work", func(Event) {})
	sh := s.stats.shard(0)
	// As a worker does in deliver: count in, then check.
	enter := func() bool {
		if sh.calls.Add(callWindow); s.closed.Load() {
			sh.calls.Add(^uint64(callWindow - 1))
			return false
		}
		return true
	}
	leave := func() { sh.calls.Add(callBegun - callWindow) }
	require.True(t, enter(), "a worker checks the subscription: it is active")

	returned := make(chan struct{})
	go func() {
		s.Unsubscribe()
		close(returned)
	}()
	// Unsubscribe has closed the gate once a new check fails; it must
	// still be waiting for the worker that passed before.
	require.Eventually(t, func() bool {
		if enter() {
			leave()
			return false
		}
		return true
	}, testTimeout, time.Millisecond)
	select {
	case <-returned:
		t.Fatal("Unsubscribe returned while a worker was about to call the handler")
	case <-time.After(20 * time.Millisecond):
	}
	leave() // the worker calls the handler
	receive(t, returned)
	assert.False(t, enter(), "no call begins after Unsubscribe returned")
}
