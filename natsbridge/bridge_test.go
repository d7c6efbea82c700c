package natsbridge

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var modes = []Mode{Core, JetStream}

// counter counts the messages a bridge has handled (Options.afterReceive)
// and lets a test wait for a number of them.
type counter struct {
	n  atomic.Int64
	ch chan struct{}
}

func newCounter() *counter { return &counter{ch: make(chan struct{}, 1)} }

func (c *counter) inc() {
	c.n.Add(1)
	select {
	case c.ch <- struct{}{}:
	default:
	}
}

func (c *counter) wait(t testing.TB, n int64) {
	t.Helper()
	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	for c.n.Load() < n {
		select {
		case <-c.ch:
		case <-deadline.C:
			t.Fatalf("bridge handled %d messages, want %d", c.n.Load(), n)
		}
	}
}

// requireBalanced checks the inbound accounting identity of Metrics.
func requireBalanced(t testing.TB, m Metrics) {
	t.Helper()
	require.Equal(t, m.Received, m.Imported+m.DuplicatesSkipped+m.OwnEchoesSkipped+m.Malformed+m.Dropped.Total(), "inbound counts do not add up: %+v", m)
}

// Two buses exchange events both ways; each receives exactly the other's
// events, with ID, Type, ProcessID, Timestamp and Data intact, never its
// own back, and neither bridge sends an imported event out again.
func TestExchangeBothWaysNoEcho(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			ts := startServer(t)
			busA, busB := newBus(t, busConfig()), newBus(t, busConfig())
			seenA, seenB := collect(busA, ""), collect(busB, "")
			recvA, recvB := newCounter(), newCounter()
			brA := newBridge(t, busA, connect(t, ts, "a"), Options{Prefix: "test", Instance: "a", Mode: mode, afterReceive: recvA.inc})
			brB := newBridge(t, busB, connect(t, ts, "b"), Options{Prefix: "test", Instance: "b", Mode: mode, afterReceive: recvB.inc})

			const n = 200
			zone := time.FixedZone("UTC+1", 3600)
			sent := map[string]eventbus.Event{}
			for i := 0; i < n; i++ {
				for _, who := range []string{"a", "b"} {
					ev := eventbus.Event{
						ID:        fmt.Sprintf("%s-%03d", who, i),
						Type:      eventbus.ProcessStarted,
						ProcessID: "proc-" + who,
						Timestamp: time.Date(2025, 11, 30, 1, 2, 3, 456789000+i, zone),
						Data:      map[string]interface{}{"i": i, "who": who, "nested": map[string]interface{}{"ok": true}},
					}
					sent[ev.ID] = ev
					if who == "a" {
						busA.Publish(ev)
					} else {
						busB.Publish(ev)
					}
				}
			}
			evsA, evsB := seenA.wait(t, 2*n), seenB.wait(t, 2*n)
			// Each bridge receives the other's n events and its own n
			// echoes (core NATS echoes to the publishing connection, and
			// a durable consumer reads the whole stream).
			recvA.wait(t, 2*n)
			recvB.wait(t, 2*n)
			waitIdle(t, busA)
			waitIdle(t, busB)

			for _, c := range []struct {
				name string
				evs  []eventbus.Event
				peer string
			}{{"a", evsA, "b"}, {"b", evsB, "a"}} {
				ids := map[string]bool{}
				for _, got := range c.evs {
					require.False(t, ids[got.ID], "bus %s got %s twice", c.name, got.ID)
					ids[got.ID] = true
					want, ok := sent[got.ID]
					require.True(t, ok, "unknown event %s", got.ID)
					if !strings.HasPrefix(got.ID, c.peer) {
						continue // local event
					}
					assert.Equal(t, want.Type, got.Type)
					assert.Equal(t, want.ProcessID, got.ProcessID)
					assert.True(t, want.Timestamp.Equal(got.Timestamp), "timestamp %v, want %v", got.Timestamp, want.Timestamp)
					assert.Equal(t, float64(want.Data["i"].(int)), got.Data["i"])
					assert.Equal(t, c.peer, got.Data["who"])
					assert.Equal(t, map[string]interface{}{"ok": true}, got.Data["nested"])
				}
				require.Len(t, ids, 2*n)
			}

			closeBridge(t, brA)
			closeBridge(t, brB)
			for name, m := range map[string]Metrics{"a": brA.Metrics(), "b": brB.Metrics()} {
				t.Logf("%s: %+v", name, m)
				assert.EqualValues(t, n, m.Sent, name)
				assert.EqualValues(t, n, m.Imported, name)
				assert.EqualValues(t, n, m.OwnEchoesSkipped, name)
				assert.EqualValues(t, n, m.LoopsPrevented, name, "imported events must not be exported again")
				assert.Zero(t, m.DuplicatesSkipped, name)
				assert.Zero(t, m.SendErrors+m.EncodeFailures+m.Malformed+m.Dropped.Total()+m.InFlight, name)
				requireBalanced(t, m)
			}
		})
	}
}

