package frame

import (
	"errors"
	"math/rand/v2"
	"testing"
)

var testSessionID = [SessionIDSize]byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}

type headerCase struct {
	name   string // also the name of its line in testdata/golden/headers.txt
	h      Header // as given to AppendHeader, with the full packet number
	wirePN uint64 // the packet number ParseHeader returns
}

var headerCases = []headerCase{
	{"header/handshake", Header{Kind: KindHandshake, SessionID: [8]byte(nonceI[:8]), PacketNumber: 3, PNLen: 1}, 3},
	{"header/protected-pn1", Header{Kind: KindProtected, SessionID: testSessionID, PacketNumber: 0x2a, PNLen: 1}, 0x2a},
	{"header/protected-pn2-phase1", Header{Kind: KindProtected, KeyPhase: 1, SessionID: testSessionID, PacketNumber: 0x1234, PNLen: 2}, 0x1234},
	{"header/protected-pn4", Header{Kind: KindProtected, SessionID: testSessionID, PacketNumber: 0x89abcdef, PNLen: 4}, 0x89abcdef},
	{"header/protected-pn4-phase1", Header{Kind: KindProtected, KeyPhase: 1, SessionID: testSessionID, PacketNumber: 0, PNLen: 4}, 0},
	{"header/protected-pn8", Header{Kind: KindProtected, SessionID: testSessionID, PacketNumber: 1 << 32, PNLen: 8}, 1 << 32},
	{"header/protected-pn8-max-phase1", Header{Kind: KindProtected, KeyPhase: 1, SessionID: testSessionID, PacketNumber: MaxVarint, PNLen: 8}, MaxVarint},
	{"header/protected-pn2-truncated", Header{Kind: KindProtected, SessionID: testSessionID, PacketNumber: 0x1_2345_6789, PNLen: 2}, 0x6789},
}

func TestHeaderRoundTrip(t *testing.T) {
	for _, c := range headerCases {
		enc := AppendHeader(nil, &c.h)
		if len(enc) != HeaderLen(c.h.PNLen) {
			t.Errorf("%s: %d bytes, HeaderLen says %d", c.name, len(enc), HeaderLen(c.h.PNLen))
		}
		packet := append(enc, "body"...)
		var h Header
		if err := ParseHeader(packet, &h); err != nil {
			t.Fatalf("%s: ParseHeader(%x) = %v", c.name, packet, err)
		}
		want := c.h
		want.PacketNumber, want.Len = c.wirePN, len(enc)
		if h != want {
			t.Errorf("%s: parsed %+v, want %+v", c.name, h, want)
		}
		for k := range len(enc) {
			if err := ParseHeader(enc[:k], &h); !errors.Is(err, ErrTruncated) {
				t.Errorf("%s: ParseHeader(first %d bytes) = %v, want ErrTruncated", c.name, k, err)
			}
		}
	}
}

func TestHeaderLimits(t *testing.T) {
	h := Header{Kind: KindProtected, PNLen: 4}
	big := AppendHeader(make([]byte, 0, MaxPacketSize+1), &h)
	big = big[:MaxPacketSize]
	if err := ParseHeader(big, &h); err != nil {
		t.Errorf("packet of MaxPacketSize: %v", err)
	}
	if err := ParseHeader(big[:MaxPacketSize+1], &h); !errors.Is(err, ErrOversize) {
		t.Errorf("packet of MaxPacketSize+1: %v, want ErrOversize", err)
	}
	for _, n := range []int{0, 3, 5, 16} {
		if HeaderLen(n) != 0 {
			t.Errorf("HeaderLen(%d) = %d, want 0", n, HeaderLen(n))
		}
	}
	if MinHeaderSize != HeaderLen(1) || MaxHeaderSize != HeaderLen(8) || MinPacketSize != 12+1+16 {
		t.Errorf("size constants disagree with the header layout")
	}
}

func TestAppendHeaderPanics(t *testing.T) {
	for name, h := range map[string]Header{
		"kind 0":             {PNLen: 4},
		"pn len 3":           {Kind: KindProtected, PNLen: 3},
		"handshake pn len 4": {Kind: KindHandshake, PNLen: 4},
		"handshake phase 1":  {Kind: KindHandshake, PNLen: 1, KeyPhase: 1},
		"pn 2^62":            {Kind: KindProtected, PNLen: 8, PacketNumber: 1 << 62},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: AppendHeader did not panic", name)
				}
			}()
			AppendHeader(nil, &h)
		}()
	}
}

