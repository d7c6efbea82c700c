// Brummer simulates the event traffic of Brummer, the process manager the
// event bus is built for, and shows how the bus holds up: a log flood
// several times larger than the worker pool can handle, process starts and
// exits every 5 ms and a detected error every 50 ms, all on one bus with
// the default configuration.
//
// Beside the handlers that take the handler time per event, a TUI log
// view subscribes as a terminal should: coalesced (WithCoalesce), it
// redraws the newest log lines from the log store at most once per 16 ms
// frame, however fast they come, and always draws the last line of a
// burst.
//
// While it runs it prints the bus's metrics line once a second. At the end
// it prints, per priority, how many events were published, delivered and
// dropped, how long the events waited for a worker (measured by the
// high-priority handler itself, and as the bus reports it), whether the
// publishers were blocked, what the TUI view rendered (how often, what it
// coalesced, and how old the newest line was when its last frame drew it),
// and checks the bus's accounting: every published event was either
// processed or dropped. The exit status is 1 if that check fails.
//
// Run it with:
//
//	go run ./examples/brummer
//	go run ./examples/brummer -policy block -duration 5s
//
// Flags: -duration (default 3s), -workers and -queue (default: those of
// eventbus.DefaultConfig), -policy (drop-oldest, drop-newest, drop-lowpri,
// block; default drop-lowpri, DefaultConfig's), -rate (log lines per
// second; default five times what the pool can handle) and -handler (the
// time each handler takes, simulated with time.Sleep; default 1ms).
// Ctrl-C stops the simulation early; the summary is still printed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/brummer-dev/eventbus"
)

func main() {
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		os.Exit(2) // the flag package has printed the problem and the usage
	}
	// The first Ctrl-C ends the simulation early, which still prints the
	// summary; restoring the default handling then lets a second Ctrl-C
	// kill a program that is slow to stop.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)

	if err := run(ctx, os.Stdout, opts); err != nil {
		fmt.Fprintln(os.Stderr, "brummer:", err)
		os.Exit(1)
	}
}

// The traffic, besides the log lines whose rate is a flag.
const (
	logPublishers   = 4                     // processes printing logs, one goroutine each
	publishTick     = 2 * time.Millisecond  // log publishers publish a batch per tick
	processInterval = 5 * time.Millisecond  // a process.started or process.exited
	errorInterval   = 50 * time.Millisecond // an error.detected
	overload        = 5                     // default log rate, in multiples of the pool's capacity
	tuiFrame        = 16 * time.Millisecond // the TUI redraws at most this often: 60 frames a second
	tuiRows         = 50                    // log lines on the TUI's screen
)

// options are the command-line flags.
type options struct {
	duration time.Duration
	workers  int // 0: DefaultConfig's
	queue    int // 0: ten per worker, as in DefaultConfig
	policy   eventbus.DropPolicy
	rate     int // log lines per second; 0: overload times the pool's capacity
	handler  time.Duration
}

func defaultOptions() options {
	return options{
		duration: 3 * time.Second,
		policy:   eventbus.DefaultConfig().BackpressureMode,
		handler:  time.Millisecond,
	}
}

// parseFlags parses the command line. Errors have been reported to
// stderr with the usage; -h gives flag.ErrHelp.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := defaultOptions()
	fs := flag.NewFlagSet("brummer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", o.duration, "how long to simulate")
	fs.IntVar(&o.workers, "workers", 0, "worker goroutines (0: DefaultConfig's, from the CPU count)")
	fs.IntVar(&o.queue, "queue", 0, "queue size, all priorities together (0: ten per worker)")
	policy := fs.String("policy", o.policy.String(), "drop policy: drop-oldest, drop-newest, drop-lowpri or block")
	fs.IntVar(&o.rate, "rate", 0, fmt.Sprintf("log lines per second, all publishers together (0: %d times what the pool can handle)", overload))
	fs.DurationVar(&o.handler, "handler", o.handler, "time each handler takes (simulated I/O)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	if o.policy, err = eventbus.ParseDropPolicy(*policy); err != nil {
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		err = fmt.Errorf("unexpected arguments: %q", fs.Args())
	case o.duration <= 0:
		err = errors.New("-duration must be positive")
	case o.workers < 0 || o.queue < 0 || o.rate < 0 || o.handler < 0:
		err = errors.New("-workers, -queue, -rate and -handler must not be negative")
	case o.handler == 0 && o.rate == 0:
		// The default rate is a multiple of the pool's capacity, which
		// handlers that take no time do not bound.
		err = errors.New("-handler 0 needs an explicit -rate")
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		fs.Usage()
	}
	return o, err
}

