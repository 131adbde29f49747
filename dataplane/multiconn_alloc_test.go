//go:build !race

package dataplane

import (
	"net"
	"net/netip"
	"testing"

	"github.com/sttfast/sttfast/batchio"
)

// TestMultiConnAllocs: routing a batch over a MultiConn (tagged paths: addresses untagged for
// the member and tagged back) and tagging what a member read allocate nothing.
func TestMultiConnAllocs(t *testing.T) {
	udp := newMemConn(netip.MustParseAddrPort("10.0.0.1:1000"))
	ws := newReliableMemConn(netip.MustParseAddrPort("10.0.0.1:2000"), 1<<30)
	m := NewMultiConn(closableConn{udp, make(chan struct{})})
	defer m.Close()
	if err := m.AddPath(closableConn{ws, make(chan struct{})}, "ws"); err != nil {
		t.Fatal(err)
	}
	peerUDP := netip.MustParseAddrPort("192.0.2.1:9000")
	peerWS := TagAddr(netip.MustParseAddrPort("192.0.2.1:9080"), "ws")
	msgs := batchio.NewSlab(8, 2048).Messages()
	for i := range msgs {
		msgs[i].N = 100
		msgs[i].Addr = peerUDP
		if i%2 == 1 {
			msgs[i].Addr = peerWS
		}
	}
	r := &pathReader{path: &connPath{tag: "ws"}, msgs: batchio.NewSlab(4, 2048).Messages()}
	round := func() {
		if _, err := m.WriteBatch(msgs); err != nil {
			t.Fatal(err)
		}
		udp.take()
		ws.take()
		for i := range r.msgs {
			r.msgs[i].Addr = netip.MustParseAddrPort("192.0.2.1:9080")
		}
		r.tag(len(r.msgs))
	}
	round()
	if allocs := testing.AllocsPerRun(1000, round); allocs != 0 {
		t.Fatalf("%.1f allocations per batch", allocs)
	}
	if len(ws.to) != 0 || r.msgs[0].Addr != peerWS || !m.PathReliable(peerWS) || m.PathReliable(peerUDP) {
		t.Fatal("routing or tagging wrong")
	}
}

// closableConn is a memConn whose ReadBatch (which never returns a packet) ends with Close, so
// a MultiConn over it can close.
type closableConn struct {
	*memConn
	closed chan struct{}
}

func (c closableConn) ReadBatch([]batchio.Message) (int, error) {
	<-c.closed
	return 0, net.ErrClosed
}

func (c closableConn) Close() error {
	close(c.closed)
	return nil
}
