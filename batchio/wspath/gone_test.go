package wspath

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/sttfast/sttfast/batchio"
)

// goneReader reads srv with an OnPeerGone function and records, in order, each packet (as its
// text) and each end notice (as "gone ADDR: why").
type goneReader struct {
	t      *testing.T
	srv    *Conn
	events []string
	gone   []string // the notices of the ReadBatch call in progress
}

func newGoneReader(t *testing.T, srv *Conn) *goneReader {
	g := &goneReader{t: t, srv: srv}
	srv.OnPeerGone(func(p batchio.PeerGone) { g.gone = append(g.gone, "gone "+p.Peer.String()+": "+p.Why) })
	return g
}

// until reads until the last event starts with prefix, or fails after 10 s.
func (g *goneReader) until(prefix string) string {
	g.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	msgs := []batchio.Message{{Buf: make([]byte, 2048)}}
	for time.Now().Before(deadline) {
		if k := len(g.events); k > 0 && strings.HasPrefix(g.events[k-1], prefix) {
			return g.events[k-1]
		}
		n, err := g.srv.ReadBatch(msgs)
		if err != nil {
			g.t.Fatalf("ReadBatch: %v (events so far %q)", err, g.events)
		}
		for _, m := range msgs[:n] {
			g.events = append(g.events, string(m.Buf[:m.N]))
		}
		// As a reader acting on a notice after the packets of the same call.
		g.events = append(g.events, g.gone...)
		g.gone = g.gone[:0]
	}
	g.t.Fatalf("no event starting %q; have %q", prefix, g.events)
	return ""
}

// A connection's end is reported once, after every packet received on it, with why it ended;
// and the Stats say how connections ended.
func TestPeerGoneAfterItsPackets(t *testing.T) {
	srv := listenT(t, Config{MaxMessage: 1024})
	watchdog(t, 8*time.Second, srv)
	g := newGoneReader(t, srv)

	// The client sends two packets and closes its TCP connection.
	r := rawDial(t, srv)
	r.upgrade("/stt")
	addr := r.localAddr()
	r.write(append(frameBytes(true, ws.OpBinary, []byte("one"), true), frameBytes(true, ws.OpBinary, []byte("two"), true)...))
	r.nc.Close()
	last := g.until("gone " + addr)
	if got := strings.Join(g.events, "|"); got != "one|two|"+last {
		t.Fatalf("events %q, want the two packets, then the end", got)
	}
	if !strings.Contains(last, "closed the WebSocket's TCP connection") {
		t.Fatalf("end %q does not say the peer closed the TCP connection", last)
	}

	// A close frame, then a protocol error: each says so.
	r = rawDial(t, srv)
	r.upgrade("/stt")
	r.writeFrame(true, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""), true)
	r.expectClose(ws.StatusNormalClosure)
	if last := g.until("gone " + r.localAddr()); !strings.Contains(last, "closed the WebSocket (close 1000)") {
		t.Fatalf("end %q does not name the close frame", last)
	}
	r = rawDial(t, srv)
	r.upgrade("/stt")
	r.writeFrame(true, ws.OpText, []byte("hi"), true)
	r.expectClose(ws.StatusUnsupportedData)
	if last := g.until("gone " + r.localAddr()); !strings.Contains(last, "close 1003") {
		t.Fatalf("end %q does not name the refusal", last)
	}
	r = rawDial(t, srv)
	r.upgrade("/stt")
	r.writeFrame(true, ws.OpBinary, []byte("x"), false)
	r.expectClose(ws.StatusProtocolError)
	g.until("gone " + r.localAddr())

	st := srv.Stats()
	want := Stats{Upgrades: 4, ConnsClosed: 4, PeerCloses: 1, ClosedText: 1, ClosedProtocol: 1}
	got := Stats{Upgrades: st.Upgrades, ConnsClosed: st.ConnsClosed, PeerCloses: st.PeerCloses,
		ClosedText: st.ClosedText, ClosedProtocol: st.ClosedProtocol, ClosedTooBig: st.ClosedTooBig, Conns: st.Conns}
	if got != want {
		t.Fatalf("stats %+v, want %+v", got, want)
	}
}

// Notices that find the read queue full are not lost: they come once the queue has drained.
func TestPeerGoneQueueFull(t *testing.T) {
	q := newReadQueue(2 * (recordHeader + 100))
	a := netip.MustParseAddrPort("127.0.0.1:1000")
	b := netip.MustParseAddrPort("127.0.0.1:2000")
	q.push(a, make([]byte, 100))
	q.push(b, make([]byte, 100))
	q.pushGone(a, "ended") // no room: put aside
	msgs := []batchio.Message{{Buf: make([]byte, 200)}}
	var gone []batchio.PeerGone
	var n int
	if n, gone = q.take(msgs, gone[:0], false); n != 1 || len(gone) != 0 {
		t.Fatalf("first pop: %d packets, %v, want 1 packet and no notice while packets wait", n, gone)
	}
	if n, gone = q.take(msgs, gone[:0], false); n != 1 || len(gone) != 1 || gone[0] != (batchio.PeerGone{Peer: a, Why: "ended"}) {
		t.Fatalf("second pop: %d packets, %v, want the last packet and the notice", n, gone)
	}
	// A notice in the ring stops the batch: the packet behind it waits for the next pop.
	q.pushGone(a, "again")
	q.push(b, []byte("after"))
	msgs = append(msgs, batchio.Message{Buf: make([]byte, 200)})
	if n, gone = q.take(msgs, gone[:0], false); n != 0 || len(gone) != 1 || gone[0].Why != "again" {
		t.Fatalf("pop: %d packets, %v, want only the notice", n, gone)
	}
	if n, gone = q.take(msgs, gone[:0], false); n != 1 || len(gone) != 0 || string(msgs[0].Buf[:msgs[0].N]) != "after" {
		t.Fatalf("pop: %d packets, %v, want the packet after the notice", n, gone)
	}
}

// Without an OnPeerGone function nothing is queued for ends, and ReadBatch only returns packets.
func TestPeerGoneUnregistered(t *testing.T) {
	srv := listenT(t, Config{})
	r := rawDial(t, srv)
	r.upgrade("/stt")
	r.write(frameBytes(true, ws.OpBinary, []byte("only"), true))
	r.nc.Close()
	if m := readOne(t, srv, make([]byte, 64)); string(m.Buf[:m.N]) != "only" {
		t.Fatalf("read %q", m.Buf[:m.N])
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.Stats().ConnsClosed != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling a counter, not synchronising on time
	}
	srv.q.mu.Lock()
	used, gone := srv.q.used, len(srv.q.gone)
	srv.q.mu.Unlock()
	if used != 0 || gone != 0 {
		t.Fatalf("queue holds %d bytes and %d notices, want none", used, gone)
	}
}