// The events one publisher sends on one subject arrive in order, when
// both buses order the events of a process (Config.OrderingKey).
func TestOrderingOfOnePublisher(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			ts := startServer(t)
			cfg := busConfig()
			cfg.Workers = 4
			cfg.OrderingKey = eventbus.OrderByProcessID
			busA, busB := newBus(t, cfg), newBus(t, cfg)
			got := collect(busB, eventbus.LogLine)
			newBridge(t, busA, connect(t, ts, "a"), Options{Prefix: "ord", Instance: "a", Mode: mode, DisableImport: true})
			newBridge(t, busB, connect(t, ts, "b"), Options{Prefix: "ord", Instance: "b", Mode: mode, DisableExport: true})

			const n = 2000
			for i := 0; i < n; i++ {
				busA.Publish(eventbus.Event{Type: eventbus.LogLine, ProcessID: "p1", Data: map[string]interface{}{"seq": i}})
			}
			evs := got.wait(t, n)
			require.Len(t, evs, n)
			for i, ev := range evs {
				require.Equal(t, float64(i), ev.Data["seq"], "event %d out of order", i)
			}
		})
	}
}

// The server stops and restarts on the same port: the bridges report the
// disconnected period, and events published after the restart (in
// JetStream mode also those published while the server was down) are
// delivered.
func TestServerRestart(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			ts := startServer(t)
			busA, busB := newBus(t, busConfig()), newBus(t, busConfig())
			got := collect(busB, "")
			ncA, ncB := connect(t, ts, "a"), connect(t, ts, "b")
			brA := newBridge(t, busA, ncA, Options{Prefix: "rs", Instance: "a", Mode: mode, DisableImport: true})
			brB := newBridge(t, busB, ncB, Options{Prefix: "rs", Instance: "b", Mode: mode, DisableExport: true})

			busA.Publish(eventbus.Event{ID: "before", Type: "t"})
			got.wait(t, 1)
			require.True(t, brA.Metrics().Connected)
			require.Zero(t, brA.Metrics().Disconnects)

			ts.stop()
			require.Eventually(t, func() bool { return !brA.Metrics().Connected && !brB.Metrics().Connected },
				testTimeout, 5*time.Millisecond, "disconnect not noticed")
			want := 1
			if mode == JetStream {
				// Published while the server is down: waits in the
				// connection's reconnect buffer and is retried.
				for i := 0; i < 20; i++ {
					busA.Publish(eventbus.Event{ID: fmt.Sprintf("down-%d", i), Type: "t"})
				}
				want += 20
				waitIdle(t, busA)
			}
			ts.restart()
			requireConnected(t, ncA, brA)
			requireConnected(t, ncB, brB)
			// The subscriber's subscriptions are re-sent on reconnect; a
			// round trip makes sure the server has them.
			require.NoError(t, ncB.Flush())

			for i := 0; i < 50; i++ {
				busA.Publish(eventbus.Event{ID: fmt.Sprintf("after-%d", i), Type: "t"})
			}
			want += 50
			evs := got.wait(t, want)
			ids := map[string]bool{}
			for _, ev := range evs {
				ids[ev.ID] = true
			}
			for i := 0; i < 50; i++ {
				require.True(t, ids[fmt.Sprintf("after-%d", i)], "after-%d missing", i)
			}
			if mode == JetStream {
				for i := 0; i < 20; i++ {
					require.True(t, ids[fmt.Sprintf("down-%d", i)], "down-%d missing", i)
				}
			}
			for _, br := range []*Bridge{brA, brB} {
				m := br.Metrics()
				t.Logf("%s: %+v", br.Instance(), m)
				assert.True(t, m.Connected)
				assert.GreaterOrEqual(t, m.Disconnects, int64(1))
				assert.Positive(t, m.DisconnectedTime)
			}
		})
	}
}

