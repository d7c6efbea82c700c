package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/brummer-dev/eventbus"
	"github.com/brummer-dev/eventbus/internal/loadgen"
)

// The tui scenario puts Brummer's terminal UI on the flood. Brummer's
// process manager adds each log line to a log store and then publishes
// log.line; the UI's log.line handler renders the log view from the store:
// it filters every stored line and formats the newest ones for the screen.
// The scenario runs that view two ways on the same flood: plain, rendering
// on every log line as Brummer does today, and coalesced, at most once per
// window with WithCoalesce, which still renders the last line of a burst.

// tuiMode says how a run subscribes the view.
type tuiMode int

const (
	tuiOff       tuiMode = iota // no view: the other scenarios
	tuiPlain                    // a plain subscription: a render per log line
	tuiCoalesced                // WithCoalesce(window, nil): one key, the whole view
)

func (m tuiMode) String() string {
	switch m {
	case tuiPlain:
		return "plain"
	case tuiCoalesced:
		return "coalesced"
	}
	return ""
}

// The view's defaults: Brummer keeps 10,000 log lines, and a tall terminal
// shows about 50 of them. A frame every 16 ms is 60 per second,
// as often as a terminal is worth redrawing.
const (
	defaultTUILines  = 10_000
	defaultTUIWindow = 16 * time.Millisecond
	tuiRows          = 50  // lines a frame shows
	tuiWidth         = 100 // columns; longer lines wrap
	tuiGutter        = 18  // columns before a line's text: its number and time
	maxTUILines      = 1_000_000
	maxTUIWindow     = 10 * time.Second
)

// tuiSearch is the view's search text: each render matches every stored
// line against it, as Brummer's log view does with its filter.
const tuiSearch = "/api/"

// The terminal's codes that highlight an error line.
const (
	tuiRed        = "\x1b[31m"
	tuiPlainColor = "\x1b[0m"
)

// storedLine is one line of the log store.
type storedLine struct {
	text string
	at   int64 // its publish time, in nanoseconds since the view's base
}

// logStore keeps the newest lines, appended by the publishers before they
// publish. A render reads a snapshot without holding the lock: lines are
// only ever appended to the slice, and when it is full the newest lines
// move to a new one, so the lines a snapshot covers never change. It holds
// at most twice keep lines, besides the arrays that snapshots still read.
type logStore struct {
	keep int

	mu    sync.Mutex
	lines []storedLine // the newest last
	total int64        // lines ever added: the newest line's number
}

func newLogStore(keep int) *logStore {
	return &logStore{keep: keep, lines: make([]storedLine, 0, 2*keep)}
}

// add stores a line of process published at at (since the base) and
// returns its number, counted from 1.
func (s *logStore) add(process string, at int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total++
	n := s.total
	if len(s.lines) == cap(s.lines) {
		fresh := make([]storedLine, s.keep-1, 2*s.keep)
		copy(fresh, s.lines[len(s.lines)-(s.keep-1):])
		s.lines = fresh
	}
	s.lines = append(s.lines, storedLine{text: lineText(process, n), at: at})
	return n
}

// view returns the newest keep lines (fewer at first) and the newest
// line's number.
func (s *logStore) view() ([]storedLine, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lines[max(len(s.lines)-s.keep, 0):], s.total
}

// count returns the number of lines stored so far.
func (s *logStore) count() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// lineText makes the text of the n-th line: an access log line of a
// development server, of a varied length, every tenth a server error.
func lineText(process string, n int64) string {
	var b strings.Builder
	b.Grow(80)
	b.WriteString(process)
	b.WriteString(" | ")
	switch n % 3 {
	case 0:
		b.WriteString("GET /api/items/")
	case 1:
		b.WriteString("POST /api/orders/")
	default:
		b.WriteString("GET /static/js/chunk-")
	}
	b.WriteString(strconv.FormatInt(n, 10))
	switch {
	case n%10 == 0:
		b.WriteString(" 500 Internal Server Error: connection refused (upstream db:5432)")
	case n%4 == 0:
		b.WriteString(" 404 Not Found")
	default:
		b.WriteString(" 200 OK")
	}
	b.WriteString(" in ")
	b.WriteString(strconv.FormatInt(n%97, 10))
	b.WriteString("ms")
	return b.String()
}

