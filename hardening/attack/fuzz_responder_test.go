package attack

import (
	"context"
	"encoding/binary"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// responderRig is a whole listening node (data plane and handshake responder) whose socket is a
// memConn, driven one datagram at a time.
type responderRig struct {
	node    *ctrl.Node
	conn    *memConn
	kit     *HelloKit
	hsKey   stc.MACKey
	peer    netip.AddrPort
	counter uint64 // sentinel nonces
}

func newResponderRig(t testing.TB) *responderRig {
	seed := testSeed(t)
	r := &responderRig{kit: NewHelloKit(seed), hsKey: seed.HandshakeKey(), peer: netip.MustParseAddrPort("192.0.2.7:4242")}
	conns := make(chan *memConn, 1)
	n, err := ctrl.Listen(context.Background(), ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0",
		WrapConn: func(pc dataplane.PacketConn) dataplane.PacketConn {
			c := newMemConn(pc)
			conns <- c
			return c
		}})
	if err != nil {
		t.Fatal(err)
	}
	r.node, r.conn = n, <-conns
	t.Cleanup(func() { n.Close() })
	return r
}

// deliver hands d to the node, then a sentinel (a fresh valid HELLO), and waits for the
// sentinel's CHALLENGE: the node handles datagrams in order on one RX loop and one handshake
// goroutine, so by then d has been handled and counted. It returns what the node sent before
// the sentinel's answer.
func (r *responderRig) deliver(t *testing.T, d []byte) []memDatagram {
	r.counter++
	var nonce [32]byte
	binary.BigEndian.PutUint64(nonce[:], r.counter)
	nonce[31] = 0xee // sentinel nonces never collide with the fuzz's (whose byte 31 is not 0xee: see hello)
	sentinel := r.kit.Hello(nil, &nonce, uint64(time.Now().UnixMilli()), 0)
	r.conn.in <- memDatagram{b: d, addr: r.peer}
	r.conn.in <- memDatagram{b: sentinel, addr: r.peer}
	var before []memDatagram
	timeout := time.After(guard)
	for {
		select {
		case o := <-r.conn.out:
			if rp := ParseReply(o.b); rp.Type == frame.TypeChallenge && rp.Tag == [8]byte(nonce[:8]) {
				return before
			}
			before = append(before, o)
		case <-timeout:
			t.Fatalf("the node did not answer the sentinel within %v after datagram %x", guard, d)
		}
	}
}

