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

// Done closes only once no worker may still call the handler: a call
// that ends elsewhere does not close it while another worker is between
// its check and its call. And a second Unsubscribe, after the
// subscription was ended by another call still under way (its context,
// say), keeps the promise too: it returns only once that worker has
// reached its call.
func TestDoneAndASecondUnsubscribeWaitForAWorkerAboutToCall(t *testing.T) {
	b := newBus(t, Config{Workers: 1})
	s := b.On("work", func(Event) {})
	sh := s.stats.shard(0)
	sh.calls.Add(callWindow) // a worker has checked the subscription: active

	first := make(chan struct{})
	go func() {
		s.Unsubscribe()
		close(first)
	}()
	require.Eventually(t, s.closed.Load, testTimeout, time.Millisecond)
	second := make(chan struct{})
	go func() {
		s.Unsubscribe()
		close(second)
	}()
	select {
	case <-first:
		t.Fatal("Unsubscribe returned while a worker was about to call the handler")
	case <-second:
		t.Fatal("a second Unsubscribe returned while a worker was about to call the handler")
	case <-time.After(20 * time.Millisecond):
	}
	s.settle() // as another worker does when its call of the handler ends
	select {
	case <-s.Done():
		t.Fatal("Done closed while a worker was about to call the handler")
	default:
	}

	sh.calls.Add(callBegun - callWindow) // the worker calls the handler
	receive(t, first)
	receive(t, second)
	s.settle()
	select {
	case <-s.Done():
		t.Fatal("Done closed while the handler runs")
	default:
	}
	sh.ended.Add(1) // the call returns
	s.settle()
	receive(t, s.Done())
}
