package ctrl

import (
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// The tests of this file are about a device whose clock is wrong by more than the responder's
// clock window (issue 11, bug 7): the responder answers its HELLO with a CLOCK (its time, under
// the seed's MAC, bound to that HELLO), and the dialer tries again at once with that time.

// skewedNode is a dialing node whose clock is off by skew.
func skewedNode(t *testing.T, skew time.Duration, cfg Config) *Node {
	n := testNode(t, cfg)
	n.clockForTest = func() time.Time { return time.Now().Add(skew) }
	return n
}

// TestDialCorrectsClock: a dialer whose clock is hours off connects, through one CLOCK, and the
// responder counts one clock refusal and one CLOCK answer.
func TestDialCorrectsClock(t *testing.T) {
	for _, skew := range []time.Duration{-2 * time.Hour, 45 * time.Second, -55 * 365 * 24 * time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			events := make(chan Event, 16)
			srv := testNode(t, Config{OnEvent: func(ev Event) {
				if ev.Kind == EventAuthFailed {
					events <- ev
				}
			}})
			cli := skewedNode(t, skew, Config{HandshakeTimeout: 3 * time.Second})
			start := time.Now()
			s, err := cli.Dial(ctxFor(t), loopbackOf(srv).String())
			if err != nil {
				t.Fatalf("dial with a clock off by %v: %v", skew, err)
			}
			// One clock refusal and one CLOCK below show the dialer corrected itself at the
			// first answer (a retry on its resend timer would be refused again); time is logged.
			t.Logf("corrected dial took %v", time.Since(start).Round(time.Millisecond))
			st := srv.Stats()
			if st.Refused[RefusedClock] != 1 || st.ClockAnswers != 1 || st.Accepted != 1 {
				t.Fatalf("responder: %d clock refusals, %d CLOCKs, %d accepted; want 1, 1, 1",
					st.Refused[RefusedClock], st.ClockAnswers, st.Accepted)
			}
			// The responder's operator hears of it, in words.
			select {
			case ev := <-events:
				way := "behind"
				if skew > 0 {
					way = "ahead of"
				}
				if HandshakeRefusal(ev.Code) != RefusedClock || !strings.Contains(ev.Reason, "its clock is ") ||
					!strings.Contains(ev.Reason, way+" ours (answered with our time)") {
					t.Fatalf("event %+v", ev)
				}
			case <-time.After(testTimeout):
				t.Fatal("no EventAuthFailed for the clock refusal")
			}
			s.CloseWithError(0, "")
		})
	}
}

// clockResponder answers every HELLO with a CLOCK at its own time (real time plus skew), never
// with a CHALLENGE: a peer whose clock the dialer cannot meet. bad breaks the CLOCK's MAC.
type clockResponder struct {
	c      *net.UDPConn
	hellos atomic.Int32
}

func newClockResponder(t *testing.T, skew time.Duration, bad bool) *clockResponder {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &clockResponder{c: c}
	key := testSeed(t).HandshakeKey()
	done := make(chan struct{})
	t.Cleanup(func() { c.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		mac := stc.NewMAC(&key)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			var m hsMsg
			if parseHandshake(buf[:n], mac, nil, &m) != nil || m.typ != frame.TypeHello {
				continue
			}
			r.hellos.Add(1)
			ck := buildClock(nil, &key, m.tag, m.attempt, uint64(time.Now().Add(skew).UnixMilli()), m.mac[:])
			if bad {
				ck[len(ck)-1] ^= 1
			}
			c.WriteToUDPAddrPort(ck, from)
		}
	}()
	return r
}

// TestDialClockSkewError: when CLOCK answers keep coming and no CHALLENGE, the dial says by how
// much the clocks differ, and a forged CLOCK (bad MAC) is ignored: that dial is a plain silence.
func TestDialClockSkewError(t *testing.T) {
	r := newClockResponder(t, 5*time.Minute, false)
	cli := testNode(t, Config{HandshakeTimeout: 1500 * time.Millisecond})
	_, err := cli.Dial(ctxFor(t), r.c.LocalAddr().String())
	var ce *ClockSkewError
	if !errors.Is(err, ErrClockSkew) || !errors.As(err, &ce) {
		t.Fatalf("dial of a peer that only answers CLOCK = %v; want ErrClockSkew", err)
	}
	if d := ce.Offset - 5*time.Minute; d < -time.Second || d > time.Second {
		t.Fatalf("offset %v, want about 5m", ce.Offset)
	}
	if !strings.Contains(err.Error(), "our clock differs from the peer's by 5m0") || !strings.Contains(err.Error(), "ours is behind") {
		t.Fatalf("message %q", err)
	}
	// The first HELLO, at most maxClockRetries sent at once on a CLOCK, and the timer's.
	if h := r.hellos.Load(); h < 2 || h > 12 {
		t.Fatalf("%d HELLOs in 1.5 s", h)
	}

	forged := newClockResponder(t, 5*time.Minute, true)
	_, err = cli.Dial(ctxFor(t), forged.c.LocalAddr().String())
	if !errors.Is(err, ErrNoAnswer) || errors.Is(err, ErrClockSkew) {
		t.Fatalf("dial answered by forged CLOCKs = %v; want ErrNoAnswer", err)
	}
}

// TestClockAnswerBounds: the responder answers an out-of-window HELLO that proves the seed at most
// once (a replay of it gets nothing), with fewer bytes than the HELLO, never answers one with a
// bad MAC, and answers at most clockAnswerRate a second in all.
func TestClockAnswerBounds(t *testing.T) {
	srv := testNode(t, Config{})
	p := newRawPeer(t, srv)
	old := uint64(time.Now().Add(-time.Hour).UnixMilli())

	a := p.hello(helloOpts{ts: old})
	p.send(a.pkt)
	ts := p.clock(a)
	if d := int64(ts) - time.Now().UnixMilli(); d < -5000 || d > 5000 {
		t.Fatalf("CLOCK carries %d, %d ms from now", ts, d)
	}
	p.send(a.pkt) // replayed: refused, not answered
	p.send(p.hello(helloOpts{ts: old, badMAC: true}).pkt)
	waitRefused(t, srv, RefusedClock, 2)
	p.barrier()
	if st := srv.Stats(); st.ClockAnswers != 1 || st.Refused[RefusedMAC] != 1 {
		t.Fatalf("%d CLOCKs, %d bad MACs; want 1 and 1", st.ClockAnswers, st.Refused[RefusedMAC])
	}

	// A burst of distinct valid HELLOs, all an hour old: the rate bound holds.
	const burst = 3 * clockAnswerRate
	start := time.Now()
	for range burst {
		p.send(p.hello(helloOpts{ts: old}).pkt)
	}
	waitRefused(t, srv, RefusedClock, 2+burst)
	elapsed := time.Since(start).Seconds()
	got := srv.Stats().ClockAnswers - 1
	if limit := uint64(clockAnswerRate + elapsed*clockAnswerRate + 1); got > limit {
		t.Fatalf("%d CLOCKs for %d HELLOs in %.2f s; the bound allows %d", got, burst, elapsed, limit)
	}
	t.Logf("%d CLOCKs for %d out-of-window HELLOs in %.3f s", got, burst, elapsed)
}