// JetStream: the server restarts while exports await their
// acknowledgement. Those the reconnect fails are sent again, so the stream
// ends up with every event once, nothing stays in flight, and Close
// returns at once.
func TestJetStreamRestartWithExportsInFlight(t *testing.T) {
	const events = 3000
	ts := startServer(t)
	bus := newBus(t, busConfig())
	nc := connect(t, ts, "a")
	br, err := New(bus, nc, Options{Prefix: "rf", Instance: "a", Mode: JetStream, DisableImport: true,
		OnSendError: func(ev eventbus.Event, err error) { t.Logf("%s not sent: %v", ev.ID, err) }})
	require.NoError(t, err)
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := 0; i < events; i++ {
			bus.Publish(eventbus.Event{ID: fmt.Sprint("e", i), Type: "t"})
		}
	}()
	require.Eventually(t, func() bool { return br.Metrics().Sent >= events/6 },
		testTimeout, time.Millisecond, "exports did not start")
	ts.restart()
	requireConnected(t, nc, br)
	<-published
	waitIdle(t, bus)
	require.Eventually(t, func() bool { return br.Metrics().InFlight == 0 }, testTimeout, 5*time.Millisecond,
		"exports stayed in flight: %+v", br.Metrics())
	m := br.Metrics()
	t.Logf("%+v", m)
	assert.EqualValues(t, events, m.Sent)
	assert.Zero(t, m.SendErrors)

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	st, err := js.Stream(ctx, br.Options().JetStream.Stream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, events, info.State.Msgs, "each event stored once")
	require.NoError(t, br.Close(ctx))
}

// JetStream: the receiving bridge is closed while 100 events are
// published; its durable consumer keeps them, and the bridge receives all
// 100 when it comes back.
func TestJetStreamCatchUp(t *testing.T) {
	ts := startServer(t)
	busA := newBus(t, busConfig())
	brA := newBridge(t, busA, connect(t, ts, "a"), Options{Prefix: "cu", Instance: "a", Mode: JetStream, DisableImport: true})

	ncB := connect(t, ts, "b")
	busB := newBus(t, busConfig())
	recv := newCounter()
	optsB := Options{Prefix: "cu", Instance: "b", Mode: JetStream, DisableExport: true, afterReceive: recv.inc}
	brB, err := New(busB, ncB, optsB) // creates the durable consumer "b"
	require.NoError(t, err)
	closeBridge(t, brB)

	const n = 100
	want := map[string]bool{}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("missed-%03d", i)
		want[id] = true
		busA.Publish(eventbus.Event{ID: id, Type: eventbus.BuildEvent, Data: map[string]interface{}{"i": i}})
	}
	waitIdle(t, busA)
	// All 100 are stored before the receiver comes back.
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	select {
	case <-brA.js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("publishes not acknowledged")
	}

	got := collect(busB, eventbus.BuildEvent)
	brB2 := newBridge(t, busB, ncB, optsB)
	evs := got.wait(t, n)
	// A handler may see an event before the bridge has counted it: wait
	// for the bridge too.
	recv.wait(t, n)
	waitIdle(t, busB)
	ids := map[string]bool{}
	for _, ev := range evs {
		require.True(t, want[ev.ID], "unexpected %s", ev.ID)
		require.False(t, ids[ev.ID], "%s twice", ev.ID)
		ids[ev.ID] = true
	}
	require.Len(t, ids, n)
	m := brB2.Metrics()
	assert.EqualValues(t, n, m.Imported)
	assert.Zero(t, m.Malformed+m.Dropped.Total())
}

