package wspath

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/sttfast/sttfast/batchio"
)

// TestWritable: a writer that sends only what Writable allows never has a datagram dropped for
// the outbound budget, even to a peer that has stopped reading; Writable reports the whole
// budget on an idle connection, 0 for an address without one, and does not allocate.
func TestWritable(t *testing.T) {
	const budget = 128 << 10
	srv := listenT(t, Config{OutboundBudget: budget})
	cli := dialT(t, srv, Config{OutboundBudget: budget})
	watchdog(t, 30*time.Second, srv, cli)
	if !srv.Reliable() || srv.MaxPacket() != DefaultMaxMessage {
		t.Fatalf("Reliable %v, MaxPacket %d", srv.Reliable(), srv.MaxPacket())
	}
	nowhere := netip.MustParseAddrPort("127.0.0.1:9")
	if w := srv.Writable(nowhere); w != 0 {
		t.Fatalf("server Writable(no connection) = %d, want 0", w)
	}
	if w := cli.Writable(nowhere); w != 0 {
		t.Fatalf("client Writable(not its server) = %d, want 0", w)
	}
	if w := cli.Writable(cli.Peer()); w != budget {
		t.Fatalf("client Writable on an idle connection = %d, want %d", w, budget)
	}

	// A raw client that upgrades and then never reads: the server's socket, gnet's buffer and
	// then the budget fill.
	rc := rawDial(t, srv)
	rc.upgrade("/stt")
	rc.writeFrame(true, ws.OpPing, []byte("p"), true)
	if h, _, err := rc.readFrame(); err != nil || h.OpCode != ws.OpPong {
		t.Fatalf("no pong: %v %v", h.OpCode, err)
	}
	addr, err := netip.ParseAddrPort(rc.localAddr())
	if err != nil {
		t.Fatal(err)
	}
	// The pong's bytes count as held from the flush that took them until the event loop reports
	// gnet's buffer empty, which may be just after the pong reached us: wait for that report.
	for deadline := time.Now().Add(10 * time.Second); ; {
		w := srv.Writable(addr)
		if w == budget {
			break
		}
		if w > budget || time.Now().After(deadline) {
			t.Fatalf("server Writable on an idle connection = %d, want %d", w, budget)
		}
		time.Sleep(100 * time.Microsecond) // polling the report; the deadline guards a hang
	}
	const size = 16 << 10
	msgs := batchio.NewSlab(1, size).Messages()
	msgs[0].N, msgs[0].Addr = size, addr
	written, stuck := 0, 0
	for stuck < 200 && written < 256<<20 {
		if srv.Writable(addr) < size+maxFrameHeader {
			stuck++
			time.Sleep(time.Millisecond) // polling, as the engine does: the socket may drain
			continue
		}
		stuck = 0
		if _, err := srv.WriteBatch(msgs); err != nil {
			t.Fatal(err)
		}
		written += size
	}
	if st := srv.Stats(); st.DropBudget != 0 {
		t.Fatalf("%d datagrams dropped for the budget although Writable was asked first", st.DropBudget)
	}
	if written <= budget || stuck < 200 {
		t.Fatalf("wrote %d bytes, stuck %d: the peer's stalled reads never filled the budget", written, stuck)
	}
	if w := srv.Writable(addr); w >= size+maxFrameHeader {
		t.Fatalf("Writable %d on a connection whose peer stopped reading", w)
	}
	if !raceEnabled {
		// Full (and so asking for a refresh each time) and idle: no allocation either way.
		if a := testing.AllocsPerRun(100, func() { srv.Writable(addr); cli.Writable(cli.Peer()) }); a != 0 {
			t.Fatalf("Writable: %.1f allocations, want 0", a)
		}
	}
	t.Logf("%d KiB taken by a peer that does not read", written>>10)
}