// tuiView is the view of one run: the store, the handler that renders, and
// what reached the screen.
type tuiView struct {
	mode   tuiMode
	window time.Duration
	store  *logStore
	base   time.Time
	bufs   sync.Pool // *[]byte frames, reused

	renders    atomic.Int64
	renderNS   atomic.Int64 // wall time
	renderCPU  atomic.Int64 // CPU time, or wall time where it cannot be read
	cpuGuessed atomic.Bool  // a render's CPU time could not be read

	mu       sync.Mutex
	shown    int64           // the newest line a frame has shown
	shownAge time.Duration   // that line's age when the frame showed it
	ages     []time.Duration // per line, publish to the end of the first render showing it
	unseen   int64           // lines that left the store before a frame showed them

	delivered atomic.Int64 // the newest line the tool's handler got: past the bus's queue
}

func newTUIView(mode tuiMode, window time.Duration, keep int) *tuiView {
	v := &tuiView{mode: mode, window: window, store: newLogStore(keep), base: time.Now()}
	v.bufs.New = func() any { b := make([]byte, 0, tuiRows*(tuiWidth+16)); return &b }
	return v
}

// subscribe subscribes the view to bus's log lines, the way its mode says.
func (v *tuiView) subscribe(bus *eventbus.EventBus) *eventbus.Subscription {
	opts := []eventbus.SubscribeOption{eventbus.WithName("tui")}
	if v.mode == tuiCoalesced {
		opts = append(opts, eventbus.WithCoalesce(v.window, nil))
	}
	return bus.On(eventbus.LogLine, v.render, opts...)
}

// publishing returns publish with the view's side of it: a log line goes
// into the store before it is published, as Brummer's process manager
// does, and carries its number as its ID.
func (v *tuiView) publishing(publish loadgen.Publish) loadgen.Publish {
	return func(ctx context.Context, ev eventbus.Event) {
		if ev.Type == eventbus.LogLine {
			n := v.store.add(ev.ProcessID, int64(ev.Timestamp.Sub(v.base)))
			ev.ID = strconv.FormatInt(n, 10)
		}
		publish(ctx, ev)
	}
}

// seen notes, for the tool's handler, the newest log line that got past
// the bus's queue: the view must end up showing it.
func (v *tuiView) seen(ev eventbus.Event) {
	if ev.Type != eventbus.LogLine {
		return
	}
	n, err := strconv.ParseInt(ev.ID, 10, 64)
	if err != nil {
		return
	}
	for d := v.delivered.Load(); n > d && !v.delivered.CompareAndSwap(d, n); d = v.delivered.Load() {
	}
}

// render is the view's handler: whichever line it was called for, it
// draws the newest state of the store. It measures its wall time, and the
// CPU time of its thread, which it holds meanwhile: renders running on
// several workers at once take turns on the CPUs, and their wall time then
// counts the waits too.
func (v *tuiView) render(eventbus.Event) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0, cpuOK := threadCPU()
	start := time.Now()
	lines, newest := v.store.view()
	bp := v.bufs.Get().(*[]byte)
	frame := drawLog((*bp)[:0], lines, newest)
	tuiSink.Add(uint64(len(frame)) + uint64(frame[len(frame)/2]))
	*bp = frame
	v.bufs.Put(bp)
	end := time.Now()
	cpu := end.Sub(start)
	if cpu1, ok := threadCPU(); ok && cpuOK {
		cpu = cpu1 - cpu0
	} else {
		v.cpuGuessed.Store(true)
	}
	v.renders.Add(1)
	v.renderNS.Add(int64(end.Sub(start)))
	v.renderCPU.Add(int64(cpu))
	v.frame(lines, newest, int64(end.Sub(v.base)))
}

// tuiSink keeps the compiler from dropping the frames.
var tuiSink atomic.Uint64