// Messages on the subjects that are not events in the wire format are
// counted, reported, and skipped; the next good event still arrives.
func TestMalformedMessages(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			ts := startServer(t)
			bus := newBus(t, busConfig())
			got := collect(bus, "")
			recv := newCounter()
			var mu sync.Mutex
			var reported []error
			newBridge(t, bus, connect(t, ts, "b"), Options{
				Prefix: "mal", Instance: "b", Mode: mode, DisableExport: true, MaxMessageSize: 1024,
				afterReceive: recv.inc,
				OnMalformed: func(msg *nats.Msg, err error) {
					mu.Lock()
					reported = append(reported, err)
					mu.Unlock()
				},
			})
			raw := connect(t, ts, "raw")
			good := `{"v":1,"id":"good","type":"x","timestamp":"2025-11-30T01:02:03Z","data":{"k":"v"}}`
			cases := []struct {
				subject, body string
				want          error
			}{
				{"mal.x", "not json", ErrMalformed},
				{"mal.x", `{"v":2,"id":"v2","type":"x","timestamp":"2025-11-30T01:02:03Z"}`, ErrVersion},
				{"mal.x", `{"id":"v0","type":"x"}`, ErrVersion},
				{"mal.x", `{"v":1,"id":"big","type":"x","timestamp":"2025-11-30T01:02:03Z","data":{"pad":"` + strings.Repeat("x", 2000) + `"}}`, ErrTooLarge},
				{"mal.x", `{"v":1,"id":"","type":"x","timestamp":"2025-11-30T01:02:03Z"}`, ErrMalformed},
				{"mal.x", `{"v":1,"id":"wrongtype","type":"y","timestamp":"2025-11-30T01:02:03Z"}`, ErrMalformed},
				{"mal.x", `{"v":1,"id":"arr","type":"x","timestamp":"2025-11-30T01:02:03Z","data":[1,2]}`, ErrMalformed},
				{"mal.x", `{"v":1,"id":"ts","type":"x","timestamp":"yesterday"}`, ErrMalformed},
				{"mal.x", good, nil},
			}
			for _, c := range cases {
				require.NoError(t, raw.Publish(c.subject, []byte(c.body)))
			}
			recv.wait(t, int64(len(cases)))
			evs := got.wait(t, 1)
			require.Equal(t, "good", evs[0].ID)
			require.Equal(t, map[string]interface{}{"k": "v"}, evs[0].Data)

			mu.Lock()
			defer mu.Unlock()
			require.Len(t, reported, len(cases)-1)
			for i, c := range cases[:len(cases)-1] {
				assert.ErrorIs(t, reported[i], c.want, "case %d: %v", i, reported[i])
			}
		})
	}
}

// panicMarshaler panics when encoded.
type panicMarshaler struct{}

func (panicMarshaler) MarshalJSON() ([]byte, error) { panic("boom") }

