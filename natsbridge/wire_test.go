package natsbridge

import (
	"fmt"
	"testing"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSubjectFor(t *testing.T) {
	cases := map[eventbus.EventType]string{
		"process.started": "p.process.started",
		"log.line":        "p.log.line",
		"mcp:tool/call":   "p.mcp:tool/call",
		"weird type":      "p.weird%20type",
		"a*b":             "p.a%2Ab",
		"*":               "p.%2A",
		">":               "p.%3E",
		"x>y.z":           "p.x%3Ey.z",
		"100%":            "p.100%25",
		"":                "p.%",
		".lead":           "p.%.lead",
		"trail.":          "p.trail.%",
		"a..b":            "p.a.%.b",
		"ü":               "p.%C3%BC",
		"tab\tnl\n":       "p.tab%09nl%0A",
	}
	for typ, want := range cases {
		got, err := SubjectFor("p", typ)
		require.NoError(t, err, typ)
		assert.Equal(t, want, got, "type %q", typ)
	}
	// One-to-one: different types never share a subject.
	seen := map[string]eventbus.EventType{}
	for typ := range cases {
		s, _ := SubjectFor("p", typ)
		prev, dup := seen[s]
		require.False(t, dup, "%q and %q share subject %q", prev, typ, s)
		seen[s] = typ
	}

	_, err := SubjectFor("p", eventbus.EventType(make([]byte, MaxSubjectLen)))
	require.ErrorIs(t, err, ErrSubject)
	_, err = SubjectFor("", "x")
	require.ErrorIs(t, err, ErrInvalidOptions)
	_, err = SubjectFor("a.>", "x")
	require.ErrorIs(t, err, ErrInvalidOptions)
}

func TestWireRoundTrip(t *testing.T) {
	ev := eventbus.Event{
		ID:        "k3x9q2mf-0000000001a7",
		Type:      "weird type",
		ProcessID: "proc",
		Timestamp: time.Date(2025, 11, 30, 1, 2, 3, 456789012, time.FixedZone("X", -7*3600)),
		Data:      map[string]interface{}{"n": 42, "s": "x", "l": []interface{}{1, "a"}, "nil": nil},
	}
	body, err := encodeEvent(&ev)
	require.NoError(t, err)
	require.Contains(t, string(body), `"v":1`)
	require.Contains(t, string(body), `"timestamp":"2025-11-30T08:02:03.456789012Z"`)
	got, err := decodeEvent(body, escapeType(ev.Type))
	require.NoError(t, err)
	assert.Equal(t, ev.ID, got.ID)
	assert.Equal(t, ev.Type, got.Type)
	assert.Equal(t, ev.ProcessID, got.ProcessID)
	assert.True(t, ev.Timestamp.Equal(got.Timestamp))
	// JSON numbers arrive as float64, lists as []interface{}.
	assert.Equal(t, map[string]interface{}{"n": 42.0, "s": "x", "l": []interface{}{1.0, "a"}, "nil": nil}, got.Data)

	_, err = decodeEvent(body, "other")
	require.ErrorIs(t, err, ErrMalformed)
}

func TestWindow(t *testing.T) {
	w := newWindow(4)
	require.True(t, w.reserveImport("a"))
	require.False(t, w.reserveImport("a"), "duplicate")
	require.False(t, w.exportable("a"), "imported: not exported")
	require.True(t, w.exportable("a"), "mark cleared: a later local event with the ID is exported")
	require.False(t, w.reserveImport("a"), "still remembered for dedup")

	require.True(t, w.exportable("l1"))
	require.False(t, w.reserveImport("l1"), "an echo of a local event is a duplicate")

	w.release("a")
	require.True(t, w.reserveImport("a"), "released: may be imported again")

	for i := 0; i < 10; i++ {
		w.exportable(fmt.Sprint(i))
	}
	require.Equal(t, 4, w.len(), "bounded")
	require.True(t, w.reserveImport("l1"), "forgotten after the window moved on")
}

func TestCovers(t *testing.T) {
	for _, c := range []struct {
		f, s string
		want bool
	}{
		{"p.>", "p.>", true},
		{">", "p.>", true},
		{"*.>", "p.>", true},
		{"p.*", "p.>", false},
		{"p.x.>", "p.>", false},
		{"q.>", "p.>", false},
		{"p.*", "p.x", true},
		{"p.x", "p.x", true},
		{"p.x", "p.x.y", false},
		{"p.>", "p.x.y", true},
		{"p.*.y", "p.x.y", true},
	} {
		assert.Equal(t, c.want, covers(c.f, c.s), "%q covers %q", c.f, c.s)
	}
}
