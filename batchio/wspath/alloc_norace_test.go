//go:build !race

package wspath

// Built without the race detector only: it allocates on channel and sync operations and changes
// heap sizes, so neither count means anything under it. make test runs these in its allocation
// pass (-run 'Alloc|Footprint', no -race).

import (
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/sttfast/sttfast/batchio"
)

// Steady state over a live connection allocates nothing per packet, in either direction: the
// dialer's WriteBatch, the server's event loop parsing it into the read queue, the server's
// ReadBatch (or LendBatch, as the engine reads) and WriteBatch back (through the loop waker and
// gnet's Write), the dialer's reader and ReadBatch. AllocsPerRun counts every goroutine's
// allocations, gnet's loop included.
func TestAllocsPerPacket(t *testing.T) {
	for _, lend := range []bool{false, true} {
		t.Run(map[bool]string{false: "ReadBatch", true: "LendBatch"}[lend], func(t *testing.T) {
			srv := listenT(t, Config{})
			cli := dialT(t, srv, Config{})
			watchdog(t, 20*time.Second, srv, cli)
			cw := batchio.NewSlab(1, 1200).Messages()
			cw[0].N, cw[0].Addr = 1200, cli.Peer()
			sr := batchio.NewSlab(4, 2048).Messages()
			cr := batchio.NewSlab(4, 2048).Messages()
			read := srv.ReadBatch
			if lend {
				read = srv.LendBatch
			}
			roundTrip := func() {
				if _, err := cli.WriteBatch(cw); err != nil {
					t.Fatal(err)
				}
				n, err := read(sr)
				if err != nil || n != 1 || sr[0].N != 1200 {
					t.Fatalf("server read: %d %v", n, err)
				}
				if _, err := srv.WriteBatch(sr[:1]); err != nil {
					t.Fatal(err)
				}
				if n, err := cli.ReadBatch(cr); err != nil || n != 1 || cr[0].N != 1200 {
					t.Fatalf("client ReadBatch: %d %v", n, err)
				}
			}
			for range 100 { // warm up: buffers and pools reach their steady size
				roundTrip()
			}
			if a := testing.AllocsPerRun(500, roundTrip); a != 0 {
				t.Fatalf("%.2f allocations per round trip, want 0", a)
			}
		})
	}
}

// An idle upgraded connection costs little Go heap on the server (gnet's conn, ours, the frame
// parser and an empty outbox): the test reports the figure (about 1 KiB) and fails past 8 KiB.
// The clients' net.Conns are in the same process and counted too.
func TestIdleConnFootprint(t *testing.T) {
	const n = 200
	srv := listenT(t, Config{})
	req := []byte(upgradeRequest("/stt"))
	resp := make([]byte, 129) // the 101 response is 129 bytes
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for range n {
		c, err := net.Dial("tcp", srv.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, resp); err != nil || string(resp[9:12]) != "101" {
			t.Fatalf("upgrade: %q %v", resp, err)
		}
	}
	if st := srv.Stats(); st.Conns != n {
		t.Fatalf("stats %+v, want %d conns", st, n)
	}
	per := (int64(heap()) - int64(before)) / n
	t.Logf("%d bytes of heap per idle connection (server and client side)", per)
	if per > 8<<10 {
		t.Fatalf("%d bytes per idle connection, want at most 8 KiB", per)
	}
	runtime.KeepAlive(conns)
}
