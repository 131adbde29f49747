package dataplane

import (
	"context"
	"math"
	"testing"
	"time"
)

// checkTimerNotLate asserts the TX loop's timer invariant: whenever the heap holds a deadline,
// the timer is armed no later than it (it may be earlier: a request/response exchange leaves it
// early rather than paying a Reset per message, and the loop then wakes once for nothing).
func checkTimerNotLate(t *testing.T, e *Engine, when string) {
	t.Helper()
	e.txMu.Lock()
	d, armed := e.tx.heap.min(), e.tx.armed.Load()
	e.txMu.Unlock()
	if d != 0 && (armed == 0 || armed > int64(d)) {
		t.Fatalf("%s: TX timer armed for %d, after the earliest deadline %d", when, armed, d)
	}
}

// pingPair is two engines over real UDP sockets with one stream open between them: ping on the
// dialer, echo on the server, after one 64-byte message (msg) from ping has opened it.
type pingPair struct {
	cli, srv   *Engine
	cs         *Session
	ping, echo *Stream
	msg        []byte
}

func newPingPair(ctx context.Context, t *testing.T) pingPair {
	t.Helper()
	cliConn, srvConn := listenUDP(t), listenUDP(t)
	cli, srv, cs, ss := startPair(t, cliConn, srvConn, srvConn.LocalAddr(), cliConn.LocalAddr())
	ping, err := cs.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 64)
	if err := ping.WriteMessage(msg); err != nil {
		t.Fatal(err)
	}
	echo, err := ss.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return pingPair{cli: cli, srv: srv, cs: cs, ping: ping, echo: echo, msg: msg}
}

// TestTxTimerAcrossExchanges runs request/response exchanges (inline sends, delayed ACKs riding
// on replies) and checks after each that neither engine's timer is later than its earliest
// deadline; then a lone message that gets no reply must still be acknowledged, which takes the
// receiver's timer firing for its delayed ACK (or a PTO probe; either needs a live timer).
func TestTxTimerAcrossExchanges(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := newPingPair(ctx, t)
	cli, srv, cs := p.cli, p.srv, p.cs
	ping, echo, msg := p.ping, p.echo, p.msg
	buf := make([]byte, 0, 64)
	for i := range 200 {
		if i > 0 {
			msg[0] = byte(i)
			if err := ping.WriteMessage(msg); err != nil {
				t.Fatal(err)
			}
		}
		got, err := echo.ReadMessage(buf)
		if err != nil {
			t.Fatal(err)
		}
		if err := echo.WriteMessage(got); err != nil {
			t.Fatal(err)
		}
		back, err := ping.ReadMessage(buf)
		if err != nil {
			t.Fatal(err)
		}
		if back[0] != byte(i) {
			t.Fatalf("exchange %d: echo carries %d", i, back[0])
		}
		checkTimerNotLate(t, cli, "dialer")
		checkTimerNotLate(t, srv, "server")
	}
	// A lone message: nothing rides back on a reply.
	if err := ping.WriteMessage(msg); err != nil {
		t.Fatal(err)
	}
	if _, err := echo.ReadMessage(buf); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "the lone message's acknowledgement", func() bool { return cs.Stats().BytesInFlight == 0 })
	checkTimerNotLate(t, cli, "dialer, idle")
	checkTimerNotLate(t, srv, "server, idle")
}

// TestInlineReplyAfterData: a write within inlineGap of the previous inline send goes to the TX
// loop (the rule that lets a stream of small messages coalesce), unless data arrived on the
// session since that send, which makes the write a reply: it goes out inline.
func TestInlineReplyAfterData(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := newPingPair(ctx, t)
	cli, ping, echo, msg := p.cli, p.ping, p.echo, p.msg
	buf := make([]byte, 0, 64)
	roundTrip := func() {
		t.Helper()
		got, err := echo.ReadMessage(buf)
		if err != nil {
			t.Fatal(err)
		}
		if err := echo.WriteMessage(got); err != nil {
			t.Fatal(err)
		}
		if _, err := ping.ReadMessage(buf); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip()

	// From here the dialer's last inline send is "now" forever: only the data rule can let a
	// write go inline.
	const never = int64(math.MaxInt64)
	cli.lastInline.Store(never)
	ping.dataIn.Store(false)
	if err := ping.WriteMessage(msg); err != nil {
		t.Fatal(err)
	}
	if cli.lastInline.Load() != never {
		t.Fatal("a write with no data received since the last inline send went inline")
	}
	roundTrip() // the TX loop sent it; the echo brings data

	// The write that answers received data goes inline, unless the TX loop happened to hold the
	// baton at that moment (then it sends): a few tries make that chance negligible.
	for try := 0; cli.lastInline.Load() == never; try++ {
		if try == 20 {
			t.Fatal("writes answering received data never went inline")
		}
		if err := ping.WriteMessage(msg); err != nil {
			t.Fatal(err)
		}
		if cli.lastInline.Load() != never {
			break
		}
		roundTrip()
	}
}
