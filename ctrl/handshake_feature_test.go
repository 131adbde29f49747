package ctrl

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// The tests of this file talk to a listening node with hand-made handshake datagrams over a plain
// UDP socket, as an attacker (or a buggy peer) would, and check what the responder answers, what
// it counts and what sessions it creates (docs/PROTOCOL.md §3).

// waitFor polls cond until it holds; the deadline only guards against hangs.
func pollUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitRefused waits until the node counted want refusals of reason r.
func waitRefused(t testing.TB, n *Node, r HandshakeRefusal, want uint64) {
	t.Helper()
	pollUntil(t, "refusal "+r.String(), func() bool { return n.Stats().Refused[r] >= want })
	if got := n.Stats().Refused[r]; got != want {
		t.Fatalf("refused %s = %d, want %d", r, got, want)
	}
}

// rawPeer is a handshake initiator built from a plain UDP socket and the package's builders.
type rawPeer struct {
	t    testing.TB
	c    *net.UDPConn
	to   netip.AddrPort
	key  stc.MACKey
	node [8]byte
}

func newRawPeer(t testing.TB, srv *Node) *rawPeer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := &rawPeer{t: t, c: c, to: loopbackOf(srv), key: testSeed(t).HandshakeKey()}
	rand.Read(p.node[:])
	return p
}

