package ctrl

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/capture"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

func TestForwardSecrecySessions(t *testing.T) {
	for _, c := range []struct {
		name     string
		srv, cli bool
	}{
		{"both", true, true},
		{"dialer-asks", false, true}, // a responder without the option agrees when asked
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, _, s := pair(t, link{name: "clean"}, Config{ForwardSecrecy: c.srv}, Config{ForwardSecrecy: c.cli})
			ss := acceptSession(t, srv)
			if !s.ForwardSecret() || !ss.ForwardSecret() {
				t.Fatalf("forward secret: dialer %v, listener %v", s.ForwardSecret(), ss.ForwardSecret())
			}
			streamPairSaying(t, s, ss, "secret")
		})
	}
	t.Run("neither", func(t *testing.T) {
		srv, _, s := pair(t, link{name: "clean"}, Config{}, Config{})
		if ss := acceptSession(t, srv); s.ForwardSecret() || ss.ForwardSecret() {
			t.Fatal("a seed-only handshake reports forward secrecy")
		}
	})
}

// TestForwardSecrecyRequired: a node that requires forward secrecy never completes a handshake
// without it, and both sides say why.
func TestForwardSecrecyRequired(t *testing.T) {
	t.Run("listener-requires", func(t *testing.T) {
		var mu sync.Mutex
		var reasons []string
		srv := testNode(t, Config{ForwardSecrecy: true, OnEvent: func(ev Event) {
			if ev.Kind == EventAuthFailed {
				mu.Lock()
				reasons = append(reasons, ev.Reason)
				mu.Unlock()
			}
		}})
		cli := testNode(t, Config{HandshakeTimeout: 20 * time.Second})
		start := time.Now()
		_, err := cli.Dial(ctxFor(t), "udp://"+loopbackOf(srv).String())
		if !errors.Is(err, ErrPeerRequiresFS) {
			t.Fatalf("dial without forward secrecy: %v, want ErrPeerRequiresFS", err)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the refusal took %v: it should be answered, not timed out", time.Since(start))
		}
		if !strings.Contains(err.Error(), "--forward-secrecy") {
			t.Fatalf("the dialer's error does not say what to do: %v", err)
		}
		pollUntil(t, "the listener's refusal event", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(reasons) > 0
		})
		mu.Lock()
		if !strings.Contains(reasons[0], "forward secrecy") {
			t.Fatalf("listener's event: %q", reasons[0])
		}
		mu.Unlock()
		if st := srv.Stats(); st.Refused[RefusedNoFS] == 0 || st.Accepted != 0 || srv.NumSessions() != 0 {
			t.Fatalf("listener: refused %d, accepted %d, sessions %d", st.Refused[RefusedNoFS], st.Accepted, srv.NumSessions())
		}
	})
	t.Run("dialer-requires", func(t *testing.T) {
		// A responder that answers without KEY_SHARE (as one that does not implement it would,
		// were it not to drop the HELLO): the dial must fail, not fall back to the seed.
		r := newFakeResponder(t, true)
		cli := testNode(t, Config{ForwardSecrecy: true})
		_, err := cli.Dial(ctxFor(t), r.addr())
		if !errors.Is(err, ErrNoForwardSecrecy) {
			t.Fatalf("dial of a peer without forward secrecy: %v, want ErrNoForwardSecrecy", err)
		}
		if len(r.proofs) != 0 || cli.NumSessions() != 0 {
			t.Fatalf("the dialer sent %d AUTH_PROOFs and holds %d sessions", len(r.proofs), cli.NumSessions())
		}
		h := <-r.hellos
		if !h.hasShare {
			t.Fatal("the dialer's HELLO offers no KEY_SHARE")
		}
	})
}

// recorder writes every datagram the nodes send into a capture (raw IP), as a capture on the
// wire would see them, for the decryption tests that need no root.
type recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
	w   *capture.Writer
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	w, err := capture.NewWriter(&r.buf, capture.LinkRaw)
	if err != nil {
		t.Fatal(err)
	}
	r.w = w
	return r
}

