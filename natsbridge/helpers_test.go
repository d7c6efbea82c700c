package natsbridge

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: servers are shut down and
// waited for, connections closed, bridges closed, buses shut down.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait: long enough for a loaded 2-core machine
// under -race, short enough to fail a hung test quickly.
const testTimeout = 20 * time.Second

// testServer is a real NATS server with JetStream on a loopback port. Its
// store directory belongs to the test, so a restart finds its streams.
type testServer struct {
	t    testing.TB
	dir  string
	port int
	mu   sync.Mutex
	s    *server.Server
}

// startServer starts a server on a random loopback port; the test's
// cleanup shuts it down.
func startServer(t testing.TB) *testServer {
	t.Helper()
	ts := &testServer{t: t, dir: t.TempDir(), port: server.RANDOM_PORT}
	ts.start()
	t.Cleanup(ts.stop)
	return ts
}

// start starts the server. A restart binds the port the first start was
// given, which came from the system's ephemeral range: while the server was
// down, an outgoing connection may have taken it for a moment, so a start
// that does not become ready soon is tried again.
func (ts *testServer) start() {
	ts.t.Helper()
	var s *server.Server
	for deadline := time.Now().Add(testTimeout); ; {
		var err error
		s, err = server.NewServer(&server.Options{
			Host:      "127.0.0.1",
			Port:      ts.port,
			NoLog:     true,
			NoSigs:    true,
			JetStream: true,
			StoreDir:  ts.dir,
			// Small limits, so the tests never depend on the machine's memory.
			JetStreamMaxMemory: 64 << 20,
			JetStreamMaxStore:  256 << 20,
		})
		require.NoError(ts.t, err)
		s.Start()
		if s.ReadyForConnections(2 * time.Second) {
			break
		}
		s.Shutdown()
		s.WaitForShutdown()
		require.True(ts.t, time.Now().Before(deadline), "server did not start on port %d", ts.port)
	}
	ts.port = s.Addr().(*net.TCPAddr).Port // the same port on a restart
	ts.mu.Lock()
	ts.s = s
	ts.mu.Unlock()
}

// stop shuts the server down and waits until it has; it does nothing when
// the server is already stopped.
func (ts *testServer) stop() {
	ts.mu.Lock()
	s := ts.s
	ts.s = nil
	ts.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// restart stops the server and starts a new one on the same port and store.
func (ts *testServer) restart() {
	ts.t.Helper()
	ts.stop()
	ts.start()
}

func (ts *testServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", ts.port) }

// connect opens a client connection that reconnects quickly and forever;
// the test's cleanup closes it.
func connect(t testing.TB, ts *testServer, name string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(ts.url(),
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20*time.Millisecond),
		nats.ReconnectJitter(0, 0),
		nats.NoCallbacksAfterClientClose(),
	)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// newBus starts a bus that the test shuts down when it ends.
func newBus(t testing.TB, cfg eventbus.Config) *eventbus.EventBus {
	t.Helper()
	b, err := eventbus.NewEventBus(cfg)
	require.NoError(t, err)
	t.Cleanup(b.Shutdown)
	return b
}

// busConfig is a small bus that keeps every event: the tests check counts.
func busConfig() eventbus.Config {
	return eventbus.Config{Workers: 2, QueueSize: 4096, BackpressureMode: eventbus.Block}
}

// newBridge starts a bridge that the test closes when it ends (before the
// bus and the connection, whose cleanups were registered earlier).
func newBridge(t testing.TB, bus *eventbus.EventBus, nc *nats.Conn, opts Options) *Bridge {
	t.Helper()
	br, err := New(bus, nc, opts)
	require.NoError(t, err)
	t.Cleanup(func() { closeBridge(t, br) })
	return br
}

func closeBridge(t testing.TB, br *Bridge) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	require.NoError(t, br.Close(ctx))
}

func waitIdle(t testing.TB, bus *eventbus.EventBus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	require.NoError(t, bus.WaitIdle(ctx), "bus did not become idle")
}

// collector gathers the events a bus handler receives and lets a test wait
// for a number of them.
type collector struct {
	mu     sync.Mutex
	events []eventbus.Event
	signal chan struct{} // receives after each event, without blocking
}

func collect(bus *eventbus.EventBus, t eventbus.EventType) *collector {
	c := &collector{signal: make(chan struct{}, 1)}
	h := func(ev eventbus.Event) {
		c.mu.Lock()
		c.events = append(c.events, ev)
		c.mu.Unlock()
		select {
		case c.signal <- struct{}{}:
		default:
		}
	}
	if t == "" {
		bus.OnAll(h)
	} else {
		bus.On(t, h)
	}
	return c
}

// wait returns the events once there are at least n, failing the test
// when they do not arrive within testTimeout.
func (c *collector) wait(t testing.TB, n int) []eventbus.Event {
	t.Helper()
	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	for {
		if evs := c.snapshot(); len(evs) >= n {
			return evs
		}
		select {
		case <-c.signal:
		case <-deadline.C:
			t.Fatalf("received %d events, want %d", len(c.snapshot()), n)
		}
	}
}

func (c *collector) snapshot() []eventbus.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]eventbus.Event(nil), c.events...)
}

// remote returns the events whose ID is not in local.
func remote(evs []eventbus.Event, local map[string]bool) []eventbus.Event {
	var out []eventbus.Event
	for _, ev := range evs {
		if !local[ev.ID] {
			out = append(out, ev)
		}
	}
	return out
}

// requireConnected waits until the connection and the bridge's metrics
// both say connected.
func requireConnected(t testing.TB, nc *nats.Conn, br *Bridge) {
	t.Helper()
	require.Eventually(t, func() bool { return nc.IsConnected() && br.Metrics().Connected },
		testTimeout, 5*time.Millisecond, "not reconnected")
}