// config is DefaultConfig with the flags' changes.
func (o options) config() eventbus.Config {
	cfg := eventbus.DefaultConfig()
	if o.workers > 0 {
		cfg.Workers = o.workers
		cfg.QueueSize = 0 // follow the worker count: ten per worker
	}
	if o.queue > 0 {
		cfg.QueueSize = o.queue
	}
	cfg.BackpressureMode = o.policy
	// Print-worthy figures need the monitoring, and a window shorter
	// than the one-second print interval keeps the utilization current.
	cfg.MonitoringEnabled = true
	cfg.MetricsWindow = 500 * time.Millisecond
	return cfg
}

// errAccounting is returned when the bus's counts do not add up.
var errAccounting = errors.New("accounting check failed")

// run simulates the traffic until opts.duration has passed or ctx is done,
// then shuts the bus down and prints the summary to w.
func run(ctx context.Context, w io.Writer, opts options) error {
	bus, err := eventbus.NewEventBus(opts.config())
	if err != nil {
		return err
	}
	defer bus.Shutdown() // for early returns; the normal path shuts down below
	cfg := bus.Config()  // with the automatic values filled in

	// The pool's capacity: each worker takes one event per handler time
	// (a little less in practice: time.Sleep oversleeps).
	capacity := 0.0
	if opts.handler > 0 {
		capacity = float64(cfg.Workers) * float64(time.Second) / float64(opts.handler)
	}
	rate := opts.rate
	if rate == 0 {
		rate = int(overload * capacity)
	}

	s := &sim{bus: bus, handler: opts.handler}
	s.level(eventbus.LogLine).publishers = logPublishers
	s.level(eventbus.ProcessExited).publishers = 2 // processManager and errorDetector
	bus.Subscribe(eventbus.LogLine, s.logView)
	for _, t := range []eventbus.EventType{eventbus.ProcessStarted, eventbus.ProcessExited, eventbus.ErrorDetected} {
		bus.Subscribe(t, s.processView)
	}
	s.tui = bus.On(eventbus.LogLine, s.tuiView, eventbus.WithName("tui"), eventbus.WithCoalesce(tuiFrame, nil))

	fmt.Fprintf(w, "bus: workers=%d queue=%d policy=%v handler=%v\n", cfg.Workers, cfg.QueueSize, cfg.BackpressureMode, opts.handler)
	load := ""
	if capacity > 0 {
		load = fmt.Sprintf(" (%.1f× the pool's ≈%.0f events/s)", float64(rate)/capacity, capacity)
	}
	fmt.Fprintf(w, "traffic for %v: %d log lines/s from %d publishers%s, "+
		"process.started/exited every %v, error.detected every %v\n",
		opts.duration, rate, logPublishers, load, processInterval, errorInterval)
	fmt.Fprintf(w, "views: a log pane and a process list taking %v per event, and a tui log view coalesced to one render per %v\n",
		opts.handler, tuiFrame)

	simCtx, cancel := context.WithTimeout(ctx, opts.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range logPublishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.logPublisher(simCtx, "proc-"+strconv.Itoa(i+1), float64(rate)/logPublishers)
		}()
	}
	wg.Add(2)
	go func() { defer wg.Done(); s.processManager(simCtx) }()
	go func() { defer wg.Done(); s.errorDetector(simCtx) }()

	s.printMetrics(simCtx, w, start)
	wg.Wait()
	elapsed := time.Since(start)

	// Let the workers drain the queue, and the TUI draw its last frame
	// when its frame time comes (Shutdown would draw it at once), then
	// stop the bus. Nothing publishes any more, so the counts are final
	// once Shutdown returns.
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelShutdown()
	if err := bus.WaitIdle(shutdownCtx); err != nil {
		fmt.Fprintln(w, "the queue did not drain:", err)
	}
	if err := bus.ShutdownContext(shutdownCtx); err != nil {
		fmt.Fprintln(w, "shutdown did not drain the queue:", err)
	}

	how := "duration reached"
	if ctx.Err() != nil {
		how = "interrupted"
	}
	fmt.Fprintf(w, "\nstopped after %v (%s)\n\n", elapsed.Round(time.Millisecond), how)
	return s.summary(w, bus.Metrics(), elapsed)
}