type recordingConn struct {
	dataplane.PacketConn
	r *recorder
}

// WriteBatch records before it sends, so that the capture keeps cause before effect (an
// AUTH_PROOF before the FINAL it brings about), as a capture on the wire does.
func (c *recordingConn) WriteBatch(msgs []batchio.Message) (int, error) {
	c.r.mu.Lock()
	for _, m := range msgs {
		c.r.w.Write(time.Now(), capture.AppendUDP(nil, c.LocalAddr(), m.Addr, m.Buf[:m.N]))
	}
	c.r.mu.Unlock()
	return c.PacketConn.WriteBatch(msgs)
}

func (r *recorder) wrap(pc dataplane.PacketConn) dataplane.PacketConn {
	return &recordingConn{PacketConn: pc, r: r}
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.w.Flush()
	return bytes.Clone(r.buf.Bytes())
}

// TestForwardSecrecyDefeatsSeedDecryption: without forward secrecy the seed alone opens a
// capture of the session (pcap decrypt --seed); with it the seed opens nothing and the key log
// everything.
func TestForwardSecrecyDefeatsSeedDecryption(t *testing.T) {
	for _, fs := range []bool{false, true} {
		t.Run(map[bool]string{false: "seed-only", true: "forward-secret"}[fs], func(t *testing.T) {
			rec := newRecorder(t)
			var log lockedBuffer
			cfg := Config{ForwardSecrecy: fs, KeyLog: &log, Addr: "udp://127.0.0.1:0", WrapConn: rec.wrap}
			srv := testNode(t, cfg)
			cli := testNode(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			s, err := cli.Dial(ctx, "udp://"+srv.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			streamPairSaying(t, s, acceptSession(t, srv), "captured")
			s.Close(ctx)
			cli.Close()
			srv.Close()
			pcap := rec.bytes()

			bySeed := capture.NewSeedDecrypter(testSeed(t))
			defer bySeed.Close()
			if _, err := capture.Rewrite(bytes.NewReader(pcap), &bytes.Buffer{}, bySeed); err != nil {
				t.Fatal(err)
			}
			byLog, err := capture.NewKeyLogDecrypter(bytes.NewReader(log.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			defer byLog.Close()
			if _, err := capture.Rewrite(bytes.NewReader(pcap), &bytes.Buffer{}, byLog); err != nil {
				t.Fatal(err)
			}
			t.Logf("seed: opened %d, not %d; key log: opened %d, not %d", bySeed.Opened, bySeed.NotOpened, byLog.Opened, byLog.NotOpened)
			if byLog.Opened == 0 || byLog.NotOpened != 0 || bySeed.Handshakes < 3 {
				t.Fatalf("key log opened %d, not %d; %d handshake packets", byLog.Opened, byLog.NotOpened, bySeed.Handshakes)
			}
			if fs && bySeed.Opened != 0 {
				t.Fatalf("the seed opened %d packets of a forward-secret session", bySeed.Opened)
			}
			if !fs && (bySeed.Opened != byLog.Opened || bySeed.NotOpened != 0) {
				t.Fatalf("the seed opened %d of %d packets of a seed-only session", bySeed.Opened, byLog.Opened)
			}
		})
	}
}

// FuzzKeyShareHandshake: handshake packets with KEY_SHARE built from fuzzed fields round-trip,
// a KEY_SHARE anywhere else (twice, after PADDING, after a CLOCK) is refused, and the X25519
// exchange never panics on a fuzzed peer key.
func FuzzKeyShareHandshake(f *testing.F) {
	f.Add([]byte("0123456789abcdef0123456789abcdef"), uint64(1700000000000), uint8(0))
	f.Add(make([]byte, 32), uint64(0), uint8(3))
	f.Add(bytes.Repeat([]byte{0xff}, 40), uint64(1<<62-1), uint8(255))
	key := fuzzKey(f)
	mac := stc.NewMAC(&key)
	f.Fuzz(func(t *testing.T, data []byte, ts uint64, attempt uint8) {
		ts &= frame.MaxVarint
		var share, nonce [32]byte
		copy(share[:], data)
		copy(nonce[:], data[min(len(data), 8):])
		node := [8]byte{1, 2, 3}
		hello := buildHelloShare(nil, &key, &nonce, &node, ts, uint64(attempt), &share)
		var m hsMsg
		if err := parseHandshake(hello, mac, nil, &m); err != nil || !m.hasShare || m.share != share || m.typ != frame.TypeHello {
			t.Fatalf("HELLO with KEY_SHARE: %v %+v", err, m)
		}
		checkAccepted(t, hello, &m)
		ch := buildChallengeShare(nil, &key, m.tag, m.attempt, &nonce, &node, ts, m.mac[:], &share)
		var cm hsMsg
		if err := parseHandshake(ch, mac, m.mac[:], &cm); err != nil || !cm.hasShare || cm.share != share {
			t.Fatalf("CHALLENGE with KEY_SHARE: %v", err)
		}
		fr := buildFSRequired(nil, &key, m.tag, m.attempt, m.mac[:])
		var fm hsMsg
		if err := parseHandshake(fr, mac, m.mac[:], &fm); err != nil || fm.typ != frame.TypeFSRequired || fm.hasShare {
			t.Fatalf("FS_REQUIRED: %v", err)
		}
		// Misplaced KEY_SHAREs, MAC'd so that only the frame rules refuse them.
		base := hsHeader(nil, m.tag, m.attempt)
		for _, body := range [][]byte{
			frame.AppendKeyShare(frame.AppendKeyShare(frame.AppendHello(bytes.Clone(base), frame.Version, &nonce, &node, ts), &share), &share),
			frame.AppendKeyShare(frame.AppendPadding(frame.AppendHello(bytes.Clone(base), frame.Version, &nonce, &node, ts), 3), &share),
			frame.AppendKeyShare(frame.AppendClock(bytes.Clone(base), ts), &share),
			frame.AppendKeyShare(frame.AppendFSRequired(bytes.Clone(base)), &share),
		} {
			p := key.Sum(body, body)
			if err := parseHandshake(p, mac, nil, &hsMsg{}); err == nil {
				t.Fatalf("misplaced KEY_SHARE accepted: %x", p)
			}
		}
		// The exchange with a fuzzed peer key: an error or a secret, never a panic.
		e, err := stc.NewEphemeral()
		if err != nil {
			t.Fatal(err)
		}
		defer e.Erase()
		e.Shared(&share)
	})
}

// TestEphemeralKeysRotateAndErase: one key per period, found again by a time inside it, and
// erased once a handshake that used it can no longer complete.
func TestEphemeralKeysRotateAndErase(t *testing.T) {
	k := ephemeralKeys{keep: 10 * time.Second}
	const t0 = 1_700_000_000_000
	a, err := k.current(t0)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := k.current(t0 + 999); b.Public != a.Public {
		t.Fatal("a new key within the period")
	}
	c, _ := k.current(t0 + 1000)
	if c.Public == a.Public {
		t.Fatal("no new key after the period")
	}
	if got, ok := k.at(t0+500, t0+5000); !ok || got.Public != a.Public {
		t.Fatal("the first period's key is not found by a time inside it")
	}
	if _, ok := k.at(t0+500, t0+1000+10_001); ok {
		t.Fatal("a key is kept past its period and the keep time")
	}
	if len(k.slots) != 1 || k.slots[0].eph.Public != c.Public {
		t.Fatalf("%d keys kept", len(k.slots))
	}
	// A clock stepping back does not make two keys for one instant.
	d, _ := k.current(t0 + 200)
	if e, _ := k.at(t0+200, t0+1500); d.Public != e.Public {
		t.Fatal("the key given for a time is not the one found for it")
	}
	k.eraseAll()
	if len(k.slots) != 0 {
		t.Fatal("eraseAll kept keys")
	}
}
