package frame

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/; the seeds added here are the test tables,
// so a new case is fuzzed from the start.

var headerErrors = []error{ErrTruncated, ErrBadMagic, ErrBadVersion, ErrBadKind, ErrBadHeader, ErrOversize}

var frameErrors = []error{ErrTruncated, ErrOversize, ErrBadVarint, ErrUnknownFrame, ErrBadAck, ErrBadFrame}

func isOneOf(err error, errs []error) bool {
	for _, e := range errs {
		if err == e { // returned as-is, never wrapped
			return true
		}
	}
	return false
}

func FuzzParseHeader(f *testing.F) {
	for _, c := range headerCases {
		f.Add(AppendHeader(nil, &c.h))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Header
		if err := ParseHeader(b, &h); err != nil {
			if !isOneOf(err, headerErrors) {
				t.Fatalf("ParseHeader(%x): unexpected error %v", b, err)
			}
			return
		}
		if h.Len != HeaderLen(h.PNLen) || h.Len > len(b) {
			t.Fatalf("ParseHeader(%x): Len %d, PNLen %d", b, h.Len, h.PNLen)
		}
		if re := AppendHeader(nil, &h); !bytes.Equal(re, b[:h.Len]) {
			t.Fatalf("header %x re-encodes as %x", b[:h.Len], re)
		}
	})
}

// FuzzWalk walks arbitrary bodies. Every accepted frame must re-encode to exactly the bytes it
// was parsed from (the encoding is canonical) and parse back to the same fields.
func FuzzWalk(f *testing.F) {
	for _, c := range frameCases {
		f.Add(c.enc)
	}
	f.Add(mixedPacket()[15:])
	f.Fuzz(func(t *testing.T, body []byte) {
		var (
			w      Walker
			fr, f2 Frame
		)
		w.Reset(body)
		for {
			start := w.Offset()
			ok, err := w.Next(&fr)
			if err != nil {
				if ok || !isOneOf(err, frameErrors) || w.Offset() != start {
					t.Fatalf("Next at %d: %v, %v (offset now %d)", start, ok, err, w.Offset())
				}
				return
			}
			if !ok {
				if start != len(body) {
					t.Fatalf("walk ended at %d of %d", start, len(body))
				}
				return
			}
			raw := body[start:w.Offset()]
			if len(raw) == 0 {
				t.Fatalf("empty frame at %d", start)
			}
			enc := AppendFrame(nil, &fr)
			if !bytes.Equal(enc, raw) {
				t.Fatalf("%s parsed from %x re-encodes as %x", describe(&fr), raw, enc)
			}
			n, err := ParseFrame(enc, &f2)
			if err != nil || n != len(enc) || describe(&f2) != describe(&fr) {
				t.Fatalf("re-parse of %x: %d, %v, %s; want %s", enc, n, err, describe(&f2), describe(&fr))
			}
		}
	})
}

// fuzzTypes are the frame types FuzzRoundTrip builds, selected by its first argument.
var fuzzTypes = []Type{
	TypePadding, TypeHello, TypeChallenge, TypeAuthProof, TypeClock, TypeKeyShare, TypeFSRequired, TypeFinal, TypeData, TypeAck, TypeNack,
	TypeKeepAlive, TypeKeepAliveAck, TypeStreamOpen, TypeStreamClose, TypeStreamFin, TypeStreamSkip, TypeStreamKind,
	TypeSessionClose, TypeMaxData, TypeMaxStreamData, TypeMaxStreams, TypeKeyUpdate,
	TypePathChallenge, TypePathResponse, TypeAppMin,
}

// FuzzRoundTrip builds a frame of the selected type from fuzzed fields, encodes it, and checks
// that it parses back to the same fields and re-encodes to the same bytes.
func FuzzRoundTrip(f *testing.F) {
	for i := range fuzzTypes {
		f.Add(uint8(i), uint64(i)*1000003, uint64(1)<<(i*3), uint64(MaxVarint-i), []byte("seed data for the frame round trip"))
	}
	f.Fuzz(func(t *testing.T, sel uint8, a, b, c uint64, data []byte) {
		typ := fuzzTypes[int(sel)%len(fuzzTypes)]
		var enc []byte
		var want string
		switch typ {
		case TypeAck:
			ranges := fuzzAckRanges(a, c, data)
			maxLen := int(b % 2048)
			enc = AppendAck(nil, ranges, b&MaxVarint, maxLen)
			if len(enc) == 0 {
				if first := AppendAck(nil, ranges[:1], b&MaxVarint, MaxPacketSize); len(first) <= maxLen {
					t.Fatalf("AppendAck wrote nothing though %d bytes fit in %d", len(first), maxLen)
				}
				return
			}
			if len(enc) > maxLen {
				t.Fatalf("ACK of %d bytes exceeds maxLen %d", len(enc), maxLen)
			}
			var fr Frame
			if _, err := ParseFrame(enc, &fr); err != nil {
				t.Fatalf("ACK %x: %v", enc, err)
			}
			kept := collect(&fr.Ack)
			if len(kept) > MaxAckRanges+1 || !slices.Equal(kept, ranges[:len(kept)]) {
				t.Fatalf("ACK kept %v of %v", kept, ranges)
			}
			want = describe(&fr)
		case TypeNack:
			ranges := fuzzNackRanges(a, c, data)
			enc = AppendNack(nil, ranges)
			want = fmt.Sprintf("NACK ranges=%v", ranges[:min(len(ranges), MaxNackRanges)])
		default:
			fr := fuzzFrame(typ, sel, a, b, c, data)
			enc = AppendFrame(nil, &fr)
			want = describe(&fr)
		}
		var got Frame
		n, err := ParseFrame(enc, &got)
		if err != nil || n != len(enc) {
			t.Fatalf("%s: ParseFrame(%x) = %d, %v", want, enc, n, err)
		}
		if describe(&got) != want {
			t.Fatalf("round trip\n got %s\nwant %s", describe(&got), want)
		}
		if re := AppendFrame(nil, &got); !bytes.Equal(re, enc) {
			t.Fatalf("%s: re-encodes as %x, was %x", want, re, enc)
		}
	})
}

