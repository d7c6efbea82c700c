package eventbus

import "time"

// ticker is a goroutine that calls a function at a fixed interval until
// it is stopped: the monitor's sampler and the watchdog each run on one.
type ticker struct {
	stopping chan struct{} // closed to end the goroutine
	done     chan struct{} // closed when it has ended
}

// every starts a goroutine that calls f every interval.
func every(interval time.Duration, f func()) *ticker {
	g := &ticker{stopping: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(g.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-g.stopping:
				return
			case <-t.C:
				f()
			}
		}
	}()
	return g
}

// stop ends the goroutine and waits for it; a call of f in progress
// finishes first.
func (g *ticker) stop() {
	g.quit()
	<-g.done
}

// quit asks the goroutine to end after the call of f in progress, if
// any, without waiting for it; done is closed when it has ended. It must
// be called once, and stop not at all.
func (g *ticker) quit() { close(g.stopping) }
