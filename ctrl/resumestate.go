package ctrl

import (
	"errors"
	"fmt"
	"slices"

	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// A session's exported state (docs/PROTOCOL.md §4, "Resumption"), before sealing:
//
//	magic "STR1" (4) | session id (8) | peer node id (8) | epoch (varint) | resumption secret (32) |
//	next local stream (varint) | local streams opened (varint) | peer MAX_DATA (varint) |
//	peer MAX_STREAMS (varint) | stream count (varint, at most maxStateStreams) |
//	count × [stream id (varint), send base (varint), peer MAX_STREAM_DATA (varint)] |
//	address length (varint, at most maxStateAddr) | address | app length (varint, at most
//	MaxStateApp) | app bytes
//
// Sealed with stc.SealState under K_state: only a node holding the same seed can read it.
const stateMagic = "STR1"

// Bounds of a state: a file read from disk is untrusted input, so nothing in it may make the
// parser allocate more than these allow.
const (
	maxStateStreams = 4096
	maxStateAddr    = 512
	// MaxStateApp bounds the application's bytes in an exported state.
	MaxStateApp = 4096
	// MaxStateSize bounds a sealed state (what a reader of a state file need read at most).
	MaxStateSize = 4 + 8 + 8 + 8 + 32 + 4*8 + 8 + maxStateStreams*24 + 8 + maxStateAddr + 8 + MaxStateApp + stc.StateOverhead
)

// Errors of exported states.
var (
	// ErrNotResumable is returned by ExportState for a session this node accepted: only the
	// side that dialed can resume (the peer knows where to find it).
	ErrNotResumable = errors.New("only a dialed session can be exported")
	// ErrBadState reports exported state that is malformed (it opened under our seed, so it
	// was made by a node holding it, but not by this format).
	ErrBadState = errors.New("malformed resumable state")
)

// ResumeState is a session's resumable state, exported by Node.ExportState and read back by
// Node.OpenState (on this node or any node holding the same seed) for Node.Resume.
type ResumeState struct {
	// Addr is the peer's address the session was dialed at (Resume's default).
	Addr string
	// App is the application's bytes, stored with the state (the command keeps its input
	// offset there).
	App  []byte
	snap dataplane.Snapshot
}

// ID is the session's id.
func (st *ResumeState) ID() [8]byte { return st.snap.ID }

// Epoch is the last resume epoch of the session when the state was exported.
func (st *ResumeState) Epoch() uint64 { return st.snap.Epoch }

// Stream returns what the state records of stream id: the offset its sender restarts at, and
// whether the state has it.
func (st *ResumeState) Stream(id uint64) (base uint64, ok bool) {
	for _, s := range st.snap.Streams {
		if s.ID == id {
			return s.SendBase, true
		}
	}
	return 0, false
}

// Erase overwrites the resumption secret the state holds.
func (st *ResumeState) Erase() { st.snap.Erase() }

// ExportState seals s's resumable state with the node's seed: its id, epoch, resumption secret
// (never a traffic key), the streams this side opened with the offset each restarts at, the
// peer's credits, addr and app. base, if not nil, moves a stream's restart offset down from its
// acknowledged prefix to a boundary of the application's framing. The result is safe to store:
// it reveals nothing without the seed, and it cannot be altered undetected.
func (n *Node) ExportState(s *Session, addr string, app []byte, base func(id, acked uint64) uint64) ([]byte, error) {
	if !s.Initiator() {
		return nil, ErrNotResumable
	}
	if len(app) > MaxStateApp || len(addr) > maxStateAddr {
		return nil, fmt.Errorf("export state: %w: address or application data too long", ErrBadState)
	}
	snap := s.Snapshot(base)
	defer snap.Erase()
	if len(snap.Streams) > maxStateStreams {
		return nil, fmt.Errorf("export state: %w: more than %d streams", ErrBadState, maxStateStreams)
	}
	b := appendState(nil, &snap, addr, app)
	defer clear(b)
	return stc.SealState(n.seed, b)
}

// appendState encodes a snapshot in the state layout.
func appendState(b []byte, sn *dataplane.Snapshot, addr string, app []byte) []byte {
	b = append(b, stateMagic...)
	b = append(b, sn.ID[:]...)
	b = append(b, sn.PeerNodeID[:]...)
	b = frame.AppendVarint(b, sn.Epoch)
	b = append(b, sn.Resumption[:]...)
	for _, v := range []uint64{sn.NextLocal, sn.LocalOpened, sn.PeerMaxData, sn.PeerMaxStrs, uint64(len(sn.Streams))} {
		b = frame.AppendVarint(b, v)
	}
	for _, rs := range sn.Streams {
		b = frame.AppendVarint(b, rs.ID)
		b = frame.AppendVarint(b, rs.SendBase)
		b = frame.AppendVarint(b, rs.PeerMax)
	}
	b = frame.AppendVarint(b, uint64(len(addr)))
	b = append(b, addr...)
	b = frame.AppendVarint(b, uint64(len(app)))
	return append(b, app...)
}

// OpenState opens a state sealed by ExportState. A state sealed under another seed (or
// altered) is a *ResumeError with reason ResumeWrongSeed; one that opens but does not parse is
// ErrBadState.
func (n *Node) OpenState(sealed []byte) (*ResumeState, error) {
	if len(sealed) > MaxStateSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrBadState, len(sealed), MaxStateSize)
	}
	pt, err := stc.OpenState(n.seed, sealed)
	if err != nil {
		return nil, &ResumeError{Reason: ResumeWrongSeed}
	}
	defer clear(pt)
	return parseState(pt)
}