// frame records a frame that ended at end (since the base) showing lines,
// the newest of which is line newest. A frame shows a line first if no
// frame that ended before it showed a newer one.
func (v *tuiView) frame(lines []storedLine, newest, end int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if newest <= v.shown {
		return
	}
	first := newest - int64(len(lines)) + 1 // the number of lines[0]
	if v.shown+1 < first {
		v.unseen += first - (v.shown + 1)
		v.shown = first - 1
	}
	for n := v.shown + 1; n <= newest; n++ {
		v.ages = append(v.ages, time.Duration(end-lines[n-first].at))
	}
	v.shown = newest
	v.shownAge = time.Duration(end - lines[len(lines)-1].at)
}

// drawLog appends the log view's frame to buf: it matches every line
// against the search text, counting the errors among the matches, and
// formats the newest tuiRows matches under a status line, each with its
// number and publish time, errors highlighted, long lines wrapped. The
// work grows with the number of lines.
func drawLog(buf []byte, lines []storedLine, newest int64) []byte {
	var last [tuiRows]int // indexes of the newest matches, a ring
	matches, errs, height := 0, 0, 0
	for i := range lines {
		t := lines[i].text
		if !strings.Contains(t, tuiSearch) {
			continue
		}
		if strings.Contains(t, " 500 ") {
			errs++
		}
		// The screen rows the line takes, for the scroll bar: its width
		// in characters, wrapped.
		height += (tuiGutter + utf8.RuneCountInString(t) + tuiWidth - 1) / tuiWidth
		last[matches%tuiRows] = i
		matches++
	}
	buf = append(buf, "─ logs ─ "...)
	buf = strconv.AppendInt(buf, int64(matches), 10)
	buf = append(buf, " matching \""+tuiSearch+"\" of "...)
	buf = strconv.AppendInt(buf, int64(len(lines)), 10)
	buf = append(buf, " lines, "...)
	buf = strconv.AppendInt(buf, int64(errs), 10)
	buf = append(buf, " errors, "...)
	buf = strconv.AppendInt(buf, int64(height), 10)
	buf = append(buf, " rows\n"...)
	first := newest - int64(len(lines)) + 1
	rows := min(matches, tuiRows)
	for k := matches - rows; k < matches; k++ {
		l := &lines[last[k%tuiRows]]
		col := len(buf)
		buf = strconv.AppendInt(buf, first+int64(last[k%tuiRows]), 10)
		buf = append(buf, ' ')
		ms := l.at / int64(time.Millisecond)
		buf = appendClock(buf, ms)
		buf = append(buf, ' ')
		err := strings.Contains(l.text, " 500 ")
		if err {
			buf = append(buf, tuiRed...)
			col += len(tuiRed) // takes no room on the screen
		}
		for i := 0; i < len(l.text); i++ {
			if len(buf)-col == tuiWidth {
				buf = append(buf, "\n    "...)
				col = len(buf) - 4
			}
			buf = append(buf, l.text[i])
		}
		if err {
			buf = append(buf, tuiPlainColor...)
		}
		buf = append(buf, '\n')
	}
	return buf
}

// appendClock appends ms as minutes, seconds and milliseconds: 01:02.345.
func appendClock(buf []byte, ms int64) []byte {
	two := func(buf []byte, n int64) []byte { return append(buf, byte('0'+n/10%10), byte('0'+n%10)) }
	buf = two(buf, ms/60_000)
	buf = append(buf, ':')
	buf = two(buf, ms/1000%60)
	buf = append(buf, '.')
	return append(buf, byte('0'+ms/100%10), byte('0'+ms/10%10), byte('0'+ms%10))
}

