package stc

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// KeyLogLabel starts every line of a key log (PROTOCOL.md §4, "Key log"), as CLIENT_RANDOM
// starts an SSLKEYLOGFILE line: a reader skips lines with another label, so the format can grow.
const KeyLogLabel = "STT_TRAFFIC_SECRET"

// Direction names one direction of a session: which traffic secret chain a secret belongs to.
type Direction uint8

// The two directions of a session.
const (
	InitiatorToResponder Direction = iota // traffic secret chain i2r
	ResponderToInitiator                  // traffic secret chain r2i
)

// String returns the direction as written in a key log: "i2r" or "r2i".
func (d Direction) String() string {
	if d == InitiatorToResponder {
		return "i2r"
	}
	return "r2i"
}

// KeyLogEntry is one line of a key log: the traffic secret of one generation of one direction of
// one session. The key phase on the wire is Generation&1.
type KeyLogEntry struct {
	SessionID  [8]byte
	Dir        Direction
	Generation uint64
	Secret     Secret
}

// KeyLog appends the traffic secrets a node installs to a writer, one line each, so that a
// capture of its traffic can be decrypted later (sttfast pcap decrypt --keylog). Anyone who reads
// the log reads the traffic: it exists for debugging, is off unless configured, and a node that
// writes one says so on stderr. It is safe for concurrent use: sessions of every engine share one.
type KeyLog struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
	err error // the first write error; later lines are not attempted
}

// NewKeyLog returns a KeyLog writing to w.
func NewKeyLog(w io.Writer) *KeyLog { return &KeyLog{w: w} }

// Log writes the line of one traffic secret:
//
//	STT_TRAFFIC_SECRET <session id, 16 hex> <i2r|r2i> <generation, decimal> <secret, 64 hex>
//
// It is called once per key generation (session start and each key update), never per packet.
// A write error is returned once and then remembered: a full disk must not stop the traffic.
func (l *KeyLog) Log(e *KeyLogEntry) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return nil
	}
	b := appendKeyLogLine(l.buf[:0], e)
	_, l.err = l.w.Write(b)
	clear(b)
	l.buf = b
	return l.err
}

func appendKeyLogLine(b []byte, e *KeyLogEntry) []byte {
	b = append(b, KeyLogLabel...)
	b = append(b, ' ')
	b = hex.AppendEncode(b, e.SessionID[:])
	b = append(b, ' ')
	b = append(b, e.Dir.String()...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, e.Generation, 10)
	b = append(b, ' ')
	b = hex.AppendEncode(b, e.Secret[:])
	return append(b, '\n')
}

// ParseKeyLogLine parses one line of a key log (without or with its trailing newline). A line
// with another label is ErrKeyLogOtherLabel, so that readers can skip it; anything else that is
// not a well-formed line is ErrKeyLogFormat.
func ParseKeyLogLine(line []byte) (KeyLogEntry, error) {
	var e KeyLogEntry
	fields := bytes.Fields(line)
	if len(fields) == 0 || string(fields[0]) != KeyLogLabel {
		return e, ErrKeyLogOtherLabel
	}
	if len(fields) != 5 {
		return e, fmt.Errorf("%d fields, want 5: %w", len(fields), ErrKeyLogFormat)
	}
	if len(fields[1]) != 16 || hexDecodeInto(e.SessionID[:], fields[1]) != nil {
		return e, fmt.Errorf("session id is not 16 hex digits: %w", ErrKeyLogFormat)
	}
	switch string(fields[2]) {
	case "i2r":
		e.Dir = InitiatorToResponder
	case "r2i":
		e.Dir = ResponderToInitiator
	default:
		return e, fmt.Errorf("direction is neither i2r nor r2i: %w", ErrKeyLogFormat)
	}
	g, err := strconv.ParseUint(string(fields[3]), 10, 64)
	if err != nil {
		return e, fmt.Errorf("generation is not a decimal number: %w", ErrKeyLogFormat)
	}
	e.Generation = g
	if len(fields[4]) != 2*KeySize || hexDecodeInto(e.Secret[:], fields[4]) != nil {
		return e, fmt.Errorf("secret is not %d hex digits: %w", 2*KeySize, ErrKeyLogFormat)
	}
	return e, nil
}

func hexDecodeInto(dst, src []byte) error {
	_, err := hex.Decode(dst, src)
	return err
}

// NextGeneration returns the traffic secret of the generation after s (the key update chain of
// PROTOCOL.md §4), so that a reader of a key log can follow updates the log does not list.
func NextGeneration(s *Secret) Secret { return nextSecret(s) }