// Events that cannot become a message are counted and reported through
// OnSendError; nothing crashes and the next good event is sent.
func TestUnencodableData(t *testing.T) {
	ts := startServer(t)
	busA, busB := newBus(t, busConfig()), newBus(t, busConfig())
	got := collect(busB, "")
	type report struct {
		ev  eventbus.Event
		err error
	}
	reports := make(chan report, 16)
	brA := newBridge(t, busA, connect(t, ts, "a"), Options{
		Prefix: "enc", Instance: "a", DisableImport: true, MaxMessageSize: 1024,
		OnSendError: func(ev eventbus.Event, err error) { reports <- report{ev, err} },
	})
	newBridge(t, busB, connect(t, ts, "b"), Options{Prefix: "enc", Instance: "b", DisableExport: true})

	bad := []struct {
		ev   eventbus.Event
		want error
	}{
		{eventbus.Event{ID: "chan", Type: "t", Data: map[string]interface{}{"c": make(chan int)}}, ErrEncode},
		{eventbus.Event{ID: "func", Type: "t", Data: map[string]interface{}{"f": func() {}}}, ErrEncode},
		{eventbus.Event{ID: "nan", Type: "t", Data: map[string]interface{}{"x": math.NaN()}}, ErrEncode},
		{eventbus.Event{ID: "panic", Type: "t", Data: map[string]interface{}{"p": panicMarshaler{}}}, ErrEncode},
		{eventbus.Event{ID: "year", Type: "t", Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, ErrEncode},
		{eventbus.Event{ID: "longtype", Type: eventbus.EventType(strings.Repeat("t", MaxSubjectLen))}, ErrSubject},
		{eventbus.Event{ID: "big", Type: "t", Data: map[string]interface{}{"pad": strings.Repeat("x", 2000)}}, ErrTooLarge},
	}
	for _, b := range bad {
		busA.Publish(b.ev)
	}
	busA.Publish(eventbus.Event{ID: "good", Type: "t", Data: map[string]interface{}{"ok": true}})
	evs := got.wait(t, 1)
	require.Equal(t, "good", evs[0].ID)
	waitIdle(t, busA)

	byID := map[string]error{}
	for range bad {
		select {
		case r := <-reports:
			byID[r.ev.ID] = r.err
		case <-time.After(testTimeout):
			t.Fatal("missing OnSendError report")
		}
	}
	for _, b := range bad {
		assert.ErrorIs(t, byID[b.ev.ID], b.want, b.ev.ID)
	}
	m := brA.Metrics()
	assert.EqualValues(t, len(bad), m.EncodeFailures)
	assert.EqualValues(t, 1, m.Sent)
	assert.Zero(t, m.SendErrors)
}

// A slow local bus applies its own policy to imported events; the bridge
// counts and reports what the bus refused. In JetStream mode those events
// are acknowledged all the same, so they are not redelivered.
func TestLocalBusDrops(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			ts := startServer(t)
			busA := newBus(t, busConfig())
			busB := newBus(t, eventbus.Config{Workers: 1, QueueSize: 1, BackpressureMode: eventbus.DropNewest, ReservedWorkers: -1})
			release := make(chan struct{})
			blocked := make(chan struct{}, 1)
			sub := busB.On("slow", func(eventbus.Event) {
				select {
				case blocked <- struct{}{}:
				default:
				}
				<-release
			})
			defer func() { sub.Unsubscribe(); <-sub.Done() }()
			defer close(release) // runs first
			var drops atomic.Int64
			recv := newCounter()
			newBridge(t, busA, connect(t, ts, "a"), Options{Prefix: "drop", Instance: "a", Mode: mode, DisableImport: true})
			ncB := connect(t, ts, "b")
			brB := newBridge(t, busB, ncB, Options{
				Prefix: "drop", Instance: "b", Mode: mode, DisableExport: true, afterReceive: recv.inc,
				OnDrop: func(ev eventbus.Event, reason error) {
					if errors.Is(reason, eventbus.ErrQueueFull) {
						drops.Add(1)
					}
				},
			})
			const n = 10
			for i := 0; i < n; i++ {
				busA.Publish(eventbus.Event{ID: fmt.Sprintf("s%d", i), Type: "slow"})
			}
			recv.wait(t, n)
			m := brB.Metrics()
			t.Logf("%+v", m)
			requireBalanced(t, m)
			assert.EqualValues(t, n, m.Received)
			assert.EqualValues(t, n, m.Imported+m.Dropped.QueueFull)
			assert.GreaterOrEqual(t, m.Dropped.QueueFull, int64(n-2))
			assert.Equal(t, m.Dropped.QueueFull, drops.Load())

			if mode == JetStream {
				js, err := jetstream.New(ncB)
				require.NoError(t, err)
				ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
				defer cancel()
				cons, err := js.Consumer(ctx, brB.Options().JetStream.Stream, "b")
				require.NoError(t, err)
				// Every message was acknowledged, dropped or not. The
				// server applies acks on a goroutine of its own, so a
				// flush does not mean they are counted yet: wait for it.
				require.NoError(t, ncB.Flush())
				var info *jetstream.ConsumerInfo
				require.Eventually(t, func() bool {
					info, err = cons.Info(ctx)
					return err == nil && info.NumAckPending == 0
				}, testTimeout, 5*time.Millisecond, "acks still pending: %+v", info)
				assert.Zero(t, info.NumRedelivered)
			}
		})
	}
}