// sim is the simulated Brummer: its publishers, its log store and its
// views.
type sim struct {
	bus     *eventbus.EventBus
	handler time.Duration
	levels  [3]levelStats // indexed by Priority-1
	logs    logStore
	tui     *eventbus.Subscription

	mu        sync.Mutex
	highWaits []time.Duration // Timestamp to handler start, measured by processView
	frame     tuiFrameStats   // the TUI's renders, written by tuiView
}

// logStore is Brummer's log store, reduced to what the TUI shows: the
// process manager adds each line before it publishes log.line, and the
// views read the newest lines from it.
type logStore struct {
	mu     sync.Mutex
	recent [tuiRows]string // a ring of the newest lines
	total  int64           // lines added: the newest line's number
	newest time.Time       // when the newest line was added
}

func (l *logStore) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recent[l.total%tuiRows] = line
	l.total++
	l.newest = time.Now()
}

// tail appends the newest lines to dst, oldest first, and returns it with
// the newest line's number and the time it was added.
func (l *logStore) tail(dst []string) ([]string, int64, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for n := max(l.total-tuiRows, 0); n < l.total; n++ {
		dst = append(dst, l.recent[n%tuiRows])
	}
	return dst, l.total, l.newest
}

// tuiFrameStats are the TUI's figures: its renders, and its last frame.
type tuiFrameStats struct {
	renders int64
	shown   int64         // the newest line the last frame showed
	age     time.Duration // how long that line had been in the store when the frame was drawn
	bottom  string        // the last frame's bottom row: that line
}

// levelStats are the example's own counts for one priority level.
type levelStats struct {
	publishers int // goroutines publishing at this level
	published  atomic.Int64
	delivered  atomic.Int64
	inPublish  atomic.Int64 // nanoseconds publishers spent inside Publish
	maxPublish atomic.Int64 // the longest Publish call, in nanoseconds
}

// level returns the stats of the level events of type t are queued at.
// The simulation sets no Config.Priorities, so that is the default one.
func (s *sim) level(t eventbus.EventType) *levelStats {
	return &s.levels[eventbus.DefaultPriority(t)-1]
}

// publish publishes ev and measures how long Publish took: under a drop
// policy it never waits, under Block it waits for room in the queue.
func (s *sim) publish(ev eventbus.Event) {
	st := s.level(ev.Type)
	st.published.Add(1)
	begin := time.Now()
	s.bus.Publish(ev)
	d := int64(time.Since(begin))
	st.inPublish.Add(d)
	for old := st.maxPublish.Load(); d > old && !st.maxPublish.CompareAndSwap(old, d); old = st.maxPublish.Load() {
	}
}

// logPublisher is one process printing perSecond log lines.
func (s *sim) logPublisher(ctx context.Context, process string, perSecond float64) {
	t := time.NewTicker(publishTick)
	defer t.Stop()
	start := time.Now()
	var sent int64
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			// Publish what is due by now instead of a fixed batch, so
			// that ticks that came late (a busy machine, a Publish
			// that blocked) are made up for and the rate holds.
			due := int64(now.Sub(start).Seconds() * perSecond)
			for ; sent < due && ctx.Err() == nil; sent++ {
				line := "GET /api/items/" + strconv.FormatInt(sent, 10) + " 200"
				s.logs.add(process + " | " + line)
				s.publish(eventbus.Event{
					Type:      eventbus.LogLine,
					ProcessID: process,
					Data:      map[string]interface{}{"line": line, "stream": "stdout"},
				})
			}
		}
	}
}

