package eventbus

import (
	"encoding/json"
	"flag"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultPriority(t *testing.T) {
	cases := map[EventType]Priority{
		ProcessStarted: PriorityHigh, ProcessExited: PriorityHigh, ErrorDetected: PriorityHigh,
		TestFailed: PriorityHigh, MCPConnected: PriorityHigh, MCPDisconnected: PriorityHigh,
		BuildEvent: PriorityMedium, TestPassed: PriorityMedium,
		LogLine: PriorityLow, MCPActivity: PriorityLow,
		"system.message": PriorityMedium, "": PriorityMedium,
	}
	for typ, want := range cases {
		assert.Equal(t, want, DefaultPriority(typ), string(typ))
	}
}

func TestPoliciesAndPrioritiesEncodeAsText(t *testing.T) {
	// Names out, names or numbers in: JSON configs written either way load.
	type cfg struct {
		Policy     DropPolicy
		Priorities map[EventType]Priority
	}
	out, err := json.Marshal(cfg{Policy: DropLowPri, Priorities: map[EventType]Priority{LogLine: PriorityHigh}})
	require.NoError(t, err)
	require.JSONEq(t, `{"Policy":"drop-lowpri","Priorities":{"log.line":"high"}}`, string(out))

	var back cfg
	require.NoError(t, json.Unmarshal(out, &back))
	require.Equal(t, DropLowPri, back.Policy)
	require.Equal(t, PriorityHigh, back.Priorities[LogLine])

	var old cfg
	require.NoError(t, json.Unmarshal([]byte(`{"Policy":3,"Priorities":{"log.line":1}}`), &old))
	require.Equal(t, Block, old.Policy)
	require.Equal(t, PriorityLow, old.Priorities[LogLine])

	for _, bad := range []string{`{"Policy":4}`, `{"Policy":"drop-all"}`, `{"Policy":1.5}`, `{"Policy":true}`, `{"Priorities":{"x":0}}`, `{"Priorities":{"x":"urgent"}}`} {
		var c cfg
		require.Error(t, json.Unmarshal([]byte(bad), &c), bad)
	}
	_, err = json.Marshal(cfg{Policy: DropPolicy(9)})
	require.Error(t, err)
	_, err = Priority(0).MarshalText()
	require.Error(t, err)

	// flag.TextVar takes them, in any case.
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var p DropPolicy
	var pr Priority
	fs.TextVar(&p, "policy", DropOldest, "")
	fs.TextVar(&pr, "prio", PriorityMedium, "")
	require.NoError(t, fs.Parse([]string{"-policy", "Block", "-prio", "HIGH"}))
	require.Equal(t, Block, p)
	require.Equal(t, PriorityHigh, pr)
	fs.SetOutput(io.Discard)
	require.Error(t, fs.Parse([]string{"-policy", "sometimes"}))
	require.Equal(t, Block, p, "a bad value leaves the policy as it was")
}
