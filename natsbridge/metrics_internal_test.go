package natsbridge

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// nats.go's RemoveStatusListener closes the channel only when no status is
// waiting in it; the listener must end all the same.
func TestConnStateStopsWithAStatusWaiting(t *testing.T) {
	var c connState
	c.ch = make(chan nats.Status, 10)
	c.listen()
	c.ch <- nats.RECONNECTING
	c.ch <- nats.CONNECTED // not closed, as after RemoveStatusListener took a third
	halted := make(chan struct{})
	go func() { c.halt(); close(halted) }()
	select {
	case <-halted:
	case <-time.After(testTimeout):
		t.Fatal("the status listener did not end")
	}
}