func (p *rawPeer) addr() netip.AddrPort {
	return p.c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func (p *rawPeer) send(b []byte) {
	p.t.Helper()
	if _, err := p.c.WriteToUDPAddrPort(b, p.to); err != nil {
		p.t.Fatal(err)
	}
}

// readHandshake returns the next handshake datagram the node sent to p, skipping protected
// packets (FINAL retransmissions, SESSION_CLOSE of sessions the test made).
func (p *rawPeer) readHandshake() []byte {
	p.t.Helper()
	buf := make([]byte, 65536)
	p.c.SetReadDeadline(time.Now().Add(testTimeout))
	for {
		n, err := p.c.Read(buf)
		if err != nil {
			p.t.Fatalf("no handshake answer: %v", err)
		}
		var h frame.Header
		if frame.ParseHeader(buf[:n], &h) == nil && h.Kind == frame.KindHandshake {
			return append([]byte(nil), buf[:n]...)
		}
	}
}

// readProtected returns the next protected datagram the node sent to p.
func (p *rawPeer) readProtected() []byte {
	p.t.Helper()
	buf := make([]byte, 65536)
	p.c.SetReadDeadline(time.Now().Add(testTimeout))
	for {
		n, err := p.c.Read(buf)
		if err != nil {
			p.t.Fatalf("no protected packet: %v", err)
		}
		var h frame.Header
		if frame.ParseHeader(buf[:n], &h) == nil && h.Kind == frame.KindProtected {
			return append([]byte(nil), buf[:n]...)
		}
	}
}

// helloOpts describes a HELLO; zero fields take valid values.
type helloOpts struct {
	total    int    // datagram size (default HelloMinSize)
	version  uint64 // default frame.Version
	ts       uint64 // default now
	tagNoise bool   // header tag differs from nonce[:8]
	badMAC   bool
}

// attempt is one HELLO sent by a raw peer, and what the node answered.
type rawAttempt struct {
	nonce    [32]byte
	ts       uint64
	pkt      []byte
	chal     hsMsg
	chalSize int
}

func (p *rawPeer) hello(o helloOpts) *rawAttempt {
	a := &rawAttempt{}
	rand.Read(a.nonce[:])
	a.ts = o.ts
	if a.ts == 0 {
		a.ts = uint64(time.Now().UnixMilli())
	}
	if o.version == 0 {
		o.version = frame.Version
	}
	if o.total == 0 {
		o.total = frame.HelloMinSize
	}
	tag := [8]byte(a.nonce[:8])
	if o.tagNoise {
		tag[0] ^= 0xff
	}
	b := hsHeader(nil, tag, 0)
	b = frame.AppendHello(b, o.version, &a.nonce, &p.node, a.ts)
	b = frame.AppendPadding(b, o.total-frame.MACSize-len(b))
	b = p.key.Sum(b, b)
	if o.badMAC {
		b[len(b)-1] ^= 1
	}
	a.pkt = b
	return a
}

// challenge reads the CHALLENGE answering a and checks it against a's MAC.
func (p *rawPeer) challenge(a *rawAttempt) {
	p.t.Helper()
	d := p.readHandshake()
	a.chalSize = len(d)
	if err := parseHandshake(d, stc.NewMAC(&p.key), a.pkt[len(a.pkt)-frame.MACSize:], &a.chal); err != nil {
		p.t.Fatalf("CHALLENGE does not verify against our HELLO: %v", err)
	}
	if a.chal.typ != frame.TypeChallenge || a.chal.tag != [8]byte(a.nonce[:8]) {
		p.t.Fatalf("unexpected answer %+v", a.chal)
	}
}

// clock reads the CLOCK answering a, checks it against a's MAC and returns the time it carries.
func (p *rawPeer) clock(a *rawAttempt) uint64 {
	p.t.Helper()
	d := p.readHandshake()
	var m hsMsg
	if err := parseHandshake(d, stc.NewMAC(&p.key), a.pkt[len(a.pkt)-frame.MACSize:], &m); err != nil {
		p.t.Fatalf("CLOCK does not verify against our HELLO: %v", err)
	}
	if m.typ != frame.TypeClock || m.tag != [8]byte(a.nonce[:8]) || len(d) >= len(a.pkt) {
		p.t.Fatalf("unexpected answer %+v (%d bytes to a %d-byte HELLO)", m, len(d), len(a.pkt))
	}
	return m.respTS
}

// handshake sends a valid HELLO and returns the attempt with its CHALLENGE.
func (p *rawPeer) handshake() *rawAttempt {
	p.t.Helper()
	a := p.hello(helloOpts{})
	p.send(a.pkt)
	p.challenge(a)
	return a
}

// proof builds the AUTH_PROOF for a; edit may change the transcript before it is MACed.
func (p *rawPeer) proof(a *rawAttempt, edit func(m *hsMsg)) []byte {
	m := a.chal
	m.nonce, m.ts = a.nonce, a.ts
	if edit != nil {
		edit(&m)
	}
	return buildProof(nil, &p.key, [8]byte(a.nonce[:8]), m.attempt, &m, &p.node)
}

// barrier proves that the node answered nothing to what p sent before: a fresh valid HELLO must
// get the very next handshake datagram p receives.
func (p *rawPeer) barrier() {
	p.t.Helper()
	a := p.hello(helloOpts{})
	p.send(a.pkt)
	p.challenge(a)
}

func TestHelloRefusals(t *testing.T) {
	now := func() uint64 { return uint64(time.Now().UnixMilli()) }
	cases := []struct {
		name   string
		opts   func() helloOpts
		reason HandshakeRefusal
	}{
		{"short", func() helloOpts { return helloOpts{total: frame.HelloMinSize - 1} }, RefusedShort},
		{"much-shorter", func() helloOpts { return helloOpts{total: 100} }, RefusedShort},
		// The size is checked before the MAC: a short forgery costs no HMAC.
		{"short-and-bad-mac", func() helloOpts { return helloOpts{total: 600, badMAC: true} }, RefusedShort},
		{"bad-mac", func() helloOpts { return helloOpts{badMAC: true} }, RefusedMAC},
		// The MAC is checked before the clock: an unauthenticated timestamp is never trusted.
		{"old-and-bad-mac", func() helloOpts { return helloOpts{ts: now() - 3600_000, badMAC: true} }, RefusedMAC},
		{"clock-past", func() helloOpts { return helloOpts{ts: now() - 60_000} }, RefusedClock},
		{"clock-future", func() helloOpts { return helloOpts{ts: now() + 60_000} }, RefusedClock},
		{"version", func() helloOpts { return helloOpts{version: 2} }, RefusedVersion},
		{"tag-not-nonce", func() helloOpts { return helloOpts{tagNoise: true} }, RefusedMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			authFailed := make(chan struct{})
			var once sync.Once
			srv := testNode(t, Config{OnEvent: func(ev Event) {
				if ev.Kind == EventAuthFailed {
					once.Do(func() { close(authFailed) })
				}
			}})
			p := newRawPeer(t, srv)
			a := p.hello(c.opts())
			p.send(a.pkt)
			waitRefused(t, srv, c.reason, 1)
			if c.reason == RefusedClock {
				// The MAC proved the seed: the refusal is answered with our time (a CLOCK).
				p.clock(a)
			}
			p.barrier()
			st := srv.Stats()
			if st.HandshakesFailed() != 1 || st.Challenges != 1 {
				t.Fatalf("refusals %v, challenges %d; want exactly one %s refusal and the barrier's challenge", st.Refused, st.Challenges, c.reason)
			}
			if st.Drops[dataplane.DropHandshake] != 1 {
				t.Fatalf("handshake drops %d, want 1", st.Drops[dataplane.DropHandshake])
			}
			if srv.NumSessions() != 0 {
				t.Fatalf("%d sessions after a refused HELLO", srv.NumSessions())
			}
			if c.reason == RefusedMAC {
				select { // an authentication failure is reported as an event
				case <-authFailed:
				case <-time.After(testTimeout):
					t.Fatal("no EventAuthFailed for a bad MAC")
				}
			}
		})
	}
}

