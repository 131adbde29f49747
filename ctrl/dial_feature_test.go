package ctrl

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// fakeResponder is a UDP socket standing in for a responder: it records what a dialing node sends
// and answers HELLOs with valid CHALLENGEs when told to.
type fakeResponder struct {
	t       *testing.T
	c       *net.UDPConn
	key     stc.MACKey
	cookie  stc.MACKey
	node    [8]byte
	hellos  chan hsMsg
	proofs  chan hsMsg
	answers bool
}

func newFakeResponder(t *testing.T, answers bool) *fakeResponder {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeResponder{t: t, c: c, key: testSeed(t).HandshakeKey(), node: [8]byte{0xfa, 0xce},
		hellos: make(chan hsMsg, 64), proofs: make(chan hsMsg, 64), answers: answers}
	r.cookie[0] = 1
	done := make(chan struct{})
	t.Cleanup(func() { c.Close(); <-done })
	go func() {
		defer close(done)
		r.serve()
	}()
	return r
}

func (r *fakeResponder) addr() string { return r.c.LocalAddr().String() }

func (r *fakeResponder) serve() {
	buf := make([]byte, 65536)
	mac := stc.NewMAC(&r.key)
	for {
		n, from, err := r.c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		d := buf[:n]
		var m hsMsg
		if err := parseHandshake(d, mac, nil, &m); err != nil {
			continue
		}
		switch m.typ {
		case frame.TypeHello:
			if len(d) < frame.HelloMinSize {
				r.t.Errorf("dialer sent a %d-byte HELLO", len(d))
			}
			select {
			case r.hellos <- m:
			default:
			}
			if r.answers {
				tsR := uint64(time.Now().UnixMilli())
				nonceR := cookieNonce(stc.NewMAC(&r.cookie), &m.nonce, tsR, from)
				ch := buildChallenge(nil, &r.key, m.tag, m.attempt, &nonceR, &r.node, tsR, m.mac[:])
				r.c.WriteToUDPAddrPort(ch, from)
			}
		case frame.TypeAuthProof:
			select {
			case r.proofs <- m:
			default:
			}
			// ... and never a FINAL.
		}
	}
}

// TestDialFailures: Dial tells a peer that never proves the seed (ErrNoAnswer) from one that
// proved it but did not finish (ErrHandshakeTimeout), retransmits on its timer with fresh HELLOs,
// and leaves no session behind either way.
func TestDialFailures(t *testing.T) {
	t.Run("silent-peer", func(t *testing.T) {
		r := newFakeResponder(t, false)
		cli := testNode(t, Config{HandshakeTimeout: 1500 * time.Millisecond})
		_, err := cli.Dial(ctxFor(t), r.addr())
		if !errors.Is(err, ErrNoAnswer) {
			t.Fatalf("dial of a peer that never answers = %v, want ErrNoAnswer", err)
		}
		// 200 ms, then 400, 800: the first HELLO and at least two retransmissions, each a new
		// HELLO (new nonce, hence new tag) with the next attempt number.
		var got []hsMsg
		for len(r.hellos) > 0 {
			got = append(got, <-r.hellos)
		}
		if len(got) < 3 {
			t.Fatalf("%d HELLOs in 1.5 s", len(got))
		}
		for i, m := range got {
			if m.attempt != uint64(i) {
				t.Fatalf("HELLO %d carries attempt %d", i, m.attempt)
			}
			for _, o := range got[:i] {
				if o.nonce == m.nonce || o.tag == m.tag {
					t.Fatal("a retransmitted HELLO reused a nonce")
				}
			}
		}
		if st := cli.Stats(); st.DialsFailed != 1 || cli.NumSessions() != 0 {
			t.Fatalf("dials failed %d, sessions %d", st.DialsFailed, cli.NumSessions())
		}
	})
	t.Run("no-final", func(t *testing.T) {
		r := newFakeResponder(t, true)
		cli := testNode(t, Config{HandshakeTimeout: 1500 * time.Millisecond})
		_, err := cli.Dial(ctxFor(t), r.addr())
		if !errors.Is(err, ErrHandshakeTimeout) {
			t.Fatalf("dial of a peer that challenges but never finishes = %v, want ErrHandshakeTimeout", err)
		}
		var proofs []hsMsg
		for len(r.proofs) > 0 {
			proofs = append(proofs, <-r.proofs)
		}
		// The AUTH_PROOF is retransmitted unchanged on the timer.
		if len(proofs) < 2 {
			t.Fatalf("%d AUTH_PROOFs", len(proofs))
		}
		for _, p := range proofs[1:] {
			if p != proofs[0] {
				t.Fatal("retransmitted AUTH_PROOF differs")
			}
		}
		if proofs[0].respNodeID != r.node || proofs[0].nodeID != cli.NodeID() {
			t.Fatalf("proof transcript %+v", proofs[0])
		}
		// The session installed on the CHALLENGE is gone with the failed dial.
		pollUntil(t, "half-open session removed", func() bool { return cli.NumSessions() == 0 })
	})
	t.Run("context-cancelled", func(t *testing.T) {
		r := newFakeResponder(t, true)
		cli := testNode(t, Config{})
		ctx, cancel := context.WithTimeout(ctxFor(t), 300*time.Millisecond)
		defer cancel()
		if _, err := cli.Dial(ctx, r.addr()); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("dial with an expiring context = %v", err)
		}
		pollUntil(t, "half-open session removed", func() bool { return cli.NumSessions() == 0 })
	})
}