// A redelivered event (same ID) is handed to the bus once.
func TestDuplicatesSkipped(t *testing.T) {
	ts := startServer(t)
	bus := newBus(t, busConfig())
	got := collect(bus, "")
	recv := newCounter()
	br := newBridge(t, bus, connect(t, ts, "b"), Options{Prefix: "dup", Instance: "b", DisableExport: true, afterReceive: recv.inc})
	raw := connect(t, ts, "raw")
	msg := `{"v":1,"id":"same","type":"x","timestamp":"2025-11-30T01:02:03Z"}`
	for i := 0; i < 3; i++ {
		require.NoError(t, raw.PublishMsg(&nats.Msg{Subject: "dup.x", Header: nats.Header{HeaderOrigin: []string{"elsewhere"}}, Data: []byte(msg)}))
	}
	recv.wait(t, 3)
	waitIdle(t, bus)
	require.Len(t, got.wait(t, 1), 1)
	m := br.Metrics()
	assert.EqualValues(t, 1, m.Imported)
	assert.EqualValues(t, 2, m.DuplicatesSkipped)
}

// Event types that are not plain subject tokens cross intact; Import and
// Export select types.
func TestTypesAndFilters(t *testing.T) {
	ts := startServer(t)
	busA, busB, busC := newBus(t, busConfig()), newBus(t, busConfig()), newBus(t, busConfig())
	gotB, gotC := collect(busB, ""), collect(busC, "")
	recvC := newCounter()
	brA := newBridge(t, busA, connect(t, ts, "a"), Options{Prefix: "ty", Instance: "a", DisableImport: true})
	newBridge(t, busB, connect(t, ts, "b"), Options{Prefix: "ty", Instance: "b", DisableExport: true})
	brC := newBridge(t, busC, connect(t, ts, "c"), Options{Prefix: "ty", Instance: "c", DisableExport: true,
		Import: []string{"process.>", "a%2Ab"}, afterReceive: recvC.inc})

	types := []eventbus.EventType{"process.started", "weird type", "a*b", "x>y", "", ".lead", "trail.", "a..b", "ü", "100%", "log.line", "tab\tnl\n"}
	for i, typ := range types {
		busA.Publish(eventbus.Event{ID: fmt.Sprint(i), Type: typ})
	}
	evs := gotB.wait(t, len(types))
	seen := map[eventbus.EventType]bool{}
	for _, ev := range evs {
		seen[ev.Type] = true
	}
	for _, typ := range types {
		assert.True(t, seen[typ], "type %q did not cross", typ)
	}
	// C imports only process.> and the type "a*b".
	evsC := gotC.wait(t, 2)
	recvC.wait(t, 2)
	waitIdle(t, busA)
	assert.EqualValues(t, len(types), brA.Metrics().Sent)
	assert.EqualValues(t, 2, brC.Metrics().Received)
	typesC := []eventbus.EventType{evsC[0].Type, evsC[1].Type}
	assert.ElementsMatch(t, []eventbus.EventType{"process.started", "a*b"}, typesC)

	// Export: only the listed types leave the bus.
	busD := newBus(t, busConfig())
	brD := newBridge(t, busD, connect(t, ts, "d"), Options{Prefix: "ty2", DisableImport: true, Export: []eventbus.EventType{eventbus.ProcessStarted}})
	busD.Publish(eventbus.Event{Type: eventbus.LogLine})
	busD.Publish(eventbus.Event{Type: eventbus.ProcessStarted})
	waitIdle(t, busD)
	assert.EqualValues(t, 1, brD.Metrics().Sent)
}

