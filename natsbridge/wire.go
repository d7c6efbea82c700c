package natsbridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/brummer-dev/eventbus"
	"github.com/nats-io/nats.go"
)

// WireVersion is the version of the wire format this package writes, in
// the "v" field of every message. A message with any other version is
// counted as malformed and skipped: a future incompatible format gets a new
// number, and a bridge that does not know it refuses it rather than
// guessing.
const WireVersion = 1

// Header names the bridge sets on every message it sends.
const (
	// HeaderOrigin carries Options.Instance of the sending bridge. A bridge
	// skips the messages whose origin is its own instance, so it never
	// re-delivers its own events to its bus.
	HeaderOrigin = "Eventbus-Origin"

	// HeaderMsgID carries the event's ID. It is JetStream's message ID
	// header, so a stream drops a retried publish of the same event within
	// its duplicate window (StreamConfig.Duplicates).
	HeaderMsgID = "Nats-Msg-Id"
)

// MaxSubjectLen is the longest subject, in bytes, the bridge sends to. An
// event whose type, once escaped, makes a longer subject is not sent: it is
// counted in Metrics.EncodeFailures and reported to Options.OnSendError
// with an error wrapping ErrSubject. The bound keeps a protocol line well
// under the server's default max_control_line of 4 KiB, which a longer
// subject would exceed and so make the server close the connection.
const MaxSubjectLen = 1024

// Errors the bridge reports through its hooks and returns from New. Test
// for them with errors.Is: the reported errors wrap them with details.
var (
	// ErrInvalidOptions is wrapped by every error New returns for a bad
	// argument or Options field; the message names it.
	ErrInvalidOptions = errors.New("natsbridge: invalid options")

	// ErrEncode means an event's Data could not be encoded as JSON (a
	// channel, a func, a complex number, NaN or ±Inf, a cycle, a Marshaler
	// that failed or panicked) or its Timestamp is outside years 0..9999.
	ErrEncode = errors.New("natsbridge: cannot encode event")

	// ErrSubject means an event type cannot be made into a subject: once
	// escaped it makes a subject longer than MaxSubjectLen.
	ErrSubject = errors.New("natsbridge: event type too long for a subject")

	// ErrTooLarge means a message is larger than Options.MaxMessageSize:
	// an outbound event is then not sent, an inbound message is skipped as
	// malformed.
	ErrTooLarge = errors.New("natsbridge: message too large")

	// ErrMalformed means an inbound message is not an event in the wire
	// format: not JSON, a missing ID, Data that is not an object, or a type
	// that does not match the subject it came on.
	ErrMalformed = errors.New("natsbridge: malformed message")

	// ErrVersion means an inbound message has a "v" other than WireVersion.
	ErrVersion = errors.New("natsbridge: unsupported wire version")

	// ErrClosed is reported for an outbound event still waiting for its
	// JetStream acknowledgement when Close gave up on it.
	ErrClosed = errors.New("natsbridge: bridge closed")
)

// wireEvent is the JSON body of a message. See README.md, "Wire format".
type wireEvent struct {
	V         int            `json:"v"`
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	ProcessID string         `json:"process_id,omitempty"`
	Timestamp time.Time      `json:"timestamp"`
	Data      map[string]any `json:"data,omitempty"`
}

// encodeEvent returns the JSON body of ev. The Timestamp is written in
// UTC with nanoseconds. A panic in a json.Marshaler inside Data is
// recovered and returned as an error wrapping ErrEncode.
func encodeEvent(ev *eventbus.Event) (body []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			body, err = nil, fmt.Errorf("%w: panic while encoding Data: %v", ErrEncode, r)
		}
	}()
	body, err = json.Marshal(wireEvent{
		V:         WireVersion,
		ID:        ev.ID,
		Type:      string(ev.Type),
		ProcessID: ev.ProcessID,
		Timestamp: ev.Timestamp.UTC(),
		Data:      ev.Data,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEncode, err)
	}
	return body, nil
}