// fuzzFrame builds a valid frame of type typ from fuzzed values, clamping them into range.
func fuzzFrame(typ Type, sel uint8, a, b, c uint64, data []byte) Frame {
	a, b, c = a&MaxVarint, b&MaxVarint, c&MaxVarint
	fr := Frame{Type: typ}
	switch typ {
	case TypePadding:
		fr.Value = 1 + a%1500
	case TypeHello, TypeChallenge, TypeAuthProof:
		fr.Value, fr.Timestamp, fr.RespTimestamp = a, b, c
		if typ != TypeHello {
			fr.Value = 0
		}
		fr.Nonce, fr.NodeID = fill(NonceSize, data, 1), fill(NodeIDSize, data, 2)
		if typ == TypeAuthProof {
			fr.RespNonce, fr.RespNodeID = fill(NonceSize, data, 3), fill(NodeIDSize, data, 4)
		}
	case TypeData:
		fr.StreamID, fr.Offset, fr.Data = a, min(b, MaxVarint-uint64(len(data))), data
	case TypeFinal, TypeStreamClose, TypeSessionClose:
		fr.StreamID, fr.Code = a, b
		if typ == TypeSessionClose {
			fr.Data = data[:min(len(data), MaxReasonLen)]
		}
	case TypePathChallenge, TypePathResponse:
		fr.Data = fill(PathDataSize, data, 5)
	case TypeClock:
		fr.Timestamp = a
	case TypeKeyShare:
		fr.Data = fill(KeyShareSize, data, 6)
	case TypeFSRequired:
	case TypeStreamKind:
		fr.StreamID, fr.Value, fr.Deadline = a, b, c
	case TypeStreamSkip:
		// A valid skip: [off, end) not empty, 1 <= count <= end-off, first+count in range.
		fr.StreamID, fr.Offset = a, min(b, MaxVarint-1)
		fr.Value = fr.Offset + 1 + c%min(MaxVarint-fr.Offset, 1<<40)
		fr.Messages = 1 + uint64(len(data))%(fr.Value-fr.Offset)
		fr.FirstMessage = (a ^ c) & MaxVarint % (MaxVarint - fr.Messages + 1)
	case TypeAppMin:
		fr.Type, fr.Value, fr.Data = TypeAppMin|Type(sel), a, data
	default: // the varint frames
		fr.StreamID, fr.Value = a, b
	}
	return fr
}

// fill returns n bytes derived from data, so that the fuzzer controls them.
func fill(n int, data []byte, salt byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = salt
		if len(data) > 0 {
			b[i] ^= data[(i+int(salt))%len(data)]
		}
	}
	return b
}

// fuzzAckRanges turns data into descending, disjoint, non-adjacent ranges below largest: each
// byte pair is a gap and a length, scaled by a power of two taken from scale.
func fuzzAckRanges(largest, scale uint64, data []byte) []Range {
	shift := scale % 40
	hi := largest & MaxVarint
	var rs []Range
	for i := 0; ; i += 2 {
		var length uint64
		if i < len(data) {
			length = uint64(data[i]) << shift >> 4
		}
		lo := hi - min(hi, length)
		rs = append(rs, Range{Lo: lo, Hi: hi})
		if i+1 >= len(data) {
			return rs
		}
		gap := uint64(data[i+1]) << shift >> 4
		if lo < gap+2 {
			return rs
		}
		hi = lo - gap - 2
	}
}

// fuzzNackRanges turns data into at least one NACK range, in no particular order.
func fuzzNackRanges(base, scale uint64, data []byte) []Range {
	shift := scale % 56
	rs := []Range{{Lo: base & MaxVarint, Hi: base & MaxVarint}}
	for i := 0; i+1 < len(data); i += 2 {
		lo := (base + uint64(data[i])<<shift) & MaxVarint
		rs = append(rs, Range{Lo: lo, Hi: lo + min(MaxVarint-lo, uint64(data[i+1]))})
	}
	return rs
}