func TestNewRejectsBadInput(t *testing.T) {
	ts := startServer(t)
	bus := newBus(t, busConfig())
	nc := connect(t, ts, "x")
	closed := connect(t, ts, "closed")
	closed.Close()

	cases := []struct {
		name string
		bus  *eventbus.EventBus
		nc   *nats.Conn
		opts Options
		want string
	}{
		{"nil bus", nil, nc, Options{Prefix: "p"}, "nil *eventbus.EventBus"},
		{"nil conn", bus, nil, Options{Prefix: "p"}, "nil *nats.Conn"},
		{"closed conn", bus, closed, Options{Prefix: "p"}, "closed"},
		{"empty prefix", bus, nc, Options{}, "Prefix is empty"},
		{"wildcard prefix", bus, nc, Options{Prefix: "a.*"}, "Prefix"},
		{"empty prefix token", bus, nc, Options{Prefix: "a..b"}, "empty token"},
		{"space in prefix", bus, nc, Options{Prefix: "a b"}, "Prefix"},
		{"bad mode", bus, nc, Options{Prefix: "p", Mode: 7}, "Mode"},
		{"jetstream without instance", bus, nc, Options{Prefix: "p", Mode: JetStream}, "Instance is required"},
		{"bad instance", bus, nc, Options{Prefix: "p", Instance: "a b"}, "Instance"},
		{"nothing to do", bus, nc, Options{Prefix: "p", DisableExport: true, DisableImport: true}, "nothing"},
		{"bad import", bus, nc, Options{Prefix: "p", Import: []string{"a.>.b"}}, "Import"},
		{"empty import token", bus, nc, Options{Prefix: "p", Import: []string{"a..b"}}, "Import"},
		{"duplicate export", bus, nc, Options{Prefix: "p", Export: []eventbus.EventType{"a", "a"}}, "twice"},
		{"small window", bus, nc, Options{Prefix: "p", DedupWindow: 3}, "DedupWindow"},
		{"negative size", bus, nc, Options{Prefix: "p", MaxMessageSize: -1}, "MaxMessageSize"},
		{"bad durable", bus, nc, Options{Prefix: "p", Mode: JetStream, Instance: "a.b"}, "Durable"},
		{"negative ack wait", bus, nc, Options{Prefix: "p", Mode: JetStream, Instance: "a", JetStream: JetStreamOptions{AckWait: -1}}, "AckWait"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			br, err := New(c.bus, c.nc, c.opts)
			require.Nil(t, br)
			require.ErrorIs(t, err, ErrInvalidOptions)
			require.ErrorContains(t, err, c.want)
		})
	}
}

// Close is idempotent, closes neither the bus nor the connection, and the
// bridge's metrics stay readable.
func TestCloseLeavesBusAndConn(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			ts := startServer(t)
			bus := newBus(t, busConfig())
			nc := connect(t, ts, "x")
			br, err := New(bus, nc, Options{Prefix: "cl", Instance: "x", Mode: mode})
			require.NoError(t, err)
			bus.Publish(eventbus.Event{Type: "t"})
			waitIdle(t, bus)
			closeBridge(t, br)
			closeBridge(t, br)
			require.True(t, nc.IsConnected())
			bus.Publish(eventbus.Event{Type: "t"}) // no handler left: nothing sent
			waitIdle(t, bus)
			assert.EqualValues(t, 1, br.Metrics().Sent)
		})
	}
}

// JetStream: a bridge closed while its bus is stuck and messages wait in
// the client gives them back; the next run of the instance receives every
// event promptly (not after AckWait), none lost.
func TestJetStreamCloseUnderLoad(t *testing.T) {
	ts := startServer(t)
	busA := newBus(t, busConfig())
	newBridge(t, busA, connect(t, ts, "a"), Options{Prefix: "ul", Instance: "a", Mode: JetStream, DisableImport: true})
	ncB := connect(t, ts, "b")
	optsB := Options{Prefix: "ul", Instance: "b", Mode: JetStream, DisableExport: true}

	// First run: a bus whose only worker is stuck, with room for one event.
	stuck := newBus(t, eventbus.Config{Workers: 1, QueueSize: 1, BackpressureMode: eventbus.Block})
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	sub := stuck.On("load", func(eventbus.Event) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
	})
	first := collect(stuck, "load")
	recv := newCounter()
	optsB.afterReceive = recv.inc
	brB, err := New(stuck, ncB, optsB)
	require.NoError(t, err)

	const n = 300
	for i := 0; i < n; i++ {
		busA.Publish(eventbus.Event{ID: fmt.Sprintf("e%03d", i), Type: "load"})
	}
	<-entered
	start := time.Now()
	closeBridge(t, brB) // the third message is blocked in PublishContext
	close(release)
	sub.Unsubscribe()
	<-sub.Done()
	waitIdle(t, stuck)
	m1 := brB.Metrics()
	t.Logf("first run: %+v", m1)

	// Second run, on a healthy bus: every event not imported by the first.
	bus2 := newBus(t, busConfig())
	second := collect(bus2, "load")
	optsB.afterReceive = nil
	brB2 := newBridge(t, bus2, ncB, optsB)
	imported1 := map[string]bool{}
	for _, ev := range first.snapshot() {
		imported1[ev.ID] = true
	}
	evs := second.wait(t, n-len(imported1))
	all := map[string]bool{}
	for id := range imported1 {
		all[id] = true
	}
	for _, ev := range evs {
		all[ev.ID] = true
	}
	require.Len(t, all, n)
	t.Logf("all %d events received %v after the first run was closed; second run: %+v", n, time.Since(start), brB2.Metrics())
	require.Less(t, time.Since(start), DefaultAckWait, "given-back messages waited for AckWait")
}

