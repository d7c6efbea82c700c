package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
	"unicode/utf8"
)

// progress reports the runs as they go. On a terminal it keeps one line
// up to date (rewritten in place every refresh); elsewhere it writes one
// plain line per finished run, which reads well in a CI log.
type progress struct {
	w    io.Writer
	live bool

	mu     sync.Mutex
	label  string
	source *liveRun
	shown  bool // a live line is on the screen

	stopCh chan struct{}
	done   chan struct{}
}

const progressRefresh = 200 * time.Millisecond

// progressWidth bounds the live line: a line that wraps can no longer be
// rewritten with a carriage return.
const progressWidth = 78

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}

func newProgress(w io.Writer, live bool) *progress {
	p := &progress{w: w, live: live, stopCh: make(chan struct{}), done: make(chan struct{})}
	if !live {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(progressRefresh)
		defer t.Stop()
		for {
			select {
			case <-p.stopCh:
				return
			case <-t.C:
				p.redraw()
			}
		}
	}()
	return p
}

// begin announces a run; the live line shows its counts from source once
// the run has started.
func (p *progress) begin(label string) {
	p.mu.Lock()
	p.label, p.source = label, nil
	p.mu.Unlock()
	p.redraw()
}

// attach gives the run's counts to the live line.
func (p *progress) attach(l *liveRun) {
	p.mu.Lock()
	p.source = l
	p.mu.Unlock()
}

// finish reports the end of a run with a one-line summary.
func (p *progress) finish(summary string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.source = nil
	if p.live {
		p.drawLocked(p.label + ": " + summary)
		return
	}
	fmt.Fprintf(p.w, "%s: %s\n", p.label, summary)
}

func (p *progress) redraw() {
	if !p.live {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	line := p.label
	if p.source != nil {
		line += ": " + p.source.status()
	} else {
		line += ": starting"
	}
	p.drawLocked(line)
}

func (p *progress) drawLocked(line string) {
	if utf8.RuneCountInString(line) > progressWidth {
		r := []rune(line)
		line = string(r[:progressWidth-1]) + "…"
	}
	fmt.Fprint(p.w, "\r\x1b[K"+line)
	p.shown = true
}

// close stops the refresh and clears the live line, so that the report
// starts on a clean line.
func (p *progress) close() {
	if !p.live {
		return
	}
	close(p.stopCh)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}
