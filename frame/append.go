package frame

import "unicode/utf8"

// Encoders append one frame to b and return the extended slice, allocating only when b's
// capacity runs out. Byte-array arguments are pointers so that callers pass their fixed-size
// buffers without a copy and the sizes are checked by the compiler.

// AppendPadding appends n PADDING bytes.
func AppendPadding(b []byte, n int) []byte {
	if n <= 0 {
		return b
	}
	return append(b, make([]byte, n)...) // compiled to a grow and a clear, no allocation
}

// AppendHello appends a HELLO frame: the protocol version the initiator speaks, its nonce,
// node id and clock (Unix ms).
func AppendHello(b []byte, version uint64, nonce *[NonceSize]byte, nodeID *[NodeIDSize]byte, ts uint64) []byte {
	b = append(b, byte(TypeHello))
	b = AppendVarint(b, version)
	return appendHelloFields(b, nonce, nodeID, ts)
}

// AppendChallenge appends a CHALLENGE frame: the responder's cookie nonce, node id and clock.
func AppendChallenge(b []byte, nonce *[NonceSize]byte, nodeID *[NodeIDSize]byte, ts uint64) []byte {
	b = append(b, byte(TypeChallenge))
	return appendHelloFields(b, nonce, nodeID, ts)
}

func appendHelloFields(b []byte, nonce *[NonceSize]byte, nodeID *[NodeIDSize]byte, ts uint64) []byte {
	b = append(b, nonce[:]...)
	b = append(b, nodeID[:]...)
	return AppendVarint(b, ts)
}

// AppendAuthProof appends an AUTH_PROOF frame: the handshake transcript, the initiator's
// nonce, timestamp and node id, then the responder's.
func AppendAuthProof(b []byte, nonceI *[NonceSize]byte, tsI uint64, nodeI *[NodeIDSize]byte,
	nonceR *[NonceSize]byte, tsR uint64, nodeR *[NodeIDSize]byte) []byte {
	b = append(b, byte(TypeAuthProof))
	b = append(b, nonceI[:]...)
	b = AppendVarint(b, tsI)
	b = append(b, nodeI[:]...)
	b = append(b, nonceR[:]...)
	b = AppendVarint(b, tsR)
	return append(b, nodeR[:]...)
}

// AppendClock appends a CLOCK frame: the responder's clock (Unix ms), the answer to a HELLO
// whose MAC proved the seed but whose timestamp was outside the responder's clock window.
func AppendClock(b []byte, ts uint64) []byte {
	return appendVarintFrame(b, TypeClock, ts)
}

// AppendKeyShare appends a KEY_SHARE frame: an ephemeral X25519 public key, after a HELLO (the
// initiator asks for forward secrecy), a CHALLENGE (the responder agrees) or an AUTH_PROOF (the
// initiator's key again, for the stateless responder).
func AppendKeyShare(b []byte, pub *[KeyShareSize]byte) []byte {
	b = append(b, byte(TypeKeyShare))
	return append(b, pub[:]...)
}

// AppendFSRequired appends an FS_REQUIRED frame: the responder requires forward secrecy and the
// HELLO it answers offered none.
func AppendFSRequired(b []byte) []byte { return append(b, byte(TypeFSRequired)) }

// AppendResume appends a RESUME frame: the session to resume, the epoch proposed (larger than
// every earlier one of the session), the initiator's fresh nonce, node id and clock (Unix ms),
// and the binder that proves the session's resumption secret.
func AppendResume(b []byte, id *[SessionIDSize]byte, epoch uint64, nonce *[NonceSize]byte,
	nodeID *[NodeIDSize]byte, ts uint64, binder *[BinderSize]byte) []byte {
	b = append(b, byte(TypeResume))
	b = append(b, id[:]...)
	b = AppendVarint(b, epoch)
	b = appendHelloFields(b, nonce, nodeID, ts)
	return append(b, binder[:]...)
}

// AppendResumeAccept appends a RESUME_ACCEPT frame: the epoch accepted, the responder's fresh
// nonce and node id, and the packet number the initiator's first packet must carry.
func AppendResumeAccept(b []byte, epoch uint64, nonce *[NonceSize]byte, nodeID *[NodeIDSize]byte, firstPN uint64) []byte {
	b = append(b, byte(TypeResumeAccept))
	b = AppendVarint(b, epoch)
	b = append(b, nonce[:]...)
	b = append(b, nodeID[:]...)
	return AppendVarint(b, firstPN)
}

