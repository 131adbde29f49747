package wspath

import (
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// A client that floods pings and never reads the pongs pins at most MaxPongBacklog, far below
// its outbound budget: pongs beyond it are dropped and counted, the flooder's own packets still
// arrive, and another client is served.
func TestPingFloodIsBounded(t *testing.T) {
	srv := listenT(t, Config{MaxMessage: 1024}) // the default budget, 512 KiB
	watchdog(t, 60*time.Second, srv)
	r := rawDial(t, srv)
	_ = r.nc.(*net.TCPConn).SetReadBuffer(4096) // a small window: pongs back up at the server
	r.upgrade("/stt")
	ping := frameBytes(true, ws.OpPing, make([]byte, 125), true)
	var chunk []byte
	for range 1000 {
		chunk = append(chunk, ping...)
	}
	for range 32 { // 32 000 pings, 4 MiB of pongs asked for
		r.write(chunk)
	}
	r.writeFrame(true, ws.OpBinary, []byte("still mine"), true)
	buf := make([]byte, 32)
	if m := readOne(t, srv, buf); string(buf[:m.N]) != "still mine" {
		t.Fatalf("got %q after the flood", buf[:m.N])
	}
	st := srv.Stats()
	if st.DropPong == 0 || st.DropPong != st.DropBudget {
		t.Fatalf("no pong dropped, or not counted as one: %+v", st)
	}
	srv.srv.peersMu.RLock()
	out := srv.srv.peers[addrPortOf(r.nc.LocalAddr())].out
	srv.srv.peersMu.RUnlock()
	out.mu.Lock()
	buffers := cap(out.pend) + cap(out.spare)
	out.mu.Unlock()
	// Each buffer held at most MaxPongBacklog bytes of pongs (append may double its capacity);
	// gnet held what was left of MaxPongBacklog.
	if held := int(out.held.Load()); buffers > 4*MaxPongBacklog || held > MaxPongBacklog {
		t.Fatalf("%d bytes of outbound buffers and %d held by gnet for a pong backlog of %d", buffers, held, MaxPongBacklog)
	}
	cli := dialT(t, srv, Config{MaxMessage: 1024})
	go echo(srv)
	roundTripOne(t, cli, []byte("served beside the flood"))
	t.Logf("%d pongs dropped", st.DropBudget)
}
