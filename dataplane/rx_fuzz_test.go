package dataplane

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/frame"
)

// fuzzPair is a hand-driven pair that has exchanged real traffic, and copies of the datagrams a
// sent to b (all delivered).
type fuzzPair struct {
	a, b *side
	real [][]byte
	msg  []batchio.Message
}

func newFuzzPair(t testing.TB) *fuzzPair {
	a, b := newPair(t, Config{DisablePacing: true})
	p := &fuzzPair{a: a, b: b, msg: make([]batchio.Message, 1)}
	tap := func(d capturedDG) { p.real = append(p.real, d.b) }
	st, err := a.s.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		st.WriteMessage(make([]byte, 50*i))
		if i%5 == 0 {
			a.s.SendFrame(0x90, []byte{byte(i)})
		}
		exchangeRound(a, b, tap)
	}
	st.CloseWrite()
	for i := 0; i < 5; i++ {
		exchangeRound(a, b, tap)
	}
	if b.s.Err() != nil || len(p.real) == 0 {
		t.Fatalf("setup: %v, %d datagrams", b.s.Err(), len(p.real))
	}
	return p
}

// deliverOne hands one datagram from a's address to b's RX loop and drains the handshake queue
// (the control plane's side). It returns how many datagrams were handed to the control plane.
func (p *fuzzPair) deliverOne(d []byte) int {
	buf := make([]byte, len(d), len(d)+32)
	copy(buf, d)
	p.msg[0] = batchio.Message{Buf: buf, N: len(buf), Addr: pairAddrA}
	p.b.rx.batch(p.msg)
	n := 0
	for {
		dg, ok := p.b.e.Handshakes().Pop()
		if !ok {
			return n
		}
		dg.Free()
		n++
	}
}

func sumDrops(d [numDropReasons]uint64) (t uint64) {
	for _, x := range d {
		t += x
	}
	return t
}

// FuzzReceivePacket feeds arbitrary datagrams, and bit-flipped copies of real packets, to the RX
// loop of an established session. Whatever arrives, nothing panics, the session survives (only
// an authentic packet may change its state), the lock is released, and every datagram is
// accounted for: counted as exactly one drop, accepted, or handed to the control plane.
func FuzzReceivePacket(f *testing.F) {
	p := newFuzzPair(f)
	for i, r := range p.real {
		f.Add(r, uint8(i), uint16(0), uint8(0))                 // replays of real packets
		f.Add([]byte{}, uint8(i), uint16(i*7), uint8(1<<(i%8))) // bit flips of them
	}
	f.Fuzz(func(t *testing.T, data []byte, pick uint8, pos uint16, mask uint8) {
		d := data
		if mask != 0 {
			r := p.real[int(pick)%len(p.real)]
			d = append([]byte(nil), r...)
			d[int(pos)%len(d)] ^= mask
		}
		s := p.b.s
		drops0 := sumDrops(dropsOf(p.b.e))
		recv0 := s.ctr.packetsRecv.Load()
		toCtrl := p.deliverOne(d)
		drops := sumDrops(dropsOf(p.b.e)) - drops0
		recv := s.ctr.packetsRecv.Load() - recv0
		if !s.mu.TryLock() {
			t.Fatalf("session lock held after the batch (datagram %x)", d)
		}
		s.mu.Unlock()
		if st := sessState(s.state.Load()); st != stateOpen {
			t.Fatalf("session in state %d after datagram %x: %v", st, d, s.closeErr)
		}
		switch {
		case recv == 1 && drops == 0 && toCtrl == 0: // authentic (a real packet never delivered)
		case recv == 0 && drops == 1 && toCtrl == 0: // dropped, counted once
		case recv == 0 && drops == 0 && toCtrl == 1: // a handshake packet for the control plane
		default:
			t.Fatalf("datagram %x: accepted %d, drops %d, to control plane %d; want exactly one", d, recv, drops, toCtrl)
		}
	})
}