// AppendResumeRefused appends a RESUME_REFUSED frame: the epoch refused and why (a
// ResumeRefusal code of package ctrl).
func AppendResumeRefused(b []byte, epoch, reason uint64) []byte {
	return appendVarintPairFrame(b, TypeResumeRefused, epoch, reason)
}

// AppendFinal appends a FINAL frame: status 0 accepts the session, anything else is the close
// code of the refusal.
func AppendFinal(b []byte, status uint64) []byte {
	return appendVarintFrame(b, TypeFinal, status)
}

// AppendData appends a DATA frame carrying data at offset of the stream. It panics if the
// data would end beyond MaxVarint.
func AppendData(b []byte, streamID, offset uint64, data []byte) []byte {
	if offset > MaxVarint-uint64(len(data)) {
		panic("frame: AppendData: offset+length above 2^62-1")
	}
	b = append(b, byte(TypeData))
	b = AppendVarint(b, streamID)
	b = AppendVarint(b, offset)
	b = AppendVarint(b, uint64(len(data)))
	return append(b, data...)
}

// DataHeaderLen returns the bytes a DATA frame spends before n bytes of data at offset of
// streamID.
func DataHeaderLen(streamID, offset uint64, n int) int {
	return 1 + VarintLen(streamID) + VarintLen(offset) + VarintLen(uint64(n))
}

// DataCapacity returns how many bytes of data at offset of streamID fit in a DATA frame of at
// most room bytes, 0 if none does. It lets a packer fill a packet exactly even when the
// length field shrinks with the data.
func DataCapacity(streamID, offset uint64, room int) int {
	n := room - DataHeaderLen(streamID, offset, room)
	if n <= 0 {
		return 0
	}
	// The length field was sized for room; the data is shorter, so its length may need a
	// shorter varint, which leaves room for up to a few more bytes.
	for n < room && DataHeaderLen(streamID, offset, n+1)+n+1 <= room {
		n++
	}
	return n
}

// AppendKeepAlive appends a KEEP_ALIVE frame with the token its KEEP_ALIVE_ACK will echo.
func AppendKeepAlive(b []byte, token uint64) []byte {
	return appendVarintFrame(b, TypeKeepAlive, token)
}

// AppendKeepAliveAck appends a KEEP_ALIVE_ACK frame echoing token.
func AppendKeepAliveAck(b []byte, token uint64) []byte {
	return appendVarintFrame(b, TypeKeepAliveAck, token)
}

// AppendStreamOpen appends a STREAM_OPEN frame announcing the stream id.
func AppendStreamOpen(b []byte, id uint64) []byte {
	return appendVarintFrame(b, TypeStreamOpen, id)
}

// AppendStreamClose appends a STREAM_CLOSE frame aborting both halves of the stream.
func AppendStreamClose(b []byte, id, code uint64) []byte {
	return appendVarintPairFrame(b, TypeStreamClose, id, code)
}

// AppendStreamFin appends a STREAM_FIN frame giving the final size of the sender's half.
func AppendStreamFin(b []byte, id, finalSize uint64) []byte {
	return appendVarintPairFrame(b, TypeStreamFin, id, finalSize)
}

// AppendStreamSkip appends a STREAM_SKIP frame: the sender abandoned the count messages numbered
// first, first+1, … that occupy stream bytes [off, end), and the receiver's reassembly point moves
// past them. It panics on fields ParseFrame would refuse (an empty range, a count of 0 or more
// messages than bytes), which only a caller's bug can produce.
func AppendStreamSkip(b []byte, id, off, end, first, count uint64) []byte {
	if !validSkip(off, end, first, count) {
		panic("frame: AppendStreamSkip: inconsistent fields")
	}
	b = appendVarintPairFrame(b, TypeStreamSkip, id, off)
	b = AppendVarint(b, end)
	b = AppendVarint(b, first)
	return AppendVarint(b, count)
}

// StreamKindProbabilistic is the STREAM_KIND of a probabilistic stream (PROTOCOL.md §5). Kind 0,
// the default reliable stream, is never announced; a receiver ignores kinds it does not know.
const StreamKindProbabilistic = 1

