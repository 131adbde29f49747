package frame

import "encoding/binary"

// Frame is one parsed frame. It is a union, meant to be reused across frames and packets:
// ParseFrame sets Type and the fields that type carries and leaves the others untouched, so a
// field that does not belong to Type holds whatever an earlier frame left there.
type Frame struct {
	Type Type

	StreamID uint64 // DATA, STREAM_*, MAX_STREAM_DATA
	Offset   uint64 // DATA, STREAM_SKIP (the first abandoned byte)
	// Value is the single number of MAX_DATA, MAX_STREAM_DATA and MAX_STREAMS (the maximum),
	// STREAM_FIN (the final size), STREAM_SKIP (the end of the abandoned bytes), KEEP_ALIVE and KEEP_ALIVE_ACK (the token), KEY_UPDATE (the
	// generation), HELLO (the version) and APPLICATION (the sequence number), and the length of a
	// PADDING run.
	Value uint64
	Code  uint64 // STREAM_CLOSE and SESSION_CLOSE error code, FINAL status

	// Data is the payload of DATA and APPLICATION frames, the SESSION_CLOSE reason (unchecked
	// bytes that should be UTF-8), or the 8 bytes of PATH_CHALLENGE and PATH_RESPONSE.
	Data []byte

	// Nonce, NodeID and Timestamp (Unix ms) are the sender's in HELLO and CHALLENGE and the
	// initiator's in AUTH_PROOF; CLOCK carries only the Timestamp, the responder's.
	Nonce     []byte
	NodeID    []byte
	Timestamp uint64
	// RESUME carries the session id in Data, the proposed epoch in Value, the initiator's Nonce,
	// NodeID and Timestamp, and its binder in RespNonce. RESUME_ACCEPT carries the epoch in
	// Value, the responder's Nonce and NodeID, and in Offset the packet number the initiator's
	// first packet must carry. RESUME_REFUSED carries the epoch in Value and the reason in Code.
	//
	// RespNonce, RespNodeID and RespTimestamp are the responder's in AUTH_PROOF.
	RespNonce     []byte
	RespNodeID    []byte
	RespTimestamp uint64

	Ack Ack // ACK and NACK

	// FirstMessage and Messages are STREAM_SKIP's abandoned messages: their count, and the
	// number (0 for a stream's first message) of the first of them.
	FirstMessage uint64
	Messages     uint64

	// Deadline is STREAM_KIND's message deadline in microseconds (0: none); its kind is in
	// Value (StreamKindProbabilistic).
	Deadline uint64
}

// ParseFrame parses the frame at the start of b into f and returns its length. A PADDING
// frame takes in the whole run of zero bytes that starts it, so a padded body costs one call.
// On error f.Type is set if b was not empty and the other fields are unspecified.
func ParseFrame(b []byte, f *Frame) (n int, err error) {
	if len(b) == 0 {
		return 0, ErrTruncated
	}
	t := Type(b[0])
	f.Type = t
	i := 1
	switch t {
	case TypePadding:
		i = paddingLen(b)
		f.Value = uint64(i)
	case TypeData:
		i = parseData(b, i, f)
	case TypeAck:
		i = parseAck(b, i, &f.Ack)
	case TypeNack:
		i = parseNack(b, i, &f.Ack)
	case TypeMaxData, TypeMaxStreams, TypeKeepAlive, TypeKeepAliveAck, TypeKeyUpdate:
		f.Value, i = varintAt(b, i)
	case TypeMaxStreamData, TypeStreamFin:
		f.StreamID, i = varintAt(b, i)
		f.Value, i = varintAt(b, i)
	case TypeStreamOpen:
		f.StreamID, i = varintAt(b, i)
	case TypeStreamSkip:
		i = parseStreamSkip(b, i, f)
	case TypeStreamKind:
		f.StreamID, i = varintAt(b, i)
		f.Value, i = varintAt(b, i)
		f.Deadline, i = varintAt(b, i)
	case TypeStreamClose:
		f.StreamID, i = varintAt(b, i)
		f.Code, i = varintAt(b, i)
	case TypeFinal:
		f.Code, i = varintAt(b, i)
	case TypeSessionClose:
		f.Code, i = varintAt(b, i)
		n, i = lengthAt(b, i, MaxReasonLen)
		f.Data, i = bytesAt(b, i, n)
	case TypePathChallenge, TypePathResponse:
		f.Data, i = bytesAt(b, i, PathDataSize)
	case TypeHello:
		f.Value, i = varintAt(b, i)
		i = parseHello(b, i, f)
	case TypeChallenge:
		i = parseHello(b, i, f)
	case TypeAuthProof:
		i = parseAuthProof(b, i, f)
	case TypeClock:
		f.Timestamp, i = varintAt(b, i)
	case TypeKeyShare:
		f.Data, i = bytesAt(b, i, KeyShareSize)
	case TypeFSRequired:
	case TypeResume:
		i = parseResume(b, i, f)
	case TypeResumeAccept:
		f.Value, i = varintAt(b, i)
		f.Nonce, i = bytesAt(b, i, NonceSize)
		f.NodeID, i = bytesAt(b, i, NodeIDSize)
		f.Offset, i = varintAt(b, i)
	case TypeResumeRefused:
		f.Value, i = varintAt(b, i)
		f.Code, i = varintAt(b, i)
	default:
		if !t.IsApplication() {
			return 0, ErrUnknownFrame
		}
		f.Value, i = varintAt(b, i)
		n, i = lengthAt(b, i, MaxPacketSize)
		f.Data, i = bytesAt(b, i, n)
	}
	if i < 0 {
		return 0, errAt(i)
	}
	return i, nil
}