// FuzzAppFrameDispatch delivers authentic packets (sealed with the peer's key) carrying
// arbitrary application frames to a handler: a frame is delivered at most once per sequence
// number, with the data it carried, whatever the mix of numbers, types, duplicates in one packet
// and replays under new packet numbers; the session never closes.
func FuzzAppFrameDispatch(f *testing.F) {
	f.Add(uint8(0x80), uint64(0), []byte("a"), uint64(0), true)
	f.Add(uint8(0xff), uint64(2047), []byte{}, uint64(2048), false)
	f.Add(uint8(0xa7), uint64(1<<62-1), []byte("max"), uint64(0), true)
	f.Add(uint8(0x10), uint64(5000), make([]byte, 1100), uint64(2951), true)

	const resetEvery = 1 << 12
	var (
		p         *fuzzPair
		fg        *forger
		execs     int
		delivered map[uint64]int
		hi        uint64            // largest sequence number delivered
		anyYet    bool              // whether any frame was delivered
		current   map[uint64][]byte // frames of the packet being delivered
		bad       string
	)
	reset := func(tb testing.TB) {
		p = newFuzzPair(tb)
		i2r, _ := pairSecrets()
		fg = newForger(tb, i2r, pairID, 1<<20) // far above anything a sent
		delivered = make(map[uint64]int)
		hi, anyYet = 0, false
		// The setup traffic already used the first sequence numbers.
		p.a.s.mu.Lock()
		for k := uint64(0); p.a.s.app != nil && k < p.a.s.app.seq; k++ {
			delivered[k], hi, anyYet = 1, k, true
		}
		p.a.s.mu.Unlock()
		for typ := 0x80; typ <= 0xff; typ++ {
			p.b.e.HandleFrame(frame.Type(typ), func(_ *Session, ft frame.Type, data []byte) {
				if len(data) < 8 {
					bad = fmt.Sprintf("frame of %d bytes delivered", len(data))
					return
				}
				seq := binary.BigEndian.Uint64(data)
				delivered[seq]++
				hi, anyYet = max(hi, seq), true
				if delivered[seq] > 1 {
					bad = fmt.Sprintf("sequence %d delivered %d times", seq, delivered[seq])
				}
				want, ok := current[seq]
				if !ok {
					bad = fmt.Sprintf("sequence %d delivered but not in this packet", seq)
				} else if string(want) != string(data) {
					bad = fmt.Sprintf("sequence %d delivered with other data", seq)
				}
			})
		}
	}
	reset(f)
	f.Fuzz(func(t *testing.T, typ uint8, seq uint64, data []byte, seq2 uint64, twice bool) {
		if execs++; execs%resetEvery == 0 {
			reset(t) // bounds the bookkeeping; a fresh session every few thousand inputs
		}
		typ |= 0x80
		seq &= frame.MaxVarint
		seq2 &= frame.MaxVarint
		if len(data) > 1000 {
			data = data[:1000]
		}
		// The frame data starts with its sequence number so the handler can tell frames apart.
		mk := func(seq uint64) []byte {
			d := binary.BigEndian.AppendUint64(nil, seq)
			return append(d, data...)
		}
		current = map[uint64][]byte{seq: mk(seq), seq2: mk(seq2)}
		payload := frame.AppendApplication(nil, frame.Type(typ), seq, mk(seq))
		payload = frame.AppendApplication(payload, frame.Type(typ^0x01), seq2, mk(seq2))
		if twice {
			payload = frame.AppendApplication(payload, frame.Type(typ), seq, mk(seq)) // same number, same packet
		}
		pkt := fg.seal(payload)
		// The first frame is judged against the window as it is now: a number not delivered
		// before and not below the window (2048 below the largest, docs/PROTOCOL.md §2) must be.
		mustDeliver := delivered[seq] == 0 && (!anyYet || seq > hi || hi-seq < 2048)
		s := p.b.s
		recv0 := s.ctr.packetsRecv.Load()
		replay0 := dropsOf(p.b.e)[DropReplay]
		p.deliverOne(pkt)
		if s.ctr.packetsRecv.Load() != recv0+1 {
			t.Fatalf("authentic packet not accepted (drops %v)", dropsOf(p.b.e))
		}
		// The same packet again is a replay; the same frames in a new packet deliver nothing new.
		p.deliverOne(pkt)
		if dropsOf(p.b.e)[DropReplay] != replay0+1 {
			t.Fatal("replayed packet not counted as a replay")
		}
		p.deliverOne(fg.seal(payload))
		if bad != "" {
			t.Fatal(bad)
		}
		if st := sessState(s.state.Load()); st != stateOpen {
			t.Fatalf("session closed by application frames: %v", s.closeErr)
		}
		if mustDeliver && delivered[seq] != 1 {
			t.Fatalf("sequence %d (largest before %d) was not delivered", seq, hi)
		}
	})
}
