package frame

import "testing"

// dataPacket is the common case: a 1200-byte packet with a 4-byte packet number, a small ACK
// and one DATA frame filling the rest of the payload, the tag excluded from the body.
func dataPacket() []byte {
	h := Header{Kind: KindProtected, SessionID: testSessionID, PacketNumber: 123456, PNLen: 4}
	b := AppendHeader(make([]byte, 0, DefaultPayloadSize), &h)
	b = AppendAck(b, []Range{{120000, 120100}, {119000, 119990}}, 250, 100)
	room := DefaultPayloadSize - TagSize - len(b)
	n := DataCapacity(4, 1<<24, room)
	return AppendData(b, 4, 1<<24, make([]byte, n))
}

func BenchmarkParsePacket(b *testing.B) {
	pkt := dataPacket()
	var (
		h Header
		f Frame
		w Walker
	)
	b.SetBytes(int64(len(pkt) + TagSize))
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseHeader(pkt, &h); err != nil {
			b.Fatal(err)
		}
		w.Reset(pkt[h.Len:])
		for {
			ok, err := w.Next(&f)
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				break
			}
		}
	}
}

func BenchmarkParseMixedPacket(b *testing.B) {
	pkt := mixedPacket()
	var (
		h Header
		f Frame
		w Walker
	)
	b.SetBytes(int64(len(pkt) + TagSize))
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseHeader(pkt, &h); err != nil {
			b.Fatal(err)
		}
		w.Reset(pkt[h.Len:])
		for {
			ok, err := w.Next(&f)
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				break
			}
			if f.Type == TypeAck {
				it := f.Ack.Ranges()
				for _, ok := it.Next(); ok; _, ok = it.Next() {
				}
			}
		}
	}
}

func BenchmarkParseHeader(b *testing.B) {
	pkt := dataPacket()
	var h Header
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseHeader(pkt, &h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseData(b *testing.B) {
	frame := AppendData(nil, 4, 1<<24, make([]byte, 1100))
	var f Frame
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseFrame(frame, &f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendDataPacket(b *testing.B) {
	buf := make([]byte, 0, DefaultPayloadSize)
	h := Header{Kind: KindProtected, SessionID: testSessionID, PNLen: 4}
	ranges := []Range{{120000, 120100}, {119000, 119990}}
	data := make([]byte, DefaultPayloadSize)
	b.SetBytes(DefaultPayloadSize)
	b.ReportAllocs()
	for b.Loop() {
		h.PacketNumber++
		p := AppendHeader(buf[:0], &h)
		p = AppendAck(p, ranges, 250, 100)
		n := DataCapacity(4, h.PacketNumber<<10, DefaultPayloadSize-TagSize-len(p))
		p = AppendData(p, 4, h.PacketNumber<<10, data[:n])
		if len(p) != DefaultPayloadSize-TagSize {
			b.Fatal(len(p))
		}
	}
}

func BenchmarkReadVarint(b *testing.B) {
	var enc []byte
	for _, v := range []uint64{37, 15293, 494878333, 151288809941952652} {
		enc = AppendVarint(enc, v)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		for rest := enc; len(rest) > 0; {
			_, n, err := ReadVarint(rest)
			if err != nil {
				b.Fatal(err)
			}
			rest = rest[n:]
		}
	}
}