// paddingLen measures the run of zeros at the start of b, a word at a time: a HELLO carries
// a thousand of them.
func paddingLen(b []byte) int {
	n := 1
	for len(b)-n >= 8 && binary.LittleEndian.Uint64(b[n:]) == 0 {
		n += 8
	}
	for n < len(b) && b[n] == 0 {
		n++
	}
	return n
}

func parseData(b []byte, i int, f *Frame) int {
	f.StreamID, i = varintAt(b, i)
	f.Offset, i = varintAt(b, i)
	n, i := varintAt(b, i)
	switch {
	case n > MaxPacketSize:
		i = fail(i, failOversize)
	case f.Offset+n > MaxVarint:
		i = fail(i, failBadFrame)
	}
	f.Data, i = bytesAt(b, i, int(n))
	return i
}

// parseStreamSkip reads STREAM_SKIP: stream id, offset, end, first message, message count. The
// abandoned bytes [offset, end) are not empty, end fits a stream offset, and the count is at
// least 1 and at most one message per byte (every message has a length prefix).
func parseStreamSkip(b []byte, i int, f *Frame) int {
	f.StreamID, i = varintAt(b, i)
	f.Offset, i = varintAt(b, i)
	f.Value, i = varintAt(b, i)
	f.FirstMessage, i = varintAt(b, i)
	f.Messages, i = varintAt(b, i)
	if i >= 0 && !validSkip(f.Offset, f.Value, f.FirstMessage, f.Messages) {
		i = fail(i, failBadFrame)
	}
	return i
}

// validSkip reports whether a STREAM_SKIP's fields are consistent (PROTOCOL.md §2).
func validSkip(off, end, first, count uint64) bool {
	return off < end && end <= MaxVarint && count >= 1 && count <= end-off && first <= MaxVarint-count
}

// parseHello reads the nonce, node id and timestamp that HELLO (after its version) and
// CHALLENGE share.
func parseHello(b []byte, i int, f *Frame) int {
	f.Nonce, i = bytesAt(b, i, NonceSize)
	f.NodeID, i = bytesAt(b, i, NodeIDSize)
	f.Timestamp, i = varintAt(b, i)
	return i
}

// parseResume reads a RESUME: session id (in Data), epoch (Value), nonce, node id, timestamp and
// binder (in RespNonce).
func parseResume(b []byte, i int, f *Frame) int {
	f.Data, i = bytesAt(b, i, SessionIDSize)
	f.Value, i = varintAt(b, i)
	f.Nonce, i = bytesAt(b, i, NonceSize)
	f.NodeID, i = bytesAt(b, i, NodeIDSize)
	f.Timestamp, i = varintAt(b, i)
	f.RespNonce, i = bytesAt(b, i, BinderSize)
	return i
}

func parseAuthProof(b []byte, i int, f *Frame) int {
	f.Nonce, i = bytesAt(b, i, NonceSize)
	f.Timestamp, i = varintAt(b, i)
	f.NodeID, i = bytesAt(b, i, NodeIDSize)
	f.RespNonce, i = bytesAt(b, i, NonceSize)
	f.RespTimestamp, i = varintAt(b, i)
	f.RespNodeID, i = bytesAt(b, i, NodeIDSize)
	return i
}

// Walker iterates over the frames of a packet body without allocating:
//
//	w.Reset(body)
//	for {
//		ok, err := w.Next(&f)
//		if err != nil {
//			return err // a packet holding a malformed frame is dropped whole
//		}
//		if !ok {
//			break // end of the body
//		}
//		handle(&f)
//	}
//
// The zero Walker walks an empty body; a Walker may be reused for any number of bodies.
type Walker struct {
	b   []byte
	off int
	err error
}

// Reset starts a walk over body.
func (w *Walker) Reset(body []byte) {
	*w = Walker{b: body}
}

// Next parses the next frame into f. It returns false with a nil error at the end of the
// body, and false with the error of the first malformed frame from then on.
func (w *Walker) Next(f *Frame) (ok bool, err error) {
	if w.err != nil || w.off >= len(w.b) {
		return false, w.err
	}
	n, err := ParseFrame(w.b[w.off:], f)
	if err != nil {
		w.err = err
		return false, err
	}
	w.off += n
	return true, nil
}

// Offset returns how many bytes of the body the walk has consumed: after an error, the
// offset of the malformed frame.
func (w *Walker) Offset() int { return w.off }