func TestHelloReplayRefused(t *testing.T) {
	srv := testNode(t, Config{})
	p := newRawPeer(t, srv)
	a := p.hello(helloOpts{})
	p.send(a.pkt)
	p.challenge(a)
	// The same HELLO again, byte for byte: the nonce is in the cache, no second CHALLENGE.
	p.send(a.pkt)
	waitRefused(t, srv, RefusedReplay, 1)
	// From another address too: the cache is keyed by nonce, not by source.
	q := newRawPeer(t, srv)
	q.send(a.pkt)
	waitRefused(t, srv, RefusedReplay, 2)
	p.barrier()
	q.barrier()
	if st := srv.Stats(); st.Challenges != 3 {
		t.Fatalf("%d challenges, want 3 (first HELLO and two barriers)", st.Challenges)
	}
}

// TestChallengeNeverLargerThanHello: a HELLO above the minimum is answered too, and however large
// the HELLO the CHALLENGE is never larger than it (anti-amplification, §1 and §3).
func TestChallengeNeverLargerThanHello(t *testing.T) {
	srv := testNode(t, Config{})
	p := newRawPeer(t, srv)
	for _, total := range []int{frame.HelloMinSize, frame.HelloMinSize + 1, 1500, dataplane.MaxHandshakeSize} {
		a := p.hello(helloOpts{total: total})
		p.send(a.pkt)
		p.challenge(a)
		if a.chalSize > len(a.pkt) || a.chalSize > frame.HelloMinSize {
			t.Fatalf("CHALLENGE of %d bytes answers a %d-byte HELLO", a.chalSize, len(a.pkt))
		}
		t.Logf("HELLO %d bytes -> CHALLENGE %d bytes", len(a.pkt), a.chalSize)
	}
	// Above the handshake size limit the datagram is dropped by the data plane unanswered.
	a := p.hello(helloOpts{total: dataplane.MaxHandshakeSize + 1})
	p.send(a.pkt)
	pollUntil(t, "oversize drop", func() bool { return srv.Stats().Drops[dataplane.DropOversize] == 1 })
	p.barrier()
}