// AppendStreamKind appends a STREAM_KIND frame: the sender sends stream id as kind, with a
// message deadline of deadlineMicros (0: none), so that a relay can forward it the same way.
func AppendStreamKind(b []byte, id, kind, deadlineMicros uint64) []byte {
	return AppendVarint(appendVarintPairFrame(b, TypeStreamKind, id, kind), deadlineMicros)
}

// AppendSessionClose appends a SESSION_CLOSE frame. A reason longer than MaxReasonLen is cut
// at a UTF-8 character boundary at or below it.
func AppendSessionClose(b []byte, code uint64, reason []byte) []byte {
	if len(reason) > MaxReasonLen {
		reason = reason[:reasonCut(reason)]
	}
	b = append(b, byte(TypeSessionClose))
	b = AppendVarint(b, code)
	b = AppendVarint(b, uint64(len(reason)))
	return append(b, reason...)
}

// reasonCut returns where to cut a too-long reason: MaxReasonLen, moved back to the start of
// the UTF-8 sequence it falls in.
func reasonCut(reason []byte) int {
	n := MaxReasonLen
	for i := 0; i < utf8.UTFMax-1 && !utf8.RuneStart(reason[n]); i++ {
		n--
	}
	return n
}

// AppendMaxData appends a MAX_DATA frame: the session-wide byte limit.
func AppendMaxData(b []byte, limit uint64) []byte {
	return appendVarintFrame(b, TypeMaxData, limit)
}

// AppendMaxStreamData appends a MAX_STREAM_DATA frame: the byte limit of stream id.
func AppendMaxStreamData(b []byte, id, limit uint64) []byte {
	return appendVarintPairFrame(b, TypeMaxStreamData, id, limit)
}

// AppendMaxStreams appends a MAX_STREAMS frame: how many streams the peer may open.
func AppendMaxStreams(b []byte, limit uint64) []byte {
	return appendVarintFrame(b, TypeMaxStreams, limit)
}

// AppendKeyUpdate appends a KEY_UPDATE frame announcing the sender's key generation.
func AppendKeyUpdate(b []byte, generation uint64) []byte {
	return appendVarintFrame(b, TypeKeyUpdate, generation)
}

// AppendPathChallenge appends a PATH_CHALLENGE frame with data the peer must echo.
func AppendPathChallenge(b []byte, data *[PathDataSize]byte) []byte {
	return append(append(b, byte(TypePathChallenge)), data[:]...)
}

// AppendPathResponse appends a PATH_RESPONSE frame echoing a challenge's data.
func AppendPathResponse(b []byte, data *[PathDataSize]byte) []byte {
	return append(append(b, byte(TypePathResponse)), data[:]...)
}

// AppendApplication appends an application frame of type t (0x80–0xFF) with the sender's
// per-session sequence number seq, which lets the receiver deliver each frame exactly once even
// when a retransmission crosses a late acknowledgement. It panics if t is not an application
// type or data is longer than MaxPacketSize.
func AppendApplication(b []byte, t Type, seq uint64, data []byte) []byte {
	if !t.IsApplication() {
		panic("frame: AppendApplication: type below 0x80")
	}
	if len(data) > MaxPacketSize {
		panic("frame: AppendApplication: data longer than MaxPacketSize")
	}
	b = append(b, byte(t))
	b = AppendVarint(b, seq)
	b = AppendVarint(b, uint64(len(data)))
	return append(b, data...)
}

func appendVarintFrame(b []byte, t Type, v uint64) []byte {
	return AppendVarint(append(b, byte(t)), v)
}

func appendVarintPairFrame(b []byte, t Type, v, w uint64) []byte {
	return AppendVarint(AppendVarint(append(b, byte(t)), v), w)
}