// decodeEvent parses a message body received on subject, where typeToken
// is the part of the subject after "<prefix>.". It checks the version, the
// ID, and that the type in the body is the one the subject names, so that
// a subscription filter cannot be slipped an event of another type.
func decodeEvent(body []byte, typeToken string) (eventbus.Event, error) {
	var w wireEvent
	if err := json.Unmarshal(body, &w); err != nil {
		return eventbus.Event{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if w.V != WireVersion {
		return eventbus.Event{}, fmt.Errorf("%w: v=%d, this bridge reads v=%d", ErrVersion, w.V, WireVersion)
	}
	if w.ID == "" {
		return eventbus.Event{}, fmt.Errorf("%w: empty id", ErrMalformed)
	}
	if got := escapeType(eventbus.EventType(w.Type)); got != typeToken {
		return eventbus.Event{}, fmt.Errorf("%w: type %q does not match subject token %q", ErrMalformed, w.Type, typeToken)
	}
	return eventbus.Event{
		ID:        w.ID,
		Type:      eventbus.EventType(w.Type),
		ProcessID: w.ProcessID,
		Timestamp: w.Timestamp,
		Data:      w.Data,
	}, nil
}

// SubjectFor returns the subject the bridge with the given prefix sends
// events of type t to: prefix + "." + the escaped type. Each dot-separated
// part of the type becomes one subject token, so "process.started" is sent
// to "<prefix>.process.started" and "<prefix>.process.>" matches every
// "process." type. Within a token, the bytes that NATS does not allow or
// gives a meaning to are percent-escaped as %XX (upper-case hex): space and
// every control byte (0x00-0x20, 0x7F), '*', '>', '%' itself, and every
// non-ASCII byte (so subjects stay ASCII). An empty token (a type that is
// empty, starts or ends with a dot, or has two dots in a row) becomes a
// lone "%". The mapping is one-to-one, so different types never share a
// subject.
//
// It returns an error wrapping ErrSubject when the subject would be longer
// than MaxSubjectLen, and one wrapping ErrInvalidOptions when prefix is not
// a valid prefix (see Options.Prefix). It is safe for concurrent use.
func SubjectFor(prefix string, t eventbus.EventType) (string, error) {
	if err := validatePrefix(prefix); err != nil {
		return "", err
	}
	return subjectFor(prefix, t)
}

func subjectFor(prefix string, t eventbus.EventType) (string, error) {
	s := prefix + "." + escapeType(t)
	if len(s) > MaxSubjectLen {
		return "", fmt.Errorf("%w: %d bytes, at most %d", ErrSubject, len(s), MaxSubjectLen)
	}
	return s, nil
}

// needsEscape reports whether byte c cannot stand for itself in a subject
// token.
func needsEscape(c byte) bool {
	return c <= ' ' || c >= 0x7f || c == '*' || c == '>' || c == '%'
}

// escapeType maps an event type to subject tokens as SubjectFor documents.
func escapeType(t eventbus.EventType) string {
	s := string(t)
	clean := len(s) > 0 && s[0] != '.' && s[len(s)-1] != '.' && !strings.Contains(s, "..")
	for i := 0; clean && i < len(s); i++ {
		clean = !needsEscape(s[i])
	}
	if clean {
		return s // the common case: no copy
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i, tok := range strings.Split(s, ".") {
		if i > 0 {
			b.WriteByte('.')
		}
		if tok == "" {
			b.WriteByte('%')
			continue
		}
		for j := 0; j < len(tok); j++ {
			c := tok[j]
			if needsEscape(c) {
				b.WriteByte('%')
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&15])
			} else {
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

// validatePrefix checks Options.Prefix: one or more non-empty tokens
// separated by dots, with no wildcard, whitespace, control or non-ASCII
// byte, and no '%'.
func validatePrefix(p string) error {
	if p == "" {
		return fmt.Errorf("%w: Prefix is empty", ErrInvalidOptions)
	}
	if len(p) > MaxSubjectLen/2 {
		return fmt.Errorf("%w: Prefix is %d bytes, at most %d", ErrInvalidOptions, len(p), MaxSubjectLen/2)
	}
	for _, tok := range strings.Split(p, ".") {
		if tok == "" {
			return fmt.Errorf("%w: Prefix %q has an empty token", ErrInvalidOptions, p)
		}
		for i := 0; i < len(tok); i++ {
			if needsEscape(tok[i]) {
				return fmt.Errorf("%w: Prefix %q contains %q, which is not allowed in a subject prefix", ErrInvalidOptions, p, tok[i])
			}
		}
	}
	return nil
}

// validatePattern checks one Options.Import pattern: dot-separated tokens
// in the escaped form of SubjectFor, where a token may be "*" (one token)
// and the last token may be ">" (one or more tokens).
func validatePattern(p string) error {
	if p == "" {
		return fmt.Errorf("%w: Import has an empty pattern", ErrInvalidOptions)
	}
	toks := strings.Split(p, ".")
	for i, tok := range toks {
		switch {
		case tok == "":
			return fmt.Errorf("%w: Import pattern %q has an empty token (escape an empty type token as %%)", ErrInvalidOptions, p)
		case tok == "*":
			continue
		case tok == ">":
			if i != len(toks)-1 {
				return fmt.Errorf("%w: Import pattern %q has '>' before its last token", ErrInvalidOptions, p)
			}
			continue
		}
		for j := 0; j < len(tok); j++ {
			if c := tok[j]; c <= ' ' || c >= 0x7f || c == '*' || c == '>' {
				return fmt.Errorf("%w: Import pattern %q contains %q inside a token; use the escaped form of SubjectFor", ErrInvalidOptions, p, c)
			}
		}
	}
	return nil
}

// newMsg builds the NATS message for an encoded event. The ID goes into
// HeaderMsgID only when it is printable ASCII without spaces, so that an ID
// holding a line break cannot corrupt the header block; the body always
// has it.
func newMsg(subject, origin, id string, body []byte) *nats.Msg {
	h := nats.Header{HeaderOrigin: []string{origin}}
	if headerSafe(id) {
		h[HeaderMsgID] = []string{id}
	}
	return &nats.Msg{Subject: subject, Header: h, Data: body}
}

// headerSafe reports whether s can be a header value as it is: non-empty,
// printable ASCII, no space.
func headerSafe(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