func TestAuthProofRefusals(t *testing.T) {
	t.Run("wrong-cookie", func(t *testing.T) {
		srv := testNode(t, Config{})
		p := newRawPeer(t, srv)
		a := p.handshake()
		// nonce_r changed and the packet MACed again with the right key: the MAC is fine, the
		// cookie is not the responder's.
		p.send(p.proof(a, func(m *hsMsg) { m.respNonce[5] ^= 0x40 }))
		waitRefused(t, srv, RefusedCookie, 1)
		// Another node id for the responder than its own: refused the same way.
		p.send(p.proof(a, func(m *hsMsg) { m.respNodeID[0] ^= 1 }))
		waitRefused(t, srv, RefusedCookie, 2)
		if srv.NumSessions() != 0 || srv.Stats().Accepted != 0 {
			t.Fatal("a session was created from a forged cookie")
		}
		// The genuine proof of the same exchange still works. Accepted is counted just before
		// the session is installed (so that a peer holding its session finds it in Stats), so
		// the wait is for both: reading NumSessions right after Accepted moved raced the install.
		p.send(p.proof(a, nil))
		pollUntil(t, "session", func() bool { return srv.Stats().Accepted == 1 && srv.NumSessions() == 1 })
	})
	t.Run("tampered-transcript", func(t *testing.T) {
		srv := testNode(t, Config{})
		p := newRawPeer(t, srv)
		a := p.handshake()
		pr := p.proof(a, nil)
		pr[20] ^= 1 // inside the initiator nonce, MAC not recomputed
		p.send(pr)
		waitRefused(t, srv, RefusedMAC, 1)
		p.barrier()
		if srv.NumSessions() != 0 {
			t.Fatal("session from a tampered proof")
		}
	})
	t.Run("expired-challenge", func(t *testing.T) {
		srv := testNode(t, Config{HandshakeTimeout: 5 * time.Second})
		p := newRawPeer(t, srv)
		a := p.handshake()
		// A cookie the responder really issued (its own key), but for a ts_r older than the
		// handshake timeout: only the age is wrong.
		for i, age := range []time.Duration{-6 * time.Second, -time.Hour, 10 * time.Second} {
			tsR := uint64(time.Now().Add(age).UnixMilli())
			cookie := cookieNonce(stc.NewMAC(&srv.cookieKey), &a.nonce, tsR, p.addr())
			p.send(p.proof(a, func(m *hsMsg) { m.respTS, m.respNonce = tsR, cookie }))
			waitRefused(t, srv, RefusedExpired, uint64(i+1))
		}
		if srv.NumSessions() != 0 {
			t.Fatal("session from an expired challenge")
		}
		// The same construction with a fresh ts_r is accepted: the test's cookie is the real one.
		tsR := uint64(time.Now().UnixMilli())
		cookie := cookieNonce(stc.NewMAC(&srv.cookieKey), &a.nonce, tsR, p.addr())
		p.send(p.proof(a, func(m *hsMsg) { m.respTS, m.respNonce = tsR, cookie }))
		pollUntil(t, "session", func() bool { return srv.Stats().Accepted == 1 })
	})
	t.Run("other-address", func(t *testing.T) {
		srv := testNode(t, Config{})
		p := newRawPeer(t, srv)
		q := newRawPeer(t, srv)
		a := p.handshake()
		pr := p.proof(a, nil)
		q.send(pr) // the cookie binds the HELLO's address and port
		waitRefused(t, srv, RefusedCookie, 1)
		if srv.NumSessions() != 0 {
			t.Fatal("session created for a proof from another address")
		}
		p.send(pr)
		pollUntil(t, "session", func() bool { return srv.Stats().Accepted == 1 })
	})
}

