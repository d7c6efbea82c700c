package eventbus

import "time"

// background is a goroutine that calls a function at a fixed interval until
// it is stopped: the monitor's sampler and the watchdog each run on one.
type background struct {
	quit chan struct{}
	done chan struct{}
}

// every starts a goroutine that calls f every interval.
func every(interval time.Duration, f func()) *background {
	g := &background{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(g.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-g.quit:
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
func (g *background) stop() {
	close(g.quit)
	<-g.done
}