func TestPNLen(t *testing.T) {
	for _, tt := range []struct {
		pn, largest uint64
		any         bool
		want        int
	}{
		{0, 0, false, 1},
		{126, 0, false, 1},  // 127 unacked
		{127, 0, false, 2},  // 128 unacked: needs 2·128 < 2^8·L
		{127, 0, true, 1},   // distance 127
		{128, 0, true, 2},   // distance 128
		{32767, 0, true, 2}, // distance 2^15-1
		{32768, 0, true, 4},
		{1<<31 + 9, 10, true, 4},
		{1<<31 + 10, 10, true, 8},
		{5, 10, true, 1}, // below largest acked: cannot happen, but stays sane
		{MaxVarint, 0, false, 8},
		// RFC 9000 §A.2 example: 0xac5c02 with 0xabe8b3 acked needs 2 bytes, 0xace8fe needs 3 (so 4 here).
		{0xac5c02, 0xabe8b3, true, 2},
		{0xace8fe, 0xabe8b3, true, 4},
	} {
		if got := PNLen(tt.pn, tt.largest, tt.any); got != tt.want {
			t.Errorf("PNLen(%d, %d, %v) = %d, want %d", tt.pn, tt.largest, tt.any, got, tt.want)
		}
	}
	for _, tt := range []struct{ pn, min, want int }{{5, 4, 4}, {5, 3, 4}, {5, 1, 1}, {40000, 1, 4}, {5, 8, 8}, {5, 0, 1}} {
		if got := PNLenMin(uint64(tt.pn), 0, true, tt.min); got != tt.want {
			t.Errorf("PNLenMin(%d, min %d) = %d, want %d", tt.pn, tt.min, got, tt.want)
		}
	}
}

func TestDecodePacketNumber(t *testing.T) {
	for _, tt := range []struct {
		largest, truncated uint64
		pnLen              int
		want               uint64
	}{
		{0xa82f30ea, 0x9b32, 2, 0xa82f9b32}, // RFC 9000 §A.3
		{0, 0, 4, 0},                        // FINAL, the first packet
		{0, 0xff, 1, 0xff},                  // cannot go below 0
		{0, 1, 1, 1},
		{200, 0x05, 1, 0x105},  // forward across a byte boundary
		{0x105, 0xff, 1, 0xff}, // slightly late packet, back across it
		{0x17f, 0x00, 1, 0x200},
		{0x180, 0x00, 1, 0x200},
		{0x7f, 0xff, 1, 0xff},
		{MaxVarint - 1, 0xff, 1, MaxVarint},         // at the top of the space
		{MaxVarint - 10, 0x05, 1, MaxVarint - 0xfa}, // would wrap past 2^62: stays below
		{MaxVarint, 0x0000, 2, MaxVarint - 0xffff},  // never decodes to 2^62 or above
		{MaxVarint - 0x10, 0xfffffffe, 4, MaxVarint - 1},
		{5, 0x1234_5678_9abc, 8, 0x1234_5678_9abc}, // 8 bytes is the full number
	} {
		if got := DecodePacketNumber(tt.largest, tt.truncated, tt.pnLen); got != tt.want {
			t.Errorf("DecodePacketNumber(%#x, %#x, %d) = %#x, want %#x", tt.largest, tt.truncated, tt.pnLen, got, tt.want)
		}
	}
}

// A sender that follows PNLen lets the receiver recover every number from its truncation,
// whatever the receiver has seen since the last acknowledgement, as long as packets are
// not reordered by more than the window allows.
func TestPacketNumberRecovery(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		acked := rng.Uint64N(MaxVarint / 2)
		if rng.IntN(2) == 0 {
			acked = rng.Uint64N(1 << 20)
		}
		pn := acked + 1 + rng.Uint64N(1<<uint(rng.IntN(33)))
		n := PNLen(pn, acked, true)
		// The receiver's largest is anywhere between the acknowledged packet and pn itself.
		largest := acked + rng.Uint64N(pn-acked+1)
		mask := uint64(1)<<(8*n) - 1
		if n == 8 {
			mask = ^uint64(0)
		}
		if got := DecodePacketNumber(largest, pn&mask, n); got != pn {
			t.Fatalf("pn %d sent in %d bytes (acked %d), decoded with largest %d as %d", pn, n, acked, largest, got)
		}
	}
}