// tuiResult is what the view of a tui run did.
type tuiResult struct {
	Mode   string        `json:"mode"`      // "plain" or "coalesced"
	Window time.Duration `json:"window_ns"` // coalesced: WithCoalesce's window
	Kept   int           `json:"kept_lines"`
	Rows   int           `json:"rows"`

	Lines         int64         `json:"lines"` // log lines stored, one per log line published
	Renders       int64         `json:"renders"`
	RendersPerSec float64       `json:"renders_per_sec"` // per second of the run, first publish to idle
	RenderTime    time.Duration `json:"render_time_ns"`  // all renders' wall time together
	RenderMean    time.Duration `json:"render_mean_ns"`  // a render's wall time
	// RenderCPU is the CPU time of all renders, read from their threads
	// (on Linux); where that cannot be read, CPUIsWall is set and it is
	// their wall time.
	RenderCPU   time.Duration `json:"render_cpu_ns"`
	CPUIsWall   bool          `json:"render_cpu_is_wall_time"`
	RenderShare float64       `json:"render_cpu_share"` // RenderCPU over the run's time on all CPUs, 0..1
	// Dropped counts the log lines whose event never reached the view:
	// the bus's queue dropped it, or the view's own buffer did.
	Dropped int64 `json:"lines_dropped"`
	// Age is, per line shown, the time from its Publish to the end of the
	// first render that showed it.
	Age waitFigures `json:"age"`
	// Unseen counts the lines no render showed: they left the store before
	// one did, or came after the last.
	Unseen        int64 `json:"unseen"`
	LastLine      int64 `json:"last_line"`      // the newest line stored
	LastShown     int64 `json:"last_shown"`     // the newest line a render showed
	LastDelivered int64 `json:"last_delivered"` // the newest line whose event got past the bus's queue
	// LastLineAge is the age of the flood's last line when a render first
	// showed it; 0 when none did.
	LastLineAge  time.Duration              `json:"last_line_age_ns"`
	Subscription eventbus.SubscriptionStats `json:"subscription"`
}

// result returns the view's figures at the end of run res, given its
// subscription's.
func (v *tuiView) result(st eventbus.SubscriptionStats, res *result) *tuiResult {
	v.mu.Lock()
	ages := slices.Clone(v.ages)
	shown, shownAge, unseen := v.shown, v.shownAge, v.unseen
	v.mu.Unlock()
	t := &tuiResult{
		Mode: v.mode.String(), Kept: v.store.keep, Rows: tuiRows,
		Lines:         v.store.count(),
		Renders:       v.renders.Load(),
		RenderTime:    time.Duration(v.renderNS.Load()),
		RenderCPU:     time.Duration(v.renderCPU.Load()),
		CPUIsWall:     v.cpuGuessed.Load(),
		Age:           waitsOf(ages),
		LastShown:     shown,
		LastDelivered: v.delivered.Load(),
		Subscription:  st,
	}
	if v.mode == tuiCoalesced {
		t.Window = v.window
	}
	t.LastLine = t.Lines
	t.Unseen = unseen + t.Lines - shown
	t.Dropped = t.Lines - st.Matched + st.Dropped
	if t.Lines > 0 && shown == t.Lines {
		t.LastLineAge = shownAge
	}
	if t.Renders > 0 {
		t.RenderMean = t.RenderTime / time.Duration(t.Renders)
	}
	if s := res.Elapsed.Seconds(); s > 0 {
		t.RendersPerSec = float64(t.Renders) / s
		t.RenderShare = t.RenderCPU.Seconds() / (s * float64(runtime.GOMAXPROCS(0)))
	}
	return t
}

// tuiChecks checks the view's counts: every log line the bus let through
// reached the view, each was rendered, coalesced or dropped by it, and
// the last frame shows the newest line that got through. A run cut short
// is checked for the first only: its shutdown may drop what was queued.
func tuiChecks(r *result) []check {
	t := r.TUI
	st := t.Subscription
	checks := []check{{
		Name: "tui: matched = rendered + coalesced + dropped",
		OK: st.Pending == 0 && st.Matched == st.Delivered+st.Coalesced+st.Dropped && st.Delivered == t.Renders &&
			(t.Mode == tuiCoalesced.String() || st.Coalesced == 0),
		Detail: fmt.Sprintf("%d = %d + %d + %d, pending %d, %d renders", st.Matched, st.Delivered, st.Coalesced, st.Dropped, st.Pending, t.Renders),
	}}
	if r.Interrupted {
		return checks
	}
	low := r.Levels[levelLow]
	return append(checks,
		check{
			Name:   "tui: the view got every log line the bus delivered",
			OK:     st.Matched == low.Delivered && t.Lines == low.Published,
			Detail: fmt.Sprintf("matched %d, log lines delivered %d; stored %d, published %d", st.Matched, low.Delivered, t.Lines, low.Published),
		},
		check{
			Name:   "tui: the last frame shows the newest line delivered",
			OK:     t.LastShown >= t.LastDelivered,
			Detail: fmt.Sprintf("shown up to line %d, delivered up to line %d", t.LastShown, t.LastDelivered),
		})
}
