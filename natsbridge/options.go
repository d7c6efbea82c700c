package natsbridge

import (
	"fmt"
	"strings"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// Mode selects how events travel over NATS. The README sets the two side by
// side; in short:
//
//   - Core: plain NATS publish/subscribe. At most once: an event is
//     delivered to the bridges subscribed at the moment it passes through
//     the server, and lost for a bridge that is down, disconnected or too
//     slow. Lowest latency, nothing stored.
//   - JetStream: events are stored in a stream and each bridge reads them
//     through its own durable consumer. At least once: a bridge that was
//     down receives what it missed, within the stream's retention;
//     redeliveries are removed by the bridge's dedup window.
type Mode int

const (
	// Core sends with core NATS publish and receives with plain
	// subscriptions: at most once.
	Core Mode = iota
	// JetStream sends with JetStream publish (acknowledged by the stream)
	// and receives through a durable consumer per instance: at least once.
	JetStream
)

// String returns "core" or "jetstream", or "Mode(n)" for another value.
func (m Mode) String() string {
	switch m {
	case Core:
		return "core"
	case JetStream:
		return "jetstream"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Defaults of Options and JetStreamOptions; each applies when its field is
// zero.
const (
	// DefaultMaxMessageSize is Options.MaxMessageSize: 1 MiB, the NATS
	// server's default max_payload.
	DefaultMaxMessageSize = 1 << 20
	// DefaultDedupWindow is Options.DedupWindow, raised to 4 × (the bus's
	// QueueSize + Workers) for a larger bus.
	DefaultDedupWindow = 16384
	// MinDedupWindow is the smallest Options.DedupWindow New accepts.
	MinDedupWindow = 64

	// DefaultStreamMaxAge is JetStreamOptions.MaxAge: a day of retention.
	DefaultStreamMaxAge = 24 * time.Hour
	// DefaultAckWait is JetStreamOptions.AckWait.
	DefaultAckWait = 30 * time.Second
	// DefaultMaxAckPending is JetStreamOptions.MaxAckPending.
	DefaultMaxAckPending = 1000
	// DefaultMaxPendingPubs is JetStreamOptions.MaxPendingPublishes.
	DefaultMaxPendingPubs = 4096
	// DefaultPublishTimeout is JetStreamOptions.PublishTimeout.
	DefaultPublishTimeout = 5 * time.Second
	// DefaultPublishRetries is JetStreamOptions.PublishRetries.
	DefaultPublishRetries = 10
	// DefaultRetryWait is JetStreamOptions.RetryWait.
	DefaultRetryWait = 250 * time.Millisecond
	// DefaultStallWait is JetStreamOptions.StallWait.
	DefaultStallWait = 100 * time.Millisecond
	// DefaultNakDelay is JetStreamOptions.NakDelay.
	DefaultNakDelay = time.Second
	// DefaultAPITimeout is JetStreamOptions.APITimeout, and bounds the
	// flush with which New makes sure the server has its Core
	// subscriptions.
	DefaultAPITimeout = 5 * time.Second
)

// Options configures a Bridge. Only Prefix is required in Core mode;
// JetStream mode also needs Instance.
type Options struct {
	// Prefix is the first subject tokens of every event: an event of type
	// T goes to "<Prefix>.<T escaped>" (see SubjectFor). It is one or more
	// dot-separated tokens of printable ASCII without '*', '>' or '%',
	// such as "brummer" or "acme.events". Bridges that should exchange
	// events use the same Prefix. Required.
	Prefix string

	// Instance names this bridge in the HeaderOrigin header of everything
	// it sends; it skips received messages with its own name, so it never
	// re-delivers its own events. It must be unique among the running
	// bridges of a Prefix (two bridges with one name would skip each
	// other's events), and it is the default JetStream durable name, so
	// in JetStream mode it must also stay the same across restarts of one
	// instance: required there. Printable ASCII without spaces, at most
	// 128 bytes. In Core mode it defaults to a random unique name.
	Instance string

	// Mode is Core (the zero value) or JetStream.
	Mode Mode

	// Export lists the event types sent to NATS; nil or empty means every
	// type. DisableExport sends nothing.
	Export        []eventbus.EventType
	DisableExport bool

	// Import lists the subject patterns, relative to Prefix, whose events
	// are published into the local bus: escaped event types (SubjectFor)
	// where a token may be the wildcard "*" and the last token ">", such
	// as "process.>" or "*.started". nil or empty means ">" (everything
	// under Prefix). In JetStream mode the patterns must not overlap.
	// DisableImport receives nothing.
	Import        []string
	DisableImport bool

	// DedupWindow is how many recent event IDs the bridge remembers, for
	// both duplicate suppression and loop prevention (see README,
	// "Duplicates and loops"). 0 means DefaultDedupWindow, or 4 × (the
	// bus's QueueSize + Workers) when that is larger. Memory is about 100
	// bytes per entry. Less than MinDedupWindow (and not 0) is an error.
	DedupWindow int

	// MaxMessageSize is the largest message body, in bytes, the bridge
	// sends or accepts. A larger outbound event is not sent (counted in
	// Metrics.EncodeFailures, reported with ErrTooLarge); a larger inbound
	// message is skipped (Metrics.Malformed). 0 means
	// DefaultMaxMessageSize. The server's max_payload applies on top.
	// Negative, or less than 256, is an error.
	MaxMessageSize int

	// JetStream configures JetStream mode; it is ignored in Core mode.
	JetStream JetStreamOptions

	// OnSendError, when set, is called for every exported event that was
	// not sent, with the reason: an error wrapping ErrEncode, ErrSubject or
	// ErrTooLarge (the event cannot become a message), or the error of
	// NATS (the connection is closed, its reconnect buffer is full, or in
	// JetStream mode the stream did not acknowledge the event after its
	// retries; ErrClosed when Close gave up waiting). It runs on the bus
	// worker that handles the event, or on a goroutine of nats.go for
	// JetStream acknowledgements; it must not block. A panic in it is
	// recovered and ignored.
	OnSendError func(ev eventbus.Event, err error)

	// OnMalformed, when set, is called for every received message that is
	// skipped as malformed, with the message and an error wrapping
	// ErrMalformed, ErrVersion or ErrTooLarge. It runs on the goroutine
	// that delivers the subscription's messages; it must not block and
	// must not keep msg. A panic in it is recovered and ignored.
	OnMalformed func(msg *nats.Msg, err error)

	// OnDrop, when set, is called for every received event the local bus
	// refused, with the bus's reason: eventbus.ErrQueueFull,
	// eventbus.ErrEventBusShutdown, or context.Canceled when the bridge
	// was closing. Events the bus accepted and evicted later are reported
	// by the bus's own Config.OnDrop, not here. It runs like OnMalformed.
	OnDrop func(ev eventbus.Event, reason error)

	// afterReceive, set by tests, is called after each received message
	// has been handled (and, in JetStream mode, acknowledged or given back).
	afterReceive func()
}

// JetStreamOptions configures JetStream mode. All fields are optional.
type JetStreamOptions struct {
	// Stream is the name of the stream holding the events. If it does not
	// exist, New creates it with the subjects "<Prefix>.>", file storage,
	// MaxAge and a duplicate window of two minutes (or MaxAge, if
	// shorter). An existing stream is used as it is, never changed; New
	// fails (ErrInvalidOptions) when its subjects do not store what the
	// bridge exports ("<Prefix>.>", or each subject of Export). Default:
	// Prefix upper-cased with dots as underscores, such as "ACME_EVENTS".
	Stream string

	// Durable is the name of this instance's durable consumer, which
	// remembers across restarts what the instance has acknowledged.
	// Default: Instance. Letters, digits, '-' and '_' only.
	Durable string

	// MaxAge is the retention of a stream New creates: an instance down for
	// longer misses the older events. 0 means DefaultStreamMaxAge.
	MaxAge time.Duration

	// DeliverAll makes a newly created durable consumer start at the
	// beginning of the stream. By default it starts with the events stored
	// after its creation. It does not affect an existing durable.
	DeliverAll bool

	// AckWait is how long the server waits for the bridge to acknowledge a
	// message before delivering it again. It must exceed the longest time
	// the local bus keeps a publisher waiting (Config.TimeoutDuration, or
	// forever under Block). 0 means DefaultAckWait.
	AckWait time.Duration

	// MaxAckPending bounds the messages delivered to this instance and not
	// yet acknowledged. 0 means DefaultMaxAckPending.
	MaxAckPending int

	// NakDelay is how long the server waits before redelivering a message
	// the bridge gave back because its bus was shut down or the bridge was
	// closing. 0 means DefaultNakDelay.
	NakDelay time.Duration

	// MaxPendingPublishes bounds the exported events awaiting the stream's
	// acknowledgement; past it an export waits up to StallWait for room.
	// 0 means DefaultMaxPendingPubs.
	MaxPendingPublishes int

	// StallWait is how long an export (a bus worker) waits for room under
	// MaxPendingPublishes before the event is put up for retry. 0 means
	// DefaultStallWait.
	StallWait time.Duration

	// PublishTimeout is how long an export waits for the stream's
	// acknowledgement before it is retried. 0 means DefaultPublishTimeout.
	PublishTimeout time.Duration

	// PublishRetries is how many times an export that failed for a
	// transient reason (disconnected, no acknowledgement in time, stream
	// not answering, too many pending) is sent again, RetryWait apart,
	// with the same message ID so that the stream stores it once. 0 means
	// DefaultPublishRetries; -1 means none.
	PublishRetries int

	// RetryWait is the pause before a retry. 0 means DefaultRetryWait.
	RetryWait time.Duration

	// APITimeout bounds each JetStream API request New makes (looking up or
	// creating the stream and the consumer). 0 means DefaultAPITimeout.
	APITimeout time.Duration
}

// resolved returns the options with defaults filled in, or an error
// wrapping ErrInvalidOptions that names the field.
func (o Options) resolved(bus *eventbus.EventBus) (Options, error) {
	bad := func(format string, args ...any) (Options, error) {
		return Options{}, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...)
	}
	if err := validatePrefix(o.Prefix); err != nil {
		return Options{}, err
	}
	if o.Mode != Core && o.Mode != JetStream {
		return bad("Mode %v is neither Core nor JetStream", o.Mode)
	}
	if o.Instance == "" {
		if o.Mode == JetStream {
			return bad("Instance is required in JetStream mode: it names the durable consumer that must survive restarts")
		}
		o.Instance = nuid.Next()
	}
	if len(o.Instance) > 128 || !headerSafe(o.Instance) {
		return bad("Instance %q must be 1..128 bytes of printable ASCII without spaces", o.Instance)
	}
	if o.DisableExport && o.DisableImport {
		return bad("DisableExport and DisableImport are both set: the bridge would do nothing")
	}
	o.Export = append([]eventbus.EventType(nil), o.Export...)
	seen := map[eventbus.EventType]bool{}
	for _, t := range o.Export {
		if seen[t] {
			return bad("Export lists %q twice", t)
		}
		seen[t] = true
		if _, err := subjectFor(o.Prefix, t); err != nil {
			return bad("Export type %q: %v", t, err)
		}
	}
	o.Import = append([]string(nil), o.Import...)
	if len(o.Import) == 0 {
		o.Import = []string{">"}
	}
	for _, p := range o.Import {
		if err := validatePattern(p); err != nil {
			return Options{}, err
		}
		if len(o.Prefix)+1+len(p) > MaxSubjectLen {
			return bad("Import pattern %q makes a subject longer than %d bytes", p, MaxSubjectLen)
		}
	}
	switch {
	case o.DedupWindow < 0 || (o.DedupWindow > 0 && o.DedupWindow < MinDedupWindow):
		return bad("DedupWindow %d is less than %d", o.DedupWindow, MinDedupWindow)
	case o.DedupWindow == 0:
		o.DedupWindow = DefaultDedupWindow
		cfg := bus.Config()
		if n := 4 * (cfg.QueueSize + cfg.Workers); n > o.DedupWindow {
			o.DedupWindow = n
		}
	}
	switch {
	case o.MaxMessageSize == 0:
		o.MaxMessageSize = DefaultMaxMessageSize
	case o.MaxMessageSize < 256:
		return bad("MaxMessageSize %d is less than 256", o.MaxMessageSize)
	}
	if o.Mode == JetStream {
		js, err := o.JetStream.resolved(o.Prefix, o.Instance)
		if err != nil {
			return Options{}, err
		}
		o.JetStream = js
	}
	return o, nil
}

func (j JetStreamOptions) resolved(prefix, instance string) (JetStreamOptions, error) {
	bad := func(format string, args ...any) (JetStreamOptions, error) {
		return JetStreamOptions{}, fmt.Errorf("%w: JetStream."+format, append([]any{ErrInvalidOptions}, args...)...)
	}
	if j.Stream == "" {
		j.Stream = strings.ToUpper(strings.ReplaceAll(prefix, ".", "_"))
	}
	if !validName(j.Stream) {
		return bad("Stream %q must be letters, digits, '-' and '_' only", j.Stream)
	}
	if j.Durable == "" {
		j.Durable = instance
		if !validName(j.Durable) {
			return bad("Durable is empty and Instance %q is not a valid durable name (letters, digits, '-' and '_'): set Durable", instance)
		}
	}
	if !validName(j.Durable) {
		return bad("Durable %q must be letters, digits, '-' and '_' only", j.Durable)
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"MaxAge", &j.MaxAge, DefaultStreamMaxAge},
		{"AckWait", &j.AckWait, DefaultAckWait},
		{"NakDelay", &j.NakDelay, DefaultNakDelay},
		{"StallWait", &j.StallWait, DefaultStallWait},
		{"PublishTimeout", &j.PublishTimeout, DefaultPublishTimeout},
		{"RetryWait", &j.RetryWait, DefaultRetryWait},
		{"APITimeout", &j.APITimeout, DefaultAPITimeout},
	}
	for _, d := range durations {
		switch {
		case *d.v < 0:
			return bad("%s %v is negative", d.name, *d.v)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	ints := []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxAckPending", &j.MaxAckPending, DefaultMaxAckPending},
		{"MaxPendingPublishes", &j.MaxPendingPublishes, DefaultMaxPendingPubs},
	}
	for _, n := range ints {
		switch {
		case *n.v < 0:
			return bad("%s %d is negative", n.name, *n.v)
		case *n.v == 0:
			*n.v = n.def
		}
	}
	switch {
	case j.PublishRetries < -1:
		return bad("PublishRetries %d is less than -1", j.PublishRetries)
	case j.PublishRetries == 0:
		j.PublishRetries = DefaultPublishRetries
	case j.PublishRetries == -1:
		j.PublishRetries = 0
	}
	return j, nil
}

// validName reports whether s is a valid stream or durable name for this
// package: non-empty, at most 64 bytes of letters, digits, '-' and '_'.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
