package frame_test

import (
	"fmt"

	"github.com/sttfast/sttfast/frame"
)

// A sender appends a header and frames into one buffer; a receiver parses the header and
// walks the frames as views into the same bytes.
func ExampleWalker() {
	h := frame.Header{Kind: frame.KindProtected, SessionID: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, PacketNumber: 1000, PNLen: 4}
	pkt := frame.AppendHeader(make([]byte, 0, frame.DefaultPayloadSize), &h)
	pkt = frame.AppendAck(pkt, []frame.Range{{Lo: 90, Hi: 99}, {Lo: 50, Hi: 80}}, 250, 64)
	pkt = frame.AppendData(pkt, 4, 0, []byte("hello"))
	pkt = frame.AppendMaxData(pkt, 1<<22)

	var (
		rh frame.Header
		f  frame.Frame
		w  frame.Walker
	)
	if err := frame.ParseHeader(pkt, &rh); err != nil {
		panic(err)
	}
	fmt.Println(rh.Kind, "packet", frame.DecodePacketNumber(999, rh.PacketNumber, rh.PNLen))
	w.Reset(pkt[rh.Len:])
	for {
		ok, err := w.Next(&f)
		if err != nil {
			panic(err)
		}
		if !ok {
			break
		}
		switch f.Type {
		case frame.TypeAck:
			it := f.Ack.Ranges()
			for r, ok := it.Next(); ok; r, ok = it.Next() {
				fmt.Printf("ACK %d-%d\n", r.Lo, r.Hi)
			}
		case frame.TypeData:
			fmt.Printf("DATA stream %d offset %d %q\n", f.StreamID, f.Offset, f.Data)
		default:
			fmt.Println(f.Type, f.Value)
		}
	}
	// Output:
	// protected packet 1000
	// ACK 90-99
	// ACK 50-80
	// DATA stream 4 offset 0 "hello"
	// MAX_DATA 4194304
}