// JetStream: exports the stream does not acknowledge are retried, then
// counted and reported; Close with a short deadline gives up on those
// still pending and reports them with ErrClosed.
func TestJetStreamSendFailures(t *testing.T) {
	ts := startServer(t)
	nc := connect(t, ts, "a")
	type report struct {
		id  string
		err error
	}
	bridge := func(instance string, retries int) (*eventbus.EventBus, *Bridge, chan report) {
		bus := newBus(t, busConfig())
		reports := make(chan report, 16)
		br, err := New(bus, nc, Options{Prefix: "sf", Instance: instance, Mode: JetStream, DisableImport: true,
			JetStream:   JetStreamOptions{PublishRetries: retries, RetryWait: 10 * time.Millisecond, PublishTimeout: 100 * time.Millisecond},
			OnSendError: func(ev eventbus.Event, err error) { reports <- report{ev.ID, err} },
		})
		require.NoError(t, err)
		return bus, br, reports
	}
	bus, br, reports := bridge("a", 2)
	t.Cleanup(func() { closeBridge(t, br) })
	bus2, br2, reports2 := bridge("a2", 1000) // closed below

	// Without its stream, nothing acknowledges the publishes.
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	require.NoError(t, js.DeleteStream(ctx, br.Options().JetStream.Stream))

	for i := 0; i < 3; i++ {
		bus.Publish(eventbus.Event{ID: fmt.Sprint("lost-", i), Type: "t"})
	}
	for i := 0; i < 3; i++ {
		select {
		case r := <-reports:
			require.True(t, retryable(r.err), "%s: %v", r.id, r.err)
		case <-ctx.Done():
			t.Fatal("no OnSendError report")
		}
	}
	m := br.Metrics()
	assert.EqualValues(t, 3, m.SendErrors)
	assert.EqualValues(t, 6, m.SendRetries)
	assert.Zero(t, m.Sent+m.InFlight)

	// A bridge that would retry for long: Close gives up on it.
	bus2.Publish(eventbus.Event{ID: "pending", Type: "t"})
	waitIdle(t, bus2)
	require.EqualValues(t, 1, br2.Metrics().InFlight)
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	require.ErrorIs(t, br2.Close(short), context.DeadlineExceeded)
	select {
	case r := <-reports2:
		require.Equal(t, "pending", r.id)
		require.ErrorIs(t, r.err, ErrClosed)
	case <-ctx.Done():
		t.Fatal("no OnSendError report after Close")
	}
	m2 := br2.Metrics()
	assert.EqualValues(t, 1, m2.SendErrors)
	assert.Zero(t, m2.InFlight)
}

// JetStream: an existing stream that does not store the exported subjects
// is refused with a clear error instead of failing every publish later.
func TestJetStreamStreamMustCoverExports(t *testing.T) {
	ts := startServer(t)
	nc := connect(t, ts, "a")
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "NARROW", Subjects: []string{"nw.process.>"}, Storage: jetstream.MemoryStorage})
	require.NoError(t, err)
	bus := newBus(t, busConfig())

	_, err = New(bus, nc, Options{Prefix: "nw", Instance: "a", Mode: JetStream, JetStream: JetStreamOptions{Stream: "NARROW"}})
	require.ErrorIs(t, err, ErrInvalidOptions)
	require.ErrorContains(t, err, `does not store "nw.>"`)

	// Exporting only what it stores is fine.
	newBridge(t, bus, nc, Options{Prefix: "nw", Instance: "a", Mode: JetStream, Import: []string{"process.>"},
		Export: []eventbus.EventType{eventbus.ProcessStarted, eventbus.ProcessExited}, JetStream: JetStreamOptions{Stream: "NARROW"}})
}
