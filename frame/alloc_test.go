package frame

import "testing"

// mixedPacket is a realistic protected packet body in clear: an ACK of 10 ranges, three
// DATA frames, MAX_DATA, an application frame and padding, after a 4-byte-PN header.
func mixedPacket() []byte {
	h := Header{Kind: KindProtected, SessionID: testSessionID, PacketNumber: 1 << 20, PNLen: 4}
	b := AppendHeader(make([]byte, 0, DefaultPayloadSize), &h)
	b = AppendAck(b, ackRanges(10, 1<<20-3, 5, 2), 250, 200)
	b = AppendData(b, 4, 1<<20, make([]byte, 300))
	b = AppendData(b, 8, 64, make([]byte, 40))
	b = AppendData(b, 12, 0, make([]byte, 500))
	b = AppendMaxData(b, 8<<20)
	b = AppendApplication(b, 0x81, 7, []byte("app"))
	return AppendPadding(b, DefaultPayloadSize-TagSize-len(b))
}

func TestParseAllocs(t *testing.T) {
	pkt := mixedPacket()
	var (
		h      Header
		f      Frame
		w      Walker
		frames int
		ranges int
	)
	allocs := testing.AllocsPerRun(100, func() {
		if err := ParseHeader(pkt, &h); err != nil {
			t.Fatal(err)
		}
		frames, ranges = 0, 0
		w.Reset(pkt[h.Len:])
		for {
			ok, err := w.Next(&f)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			frames++
			if f.Type == TypeAck {
				it := f.Ack.Ranges()
				for _, ok := it.Next(); ok; _, ok = it.Next() {
					ranges++
				}
			}
		}
	})
	if allocs != 0 {
		t.Errorf("parsing a packet allocates %v times, want 0", allocs)
	}
	if frames != 7 || ranges != 10 {
		t.Errorf("walked %d frames and %d ranges, want 7 and 10", frames, ranges)
	}
}

func TestParseErrorAllocs(t *testing.T) {
	bad := [][]byte{{0x09}, {0x13, 0x40, 0x01}, {0x10, 0, 0, 5}, {0x11, 5, 0, 0, 6}, {0x12, 0}}
	var f Frame
	var h Header
	allocs := testing.AllocsPerRun(100, func() {
		for _, b := range bad {
			if _, err := ParseFrame(b, &f); err == nil {
				t.Fatal("no error")
			}
		}
		if err := ParseHeader([]byte{0x53, 0x12, 0x08}, &h); err == nil {
			t.Fatal("no error")
		}
	})
	if allocs != 0 {
		t.Errorf("rejecting malformed input allocates %v times, want 0", allocs)
	}
}

func TestEncodeAllocs(t *testing.T) {
	buf := make([]byte, 0, MaxPacketSize)
	ranges := ackRanges(10, 1<<20, 5, 2)
	data := make([]byte, 1000)
	h := Header{Kind: KindProtected, SessionID: testSessionID, PNLen: 4}
	allocs := testing.AllocsPerRun(100, func() {
		h.PacketNumber++
		b := AppendHeader(buf[:0], &h)
		b = AppendAck(b, ranges, 100, 200)
		b = AppendData(b, 4, 1<<20, data[:100])
		b = AppendData(b, 8, 0, data[:500])
		b = AppendMaxStreamData(b, 4, 2<<20)
		b = AppendSessionClose(b, 1, data[:300])
		b = AppendPathResponse(b, &pathBytes)
		b = AppendPadding(b, 50)
		buf = b
	})
	if allocs != 0 {
		t.Errorf("encoding a packet allocates %v times, want 0", allocs)
	}
}