// processManager starts and stops processes, one event every
// processInterval.
func (s *sim) processManager(ctx context.Context) {
	t := time.NewTicker(processInterval)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		name := "job-" + strconv.Itoa(n/2)
		ev := eventbus.Event{Type: eventbus.ProcessStarted, ProcessID: name, Data: map[string]interface{}{"name": name}}
		if n%2 == 1 {
			ev.Type = eventbus.ProcessExited
			ev.Data = map[string]interface{}{"name": name, "exitCode": n % 3}
		}
		s.publish(ev)
	}
}

// errorDetector reports an error every errorInterval, as Brummer's log
// scanner does when a line looks like a stack trace.
func (s *sim) errorDetector(ctx context.Context) {
	t := time.NewTicker(errorInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.publish(eventbus.Event{
				Type:      eventbus.ErrorDetected,
				ProcessID: "proc-1",
				Data:      map[string]interface{}{"message": "TypeError: cannot read properties of undefined"},
			})
		}
	}
}

// logView is the TUI's log pane: it renders each line, which takes the
// handler time.
func (s *sim) logView(ev eventbus.Event) {
	time.Sleep(s.handler)
	s.level(ev.Type).delivered.Add(1)
}

// tuiView is the TUI's log pane as it should be: subscribed with
// WithCoalesce, it is called at most once per frame with the newest log
// line, and draws the newest lines of the store, all the lines that came
// since its last frame included.
func (s *sim) tuiView(eventbus.Event) {
	lines, newest, at := s.logs.tail(make([]string, 0, tuiRows))
	var screen strings.Builder
	bottom := 0
	for i, line := range lines {
		bottom = screen.Len()
		fmt.Fprintf(&screen, "%6d %s\n", newest-int64(len(lines)-1-i), line)
	}
	s.mu.Lock()
	s.frame.renders++
	s.frame.shown, s.frame.age = newest, time.Since(at)
	s.frame.bottom = strings.TrimSpace(screen.String()[bottom:])
	s.mu.Unlock()
}

// processView is the TUI's process list and error panel. It measures how
// long each event waited between Publish (which set its Timestamp) and
// the start of the handler: the figure a user feels as lag.
func (s *sim) processView(ev eventbus.Event) {
	wait := time.Since(ev.Timestamp)
	s.mu.Lock()
	s.highWaits = append(s.highWaits, wait)
	s.mu.Unlock()
	time.Sleep(s.handler)
	s.level(ev.Type).delivered.Add(1)
}

// printMetrics prints the bus's metrics line every second until ctx is
// done.
func (s *sim) printMetrics(ctx context.Context, w io.Writer, start time.Time) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			fmt.Fprintf(w, "%4.1fs  %v\n", now.Sub(start).Seconds(), s.bus.Metrics())
		}
	}
}

// summary prints the table per priority and the accounting checks, and
// returns errAccounting when a count does not add up.
func (s *sim) summary(w io.Writer, m eventbus.MetricsSnapshot, elapsed time.Duration) error {
	s.mu.Lock()
	measured := slices.Clone(s.highWaits)
	s.mu.Unlock()
	slices.Sort(measured)

	dropped := [3]int64{m.Drops.ByPriority.Low, m.Drops.ByPriority.Medium, m.Drops.ByPriority.High}
	busWait := [3]eventbus.WaitStats{m.Wait.Low, m.Wait.Medium, m.Wait.High}
	levels := []eventbus.Priority{eventbus.PriorityHigh, eventbus.PriorityMedium, eventbus.PriorityLow}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "priority\tpublished\tdelivered\tdropped\twait p50/p99/max (handler)\twait p50/p99/max (bus)\tpublishers blocked")
	for _, p := range levels {
		st := &s.levels[p-1]
		ownWait := "-"
		if p == eventbus.PriorityHigh && len(measured) > 0 {
			ownWait = fmtDur(percentile(measured, 0.50)) + " / " + fmtDur(percentile(measured, 0.99)) + " / " + fmtDur(measured[len(measured)-1])
		}
		fmt.Fprintf(tw, "%v\t%d\t%d\t%d\t%s\t%s\t%s\n", p, st.published.Load(), st.delivered.Load(), dropped[p-1],
			ownWait, fmtWaitStats(busWait[p-1]), blocked(st, elapsed))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "wait: from Publish to handler start. (handler) is measured by the high-priority handler from")
	fmt.Fprintln(w, "Event.Timestamp; (bus) is Metrics().Wait, whose percentiles are histogram bucket bounds (at most 2x).")
	fmt.Fprintln(w)
	s.tuiSummary(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "bus:", m)

	ok := true
	verdict := func(good bool) string {
		if good {
			return "ok"
		}
		ok = false
		return "FAILED"
	}
	fmt.Fprintf(w, "accounting (bus): published %d == processed %d + dropped %d: %s\n",
		m.EventsPublished, m.EventsProcessed, m.EventsDropped,
		verdict(m.EventsPublished == m.EventsProcessed+m.EventsDropped))
	// The example's own counts must agree level by level: what its
	// publishers sent was either seen by a handler or dropped by the bus.
	var parts []string
	good := true
	for _, p := range levels {
		st := &s.levels[p-1]
		pub, del := st.published.Load(), st.delivered.Load()
		good = good && pub == del+dropped[p-1]
		parts = append(parts, fmt.Sprintf("%v %d == %d + %d", p, pub, del, dropped[p-1]))
	}
	fmt.Fprintf(w, "accounting (per priority, published == delivered + dropped): %s: %s\n",
		strings.Join(parts, ", "), verdict(good))
	if !ok {
		return errAccounting
	}
	return nil
}