// AppendFrame appends f, as ParseFrame left it, with the encoder of its type: it reproduces
// the bytes f was parsed from. An ACK or NACK must come from ParseFrame (build new ones with
// AppendAck and AppendNack); HELLO, CHALLENGE, AUTH_PROOF and PATH_* need byte fields of
// their exact sizes. It panics on a Frame it cannot encode.
func AppendFrame(b []byte, f *Frame) []byte {
	switch t := f.Type; t {
	case TypePadding:
		return AppendPadding(b, int(f.Value))
	case TypeHello:
		return AppendHello(b, f.Value, nonce(f.Nonce), nodeID(f.NodeID), f.Timestamp)
	case TypeChallenge:
		return AppendChallenge(b, nonce(f.Nonce), nodeID(f.NodeID), f.Timestamp)
	case TypeAuthProof:
		return AppendAuthProof(b, nonce(f.Nonce), f.Timestamp, nodeID(f.NodeID),
			nonce(f.RespNonce), f.RespTimestamp, nodeID(f.RespNodeID))
	case TypeData:
		return AppendData(b, f.StreamID, f.Offset, f.Data)
	case TypeAck, TypeNack:
		return appendParsedAck(b, t, &f.Ack)
	case TypeMaxData, TypeMaxStreams, TypeKeepAlive, TypeKeepAliveAck, TypeKeyUpdate:
		return appendVarintFrame(b, t, f.Value)
	case TypeMaxStreamData, TypeStreamFin:
		return appendVarintPairFrame(b, t, f.StreamID, f.Value)
	case TypeStreamOpen:
		return AppendStreamOpen(b, f.StreamID)
	case TypeStreamSkip:
		return AppendStreamSkip(b, f.StreamID, f.Offset, f.Value, f.FirstMessage, f.Messages)
	case TypeStreamKind:
		return AppendStreamKind(b, f.StreamID, f.Value, f.Deadline)
	case TypeStreamClose:
		return AppendStreamClose(b, f.StreamID, f.Code)
	case TypeFinal:
		return AppendFinal(b, f.Code)
	case TypeClock:
		return AppendClock(b, f.Timestamp)
	case TypeKeyShare:
		if len(f.Data) != KeyShareSize {
			panic("frame: AppendFrame: key share is not 32 bytes")
		}
		return AppendKeyShare(b, (*[KeyShareSize]byte)(f.Data))
	case TypeFSRequired:
		return AppendFSRequired(b)
	case TypeResume:
		return AppendResume(b, (*[SessionIDSize]byte)(f.Data), f.Value, nonce(f.Nonce), nodeID(f.NodeID),
			f.Timestamp, (*[BinderSize]byte)(f.RespNonce))
	case TypeResumeAccept:
		return AppendResumeAccept(b, f.Value, nonce(f.Nonce), nodeID(f.NodeID), f.Offset)
	case TypeResumeRefused:
		return AppendResumeRefused(b, f.Value, f.Code)
	case TypeSessionClose:
		return AppendSessionClose(b, f.Code, f.Data)
	case TypePathChallenge, TypePathResponse:
		return append(append(b, byte(t)), pathData(f.Data)[:]...)
	}
	if f.Type.IsApplication() {
		return AppendApplication(b, f.Type, f.Value, f.Data)
	}
	panic("frame: AppendFrame: unknown frame type " + f.Type.String())
}

// appendParsedAck re-encodes a parsed ACK or NACK from its validated wire ranges.
func appendParsedAck(b []byte, t Type, a *Ack) []byte {
	if a.n == 0 || a.nack != (t == TypeNack) {
		panic("frame: AppendFrame: " + t.String() + " not filled by ParseFrame")
	}
	b = append(b, byte(t))
	if a.nack {
		b = AppendVarint(b, uint64(a.n))
	} else {
		b = AppendVarint(b, a.Largest)
		b = AppendVarint(b, a.Delay)
		b = AppendVarint(b, uint64(a.n-1))
	}
	return append(b, a.raw...)
}

// Slice-to-array conversions that panic with a clear message instead of a bare index error.

func nonce(b []byte) *[NonceSize]byte {
	if len(b) != NonceSize {
		panic("frame: AppendFrame: nonce is not 32 bytes")
	}
	return (*[NonceSize]byte)(b)
}

func nodeID(b []byte) *[NodeIDSize]byte {
	if len(b) != NodeIDSize {
		panic("frame: AppendFrame: node id is not 8 bytes")
	}
	return (*[NodeIDSize]byte)(b)
}

func pathData(b []byte) *[PathDataSize]byte {
	if len(b) != PathDataSize {
		panic("frame: AppendFrame: path data is not 8 bytes")
	}
	return (*[PathDataSize]byte)(b)
}
