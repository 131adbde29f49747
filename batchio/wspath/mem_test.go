package wspath

import (
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// An idle upgraded connection costs little Go heap on the server (gnet's conn, ours, the frame
// parser and an empty outbox): the test reports the figure (about 1 KiB) and fails past 8 KiB.
// The clients' net.Conns are in the same process and counted too.
func TestIdleConnMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes heap sizes")
	}
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
