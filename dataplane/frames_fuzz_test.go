package dataplane

import (
	"testing"

	"github.com/sttfast/sttfast/frame"
)

// FuzzAuthenticatedFrames delivers packets that authenticate (sealed with the peer's key) but
// carry arbitrary frame bytes: what a buggy or compromised peer can send. The receiver must never
// panic or leave its lock held; it either processes the frames or closes the session with a close
// code (protocol violation and friends), and its TX loop then runs without panicking.
func FuzzAuthenticatedFrames(f *testing.F) {
	var d [8]byte
	seeds := [][]byte{
		frame.AppendPadding(nil, 3),
		frame.AppendKeepAlive(nil, 7),
		frame.AppendStreamOpen(nil, 1),
		frame.AppendStreamOpen(nil, 2), // the initiator's parity, sent by the initiator to b: fine
		frame.AppendData(nil, 0, 0, []byte("\x05hello")),
		frame.AppendData(nil, 4, 1<<20, []byte("beyond the window")),
		frame.AppendStreamFin(frame.AppendData(nil, 0, 0, []byte("\x02ab")), 0, 3),
		frame.AppendStreamFin(nil, 0, 0),
		frame.AppendStreamClose(nil, 0, 0x100),
		frame.AppendStreamSkip(nil, 0, 0, 6, 0, 1),
		frame.AppendStreamKind(nil, 0, frame.StreamKindProbabilistic, 50000),
		frame.AppendStreamKind(nil, 0, 7, 1<<40), // an unknown kind, a huge deadline
		frame.AppendStreamSkip(frame.AppendData(nil, 0, 6, []byte("\x02ab")), 0, 0, 6, 0, 1),
		frame.AppendStreamSkip(frame.AppendStreamSkip(nil, 0, 0, 6, 0, 1), 0, 0, 9, 0, 2), // merged again
		frame.AppendStreamSkip(frame.AppendStreamSkip(nil, 0, 10, 20, 3, 2), 0, 0, 30, 0, 6),
		frame.AppendStreamSkip(nil, 0, 1<<20, 1<<21, 0, 1),                      // beyond the window
		frame.AppendStreamSkip(frame.AppendStreamFin(nil, 0, 5), 0, 0, 9, 0, 1), // beyond the final size
		frame.AppendMaxData(nil, 1<<30),
		frame.AppendMaxStreamData(nil, 0, 1<<20),
		frame.AppendMaxStreams(nil, 1000),
		frame.AppendKeyUpdate(nil, 0),
		frame.AppendKeyUpdate(nil, 5),
		frame.AppendPathChallenge(nil, &d),
		frame.AppendPathResponse(nil, &d),
		frame.AppendFinal(nil, 0),
		frame.AppendSessionClose(nil, 0x101, []byte("bye")),
		frame.AppendAck(nil, []frame.Range{{Lo: 0, Hi: 3}}, 10, 100),
		frame.AppendAck(nil, []frame.Range{{Lo: 1000, Hi: 2000}}, 0, 100),
		frame.AppendApplication(nil, 0x80, 0, []byte("app")),
		{0x01, 0x01},       // a handshake frame inside a protected packet
		{0x7f},             // unknown type
		{0x10, 0x00, 0x00}, // truncated DATA
	}
	for _, s := range seeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	i2r, r2i := pairSecrets()
	var (
		a, b   *side
		toA    *forger // seals as b would (r2i), delivered to a
		toB    *forger // seals as a would (i2r), delivered to b
		pairOK bool
	)
	fresh := func(tb testing.TB) {
		a, b = newLightPair(tb, Config{})
		toA = newForger(tb, r2i, pairID, 1<<16)
		toB = newForger(tb, i2r, pairID, 1<<16)
		pairOK = true
	}
	f.Fuzz(func(t *testing.T, payload []byte, toInitiator bool) {
		if !pairOK || sessState(a.s.state.Load()) != stateOpen || sessState(b.s.state.Load()) != stateOpen {
			fresh(t)
		}
		if len(payload) > 1400 {
			payload = payload[:1400]
		}
		x, fg := b, toB
		if toInitiator {
			x, fg = a, toA
		}
		s := x.s
		recv0 := s.ctr.packetsRecv.Load()
		inject(x, capturedDG{b: fg.seal(payload), from: x.s.peer})
		if !s.mu.TryLock() {
			t.Fatalf("session lock held after frames %x", payload)
		}
		st := sessState(s.state.Load())
		closeErr := s.closeErr
		s.mu.Unlock()
		if s.ctr.packetsRecv.Load() != recv0+1 {
			t.Fatalf("an authentic packet was not accepted (frames %x, drops %v)", payload, dropsOf(x.e))
		}
		switch st {
		case stateOpen:
		case stateClosing, stateDraining:
			if closeErr == nil {
				t.Fatalf("session in state %d without a close error (frames %x)", st, payload)
			}
		default:
			t.Fatalf("session in state %d after frames %x", st, payload)
		}
		// The TX side copes with whatever state the frames left (and sends SESSION_CLOSE).
		x.step()
		takeCopies(x)
	})
}
