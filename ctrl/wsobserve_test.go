package ctrl

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sttfast/sttfast/dataplane"
)

// TestWSClientGone: when a client's WebSocket connection ends, the server's session over it ends
// at once (well before the idle timeout), with CodePathClosed and the path's words for why.
func TestWSClientGone(t *testing.T) {
	idle := dataplane.Config{IdleTimeout: 5 * time.Minute}
	srv := testNode(t, Config{Addr: "ws://127.0.0.1:0/stt", Transport: idle})
	cli := testNode(t, Config{Addr: "udp://127.0.0.1:0", Transport: idle})
	s, err := cli.Dial(ctxFor(t), wsAddr(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	peer := acceptSession(t, srv)
	// Cut the client's connection under its session: a close frame and the TCP close, no
	// SESSION_CLOSE (as when a browser tab or a proxy drops the connection).
	cli.pathMu.Lock()
	for p := range cli.paths {
		if p.e.Lookup(s.ID()) == s {
			p.conn.Conn.Close()
		}
	}
	cli.pathMu.Unlock()
	select {
	case <-peer.Done():
	case <-ctxFor(t).Done():
		t.Fatal("the server's session outlived its client's WebSocket connection")
	}
	var ce *dataplane.CloseError
	if !errors.As(peer.Err(), &ce) || ce.Code != dataplane.CodePathClosed || ce.Remote ||
		!strings.Contains(ce.Reason, "closed the WebSocket (close 1000)") {
		t.Fatalf("the server's session ended with %v; want a local CodePathClosed naming the close frame", peer.Err())
	}
	if st := srv.Stats(); st.WebSocket.ConnsClosed != 1 || st.WebSocket.PeerCloses != 1 || st.WebSocket.Conns != 0 || st.WS.Sessions != 0 {
		t.Fatalf("server ws stats %+v, sessions %d; want one connection closed by its peer, none open", st.WebSocket, st.WS.Sessions)
	}
}

// TestWSPathCounters: a transfer over ws moves the ws counters by at least its bytes on both
// sides and leaves the udp ones at zero; the dialing side keeps counting what its connection
// carried after the session and its connection have ended.
func TestWSPathCounters(t *testing.T) {
	srv := testNode(t, Config{Addr: "udp://127.0.0.1:0", Addrs: []string{"ws://127.0.0.1:0/stt"}})
	cli := testNode(t, Config{Addr: "udp://127.0.0.1:0"})
	s, err := cli.Dial(ctxFor(t), wsAddr(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	peer := acceptSession(t, srv)
	const total = 2 << 20
	got := make(chan int64, 1)
	go func() {
		st, err := peer.AcceptStream(ctxFor(t))
		if err != nil {
			got <- -1
			return
		}
		n, _ := io.Copy(io.Discard, st)
		got <- n
	}()
	st, err := s.OpenStream(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sendPattern(st, newPattern(7, 16<<10, total)); err != nil {
		t.Fatal(err)
	}
	st.CloseWrite()
	if n := <-got; n != total {
		t.Fatalf("the server read %d bytes; want %d", n, total)
	}
	ss := srv.Stats()
	if ss.WS.RxBytes < total || ss.WS.RxDatagrams == 0 || ss.WS.Sessions != 1 {
		t.Fatalf("server ws counters %+v; want >= %d bytes received and 1 session", ss.WS, total)
	}
	if ss.UDP != (PathStats{}) {
		t.Fatalf("server udp counters %+v; want zero (nothing went over udp)", ss.UDP)
	}
	if ss.WebSocket.Upgrades != 1 || ss.WebSocket.Conns != 1 {
		t.Fatalf("server ws path stats %+v; want 1 upgrade, 1 open connection", ss.WebSocket)
	}
	if ps := peer.Stats(); ps.BytesRecv < total || ps.PacketsRecv == 0 {
		t.Fatalf("server session counters: %d bytes in %d packets; want >= %d", ps.BytesRecv, ps.PacketsRecv, total)
	}
	cs := cli.Stats()
	if cs.WS.TxBytes < total || cs.UDP.TxDatagrams != 0 || cs.UDP.TxBytes != 0 {
		t.Fatalf("client counters ws %+v udp %+v; want >= %d bytes sent over ws, nothing over udp", cs.WS, cs.UDP, total)
	}
	if err := s.Close(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(testTimeout) // a hang guard: the dialed engine stops after the session
	for {
		cli.pathMu.Lock()
		left := len(cli.paths)
		cli.pathMu.Unlock()
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the dialed ws engine outlived its session")
		}
		time.Sleep(time.Millisecond)
	}
	after := cli.Stats()
	if after.WS.TxBytes < cs.WS.TxBytes || after.TxBytes < cs.TxBytes || after.WebSocket.ConnsClosed != 1 || after.WebSocket.Upgrades != 1 {
		t.Fatalf("client counters after the connection ended: ws %+v (was %+v), ws path %+v; want them kept", after.WS, cs.WS, after.WebSocket)
	}
}