// TestAuthProofReplay: a retransmitted AUTH_PROOF while the session lives changes nothing; after
// the session closed, the same AUTH_PROOF must not bring it back (its keys would restart at packet
// number 0: nonce reuse), it is refused as a replay.
func TestAuthProofReplay(t *testing.T) {
	srv := testNode(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	p := newRawPeer(t, srv)
	a := p.handshake()
	pr := p.proof(a, nil)
	p.send(pr)
	ss, err := srv.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The responder's first protected packet is FINAL under the derived keys.
	keys := testSeed(t).DeriveSession(&a.nonce, &a.chal.respNonce)
	if ss.ID() != keys.ID {
		t.Fatalf("session id %x, want %x", ss.ID(), keys.ID)
	}
	fin := p.readProtected()
	var h frame.Header
	if err := frame.ParseHeader(fin, &h); err != nil || h.SessionID != keys.ID {
		t.Fatalf("FINAL header %+v: %v", h, err)
	}
	aead, err := stc.NewAEAD(&keys.R2I)
	if err != nil {
		t.Fatal(err)
	}
	pn := frame.DecodePacketNumber(0, h.PacketNumber, h.PNLen)
	body, err := aead.Open(fin, h.Len, pn)
	if err != nil {
		t.Fatalf("FINAL does not open under the r2i key: %v", err)
	}
	if len(body) == 0 || frame.Type(body[0]) != frame.TypeFinal || body[1] != 0 {
		t.Fatalf("first protected packet starts %x, want FINAL(0)", body)
	}

	// Retransmission while live: nothing new, counted as a retransmit (every drop is counted).
	p.send(pr)
	p.send(p.hello(helloOpts{badMAC: true}).pkt) // processed after the proof: a barrier
	waitRefused(t, srv, RefusedMAC, 1)
	st := srv.Stats()
	if st.Accepted != 1 || srv.NumSessions() != 1 || st.Refused[RefusedRetransmit] != 1 || st.HandshakesFailed() != 2 {
		t.Fatalf("after a retransmitted proof: accepted %d, sessions %d, refusals %v", st.Accepted, srv.NumSessions(), st.Refused)
	}

	ss.CloseWithError(dataplane.CodeApplicationMin, "done")
	select {
	case <-ss.Done():
	case <-ctx.Done():
		t.Fatal("session did not end")
	}
	pollUntil(t, "session removed", func() bool { return srv.NumSessions() == 0 })

	p.send(pr)
	waitRefused(t, srv, RefusedReplay, 1)
	if st := srv.Stats(); st.Accepted != 1 || srv.NumSessions() != 0 {
		t.Fatalf("replayed proof after close: accepted %d, sessions %d", st.Accepted, srv.NumSessions())
	}
}

// TestSessionLimit: beyond MaxSessions a proven initiator is refused with FINAL status 6 and
// Dial reports ErrSessionLimit; once a session ends there is room again.
func TestSessionLimit(t *testing.T) {
	srv := testNode(t, Config{MaxSessions: 2})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var sess []*Session
	for i := 0; i < 2; i++ {
		cli := testNode(t, Config{})
		s, err := cli.Dial(ctx, srv.Addr().String())
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		sess = append(sess, s)
	}
	cli := testNode(t, Config{})
	s, err := cli.Dial(ctx, srv.Addr().String())
	if !errors.Is(err, ErrSessionLimit) {
		state := "nil"
		if s != nil {
			select { // the refused session does end; the question is what Dial said
			case <-s.Done():
			case <-ctx.Done():
			}
			state = fmt.Sprint(s.Err())
		}
		t.Fatalf("third dial = (session: %s), %v; want ErrSessionLimit", state, err)
	}
	if s != nil {
		t.Fatal("Dial returned a session with ErrSessionLimit")
	}
	if got := srv.Stats().Refused[RefusedFull]; got != 1 {
		t.Fatalf("refused full = %d, want 1", got)
	}
	if srv.NumSessions() != 2 {
		t.Fatalf("server has %d sessions, want 2", srv.NumSessions())
	}
	pollUntil(t, "refused dialer's session gone", func() bool { return cli.NumSessions() == 0 })

	// Closing one session makes room.
	sess[0].CloseWithError(0, "")
	pollUntil(t, "server session closed", func() bool { return srv.NumSessions() == 1 })
	if _, err := cli.Dial(ctx, srv.Addr().String()); err != nil {
		t.Fatalf("dial after a session ended: %v", err)
	}
}