// FuzzResponder feeds a whole listening node (through its real data plane and handshake
// responder, over an in-memory socket) one datagram per input: raw bytes, raw bytes with a valid
// handshake MAC appended (so the fuzzer gets past the MAC to the message checks), or a HELLO
// built with the seed from the input's nonce, attempt, size and clock offset (so it reaches the clock
// window and the nonce cache). Whatever arrives: the node keeps running, the datagram is counted
// exactly once (a drop, or a CHALLENGE), no session is ever created, and the only answer is at
// most one CHALLENGE, or one CLOCK for a HELLO that proves the seed outside the clock window
// (counted as a clock refusal), smaller than the datagram it answers.
func FuzzResponder(f *testing.F) {
	f.Add([]byte{}, uint8(0), int16(0))
	f.Add([]byte{frame.Magic, 0x11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1}, uint8(1), int16(0))
	f.Add(make([]byte, 40), uint8(2), int16(0))       // a valid HELLO, answered
	f.Add(make([]byte, 40), uint8(2), int16(3001))    // 30.01 s in the future: refused (clock)
	f.Add(make([]byte, 40), uint8(2), int16(-2999))   // 29.99 s in the past: answered
	f.Add([]byte("\x00abc"), uint8(2), int16(-32768)) // far in the past
	var nonce [32]byte
	var node [8]byte
	f.Add(BadMACHello(nil, &nonce, &node, uint64(time.Now().UnixMilli()), &nonce), uint8(0), int16(0))
	proof := frame.AppendAuthProof(frame.AppendHeader(nil, &frame.Header{Kind: frame.KindHandshake, PNLen: 1}), &nonce, 1, &node, &nonce, 2, &node)
	f.Add(proof, uint8(1), int16(0))
	ch := frame.AppendChallenge(frame.AppendHeader(nil, &frame.Header{Kind: frame.KindHandshake, PNLen: 1}), &nonce, &node, 3)
	f.Add(ch, uint8(1), int16(0))

	rig := newResponderRig(f)
	f.Fuzz(func(t *testing.T, data []byte, mode uint8, clock int16) {
		var d []byte
		switch mode % 3 {
		case 0:
			d = data
		case 1: // the fuzz's bytes under a valid handshake MAC
			d = rig.hsKey.Sum(append([]byte(nil), data...), data)
		case 2: // a HELLO built with the seed: nonce from data, clock offset in 10 ms steps
			var n [32]byte
			copy(n[:], data)
			if n[31] == 0xee {
				n[31] = 0xef
			}
			ts := time.Now().Add(time.Duration(clock) * 10 * time.Millisecond).UnixMilli()
			// Input beyond the nonce pads the HELLO further: up to and past the handshake limit.
			size := frame.HelloMinSize + 8*max(len(data)-32, 0)
			d = rig.kit.HelloSized(nil, &n, uint64(max(ts, 0)), uint8(len(data)), size)
		}
		if len(d) > frame.MaxPacketSize {
			d = d[:frame.MaxPacketSize]
		}
		s0 := rig.node.Stats()
		out := rig.deliver(t, d)
		var sentCh, sentCk uint64
		for _, o := range out {
			switch ParseReply(o.b).Type {
			case frame.TypeChallenge:
				sentCh++
			case frame.TypeClock:
				sentCk++
			}
		}
		// The responder counts a CHALLENGE just after queueing it, so the sentinel's may be on
		// the wire before it is counted: wait for it (and for the input's, if it had one).
		counted := func() bool {
			st := rig.node.Stats()
			return st.Challenges >= s0.Challenges+1+sentCh && st.ClockAnswers >= s0.ClockAnswers+sentCk
		}
		for i := 0; i < 1000 && !counted(); i++ {
			runtime.Gosched() // the count is a few instructions away: yield rather than sleep
		}
		waitFor(t, "the CHALLENGEs counted", counted)
		s1 := rig.node.Stats()
		drops := s1.DropsTotal() - s0.DropsTotal()
		challenges := s1.Challenges - s0.Challenges - 1 // minus the sentinel's
		clocks := s1.ClockAnswers - s0.ClockAnswers
		if acc := s1.Accepted - s0.Accepted; acc != 0 {
			t.Fatalf("datagram %x created %d sessions", d, acc)
		}
		if drops+challenges != 1 {
			t.Fatalf("datagram %x: %d drops and %d CHALLENGEs counted, want exactly one of them", d, drops, challenges)
		}
		if uint64(len(out)) != challenges+clocks || len(out) > 1 {
			t.Fatalf("datagram %x: %d datagrams sent, %d CHALLENGEs and %d CLOCKs counted", d, len(out), challenges, clocks)
		}
		if clocks == 1 && s1.Refused[ctrl.RefusedClock]-s0.Refused[ctrl.RefusedClock] != 1 {
			t.Fatalf("datagram %x: a CLOCK answered something other than a clock refusal", d)
		}
		for _, o := range out {
			rp := ParseReply(o.b)
			if (rp.Type != frame.TypeChallenge && rp.Type != frame.TypeClock) || o.addr != rig.peer || len(o.b) >= len(d) || len(o.b) >= frame.HelloMinSize {
				t.Fatalf("datagram of %d bytes answered with %d bytes (%+v) to %v", len(d), len(o.b), rp, o.addr)
			}
		}
	})
}