// stateReader reads the state layout, remembering the first error.
type stateReader struct {
	b   []byte
	err bool
}

func (r *stateReader) bytes(n int) []byte {
	if r.err || n < 0 || len(r.b) < n {
		r.err = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *stateReader) varint() uint64 {
	if r.err {
		return 0
	}
	v, n, err := frame.ReadVarint(r.b)
	if err != nil {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

// parseState decodes the state layout; it never allocates more than the bounds allow.
func parseState(b []byte) (*ResumeState, error) {
	r := stateReader{b: b}
	if string(r.bytes(4)) != stateMagic {
		return nil, fmt.Errorf("%w: not a state of this version", ErrBadState)
	}
	st := &ResumeState{}
	sn := &st.snap
	copy(sn.ID[:], r.bytes(8))
	copy(sn.PeerNodeID[:], r.bytes(8))
	sn.Epoch = r.varint()
	copy(sn.Resumption[:], r.bytes(32))
	sn.NextLocal, sn.LocalOpened = r.varint(), r.varint()
	sn.PeerMaxData, sn.PeerMaxStrs = r.varint(), r.varint()
	count := r.varint()
	if count > maxStateStreams {
		return nil, fmt.Errorf("%w: %d streams", ErrBadState, count)
	}
	for range count {
		rs := dataplane.ResumedStream{ID: r.varint(), SendBase: r.varint(), PeerMax: r.varint()}
		if r.err {
			break
		}
		// Only the initiator's own streams, each once, each already opened: anything else was
		// not written by ExportState.
		if rs.ID&1 != 0 || rs.ID >= sn.NextLocal || slices.ContainsFunc(sn.Streams, func(o dataplane.ResumedStream) bool { return o.ID == rs.ID }) {
			return nil, fmt.Errorf("%w: stream %d", ErrBadState, rs.ID)
		}
		sn.Streams = append(sn.Streams, rs)
	}
	alen := r.varint()
	if alen > maxStateAddr {
		return nil, fmt.Errorf("%w: address of %d bytes", ErrBadState, alen)
	}
	st.Addr = string(r.bytes(int(alen)))
	plen := r.varint()
	if plen > MaxStateApp {
		return nil, fmt.Errorf("%w: application data of %d bytes", ErrBadState, plen)
	}
	st.App = append([]byte(nil), r.bytes(int(plen))...)
	if r.err || len(r.b) != 0 {
		st.Erase()
		return nil, fmt.Errorf("%w: truncated or trailing bytes", ErrBadState)
	}
	return st, nil
}