// tuiSummary prints what the coalesced TUI view did: how often it
// rendered, how many log lines it skipped for newer ones, and whether its
// last frame shows the last log line, and how old that line was then.
func (s *sim) tuiSummary(w io.Writer) {
	st := s.tui.Stats()
	s.mu.Lock()
	f := s.frame
	s.mu.Unlock()
	_, lines, _ := s.logs.tail(nil)
	fmt.Fprintf(w, "tui view %q, coalesced every %v: %d renders for %d log lines; of the %d it was handed, %d coalesced, %d dropped\n",
		st.Name, tuiFrame, f.renders, lines, st.Matched, st.Coalesced, st.Dropped)
	switch {
	case f.renders == 0:
		fmt.Fprintln(w, "tui last render: none")
	case f.shown == lines:
		fmt.Fprintf(w, "tui last render: showed the last log line, %d of %d, %v after it was published: %q\n", f.shown, lines, fmtDur(f.age), f.bottom)
	default:
		// The bus dropped the events of the last lines before the view
		// got one (possible under drop-newest).
		fmt.Fprintf(w, "tui last render: showed log line %d of %d, %v after it was published: %q\n", f.shown, lines, fmtDur(f.age), f.bottom)
	}
}

// blocked says whether the publishers of a level were held up by Publish:
// under a drop policy (with no TimeoutDuration) a call takes a few
// microseconds, under Block it waits for room in the queue, typically
// about one handler time. It gives the share of the publishers' time spent
// inside Publish, and the mean and longest call.
func blocked(st *levelStats, elapsed time.Duration) string {
	n := st.published.Load()
	if n == 0 || st.publishers == 0 || elapsed <= 0 {
		return "-"
	}
	total := st.inPublish.Load()
	share := float64(total) / float64(elapsed) / float64(st.publishers)
	mean := time.Duration(total / n)
	verdict := "no"
	if mean >= 50*time.Microsecond || share >= 0.10 {
		verdict = "yes"
	}
	return fmt.Sprintf("%s: %.1f%% of their time, mean call %s, longest %s",
		verdict, 100*share, fmtDur(mean), fmtDur(time.Duration(st.maxPublish.Load())))
}

// percentile returns the nearest-rank q-quantile of sorted samples.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func fmtWaitStats(st eventbus.WaitStats) string {
	if st.Count == 0 {
		return "-"
	}
	return fmtDur(st.P50) + " / " + fmtDur(st.P99) + " / " + fmtDur(st.Max)
}

// fmtDur rounds d to three significant digits, enough for a table.
func fmtDur(d time.Duration) string {
	for unit := time.Duration(1); unit < time.Hour; unit *= 10 {
		if d < 1000*unit {
			return d.Round(unit).String()
		}
	}
	return d.Round(time.Second).String()
}
