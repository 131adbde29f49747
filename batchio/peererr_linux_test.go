//go:build linux && !batchio_portable

package batchio

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
)

// peerLog collects the PeerErrors a Conn reports, copying what is valid only during the call.
type peerLog struct {
	mu  sync.Mutex
	got []PeerError
	ch  chan struct{}
}

func newPeerLog() *peerLog { return &peerLog{ch: make(chan struct{}, 64)} }

func (l *peerLog) handle(pe *PeerError) {
	c := *pe
	c.Packet = append([]byte(nil), pe.Packet...)
	l.mu.Lock()
	l.got = append(l.got, c)
	l.mu.Unlock()
	select {
	case l.ch <- struct{}{}:
	default:
	}
}

// wait returns the first report that satisfies ok, failing after the safety bound.
func (l *peerLog) wait(t *testing.T, what string, ok func(PeerError) bool) PeerError {
	t.Helper()
	deadline := time.After(safety)
	for {
		l.mu.Lock()
		for _, pe := range l.got {
			if ok(pe) {
				l.mu.Unlock()
				return pe
			}
		}
		l.mu.Unlock()
		select {
		case <-l.ch:
		case <-deadline:
			t.Fatalf("no report of %s; got %+v", what, l.got)
		}
	}
}

func (l *peerLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.got)
}

// closedPort returns a loopback UDP address where nothing listens (a port just released).
func closedPort(t *testing.T, ip string) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	ap := c.LocalAddr().(*net.UDPAddr).AddrPort()
	c.Close()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// reader runs ReadBatch on c until it is closed and forwards each datagram's payload.
func reader(t *testing.T, c *Conn) <-chan []byte {
	out := make(chan []byte, 16)
	go func() {
		defer close(out)
		slab := NewSlab(4, GROBufferSize)
		msgs := slab.Messages()
		for {
			n, err := c.ReadBatch(msgs)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("ReadBatch: %v", err)
				}
				return
			}
			for i := range n {
				out <- append([]byte(nil), msgs[i].Buf[:msgs[i].N]...)
			}
		}
	}()
	return out
}

// TestPeerErrorPortUnreachable: with a handler, the ICMP port unreachable that answers a datagram
// sent to a port where nothing listens reaches the handler as ECONNREFUSED for that destination,
// with the start of the datagram, and ReadBatch goes on reading (it never returns the error).
func TestPeerErrorPortUnreachable(t *testing.T) {
	for _, tc := range []struct{ name, network, bind string }{
		{"ipv4", "udp4", "127.0.0.1:0"},
		{"dual-stack", "udp", ":0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := listen(t, tc.network, tc.bind, Options{})
			log := newPeerLog()
			if err := c.SetPeerErrorHandler(log.handle); err != nil {
				t.Fatal(err)
			}
			data := reader(t, c)
			dst := closedPort(t, "127.0.0.1")
			payload := []byte("STT-header-and-more: the start of the datagram")
			if _, err := c.WriteBatch([]Message{{Buf: payload, N: len(payload), Addr: dst}}); err != nil {
				t.Fatal(err)
			}
			pe := log.wait(t, "port unreachable", func(pe PeerError) bool { return errors.Is(pe.Err, syscall.ECONNREFUSED) })
			if pe.Addr != dst || !pe.Remote || !bytes.HasPrefix(payload, pe.Packet) || len(pe.Packet) == 0 {
				t.Fatalf("report %+v (packet %q), want ECONNREFUSED from the network for %v quoting %q", pe, pe.Packet, dst, payload)
			}
			if pe.Offender.IsValid() && !pe.Offender.IsLoopback() {
				t.Fatalf("offender %v", pe.Offender)
			}
			if !errors.Is(&pe, syscall.ECONNREFUSED) || pe.Error() == "" {
				t.Fatalf("PeerError does not unwrap to its errno: %v", &pe)
			}
			// The socket still receives.
			s, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), c.LocalAddr().Port())))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			s.Write([]byte("after"))
			select {
			case d := <-data:
				if string(d) != "after" {
					t.Fatalf("read %q", d)
				}
			case <-time.After(safety):
				t.Fatal("no datagram after the ICMP error")
			}
		})
	}
}

// TestPeerErrorConsumedBySend: an ICMP error pending on the socket fails the next send with its
// errno on Linux; WriteBatch delivers it to the handler and sends the datagram anyway.
func TestPeerErrorConsumedBySend(t *testing.T) {
	c := listen(t, "udp4", "127.0.0.1:0", Options{})
	log := newPeerLog()
	if err := c.SetPeerErrorHandler(log.handle); err != nil {
		t.Fatal(err)
	}
	rcv := listen(t, "udp4", "127.0.0.1:0", Options{})
	dst := closedPort(t, "127.0.0.1")
	b := []byte("first")
	if _, err := c.WriteBatch([]Message{{Buf: b, N: len(b), Addr: dst}}); err != nil {
		t.Fatal(err)
	}
	// Nobody reads c: the error stays pending until the next send meets it.
	time.Sleep(50 * time.Millisecond)
	g := []byte("second")
	if n, err := c.WriteBatch([]Message{{Buf: g, N: len(g), Addr: rcv.LocalAddr()}}); n != 1 || err != nil {
		t.Fatalf("WriteBatch after an ICMP error = %d, %v", n, err)
	}
	log.wait(t, "port unreachable", func(pe PeerError) bool { return pe.Addr == dst && errors.Is(pe.Err, syscall.ECONNREFUSED) })
	msgs := NewSlab(1, GROBufferSize).Messages()
	rcv.SetReadDeadline(time.Now().Add(safety))
	if n, err := rcv.ReadBatch(msgs); n != 1 || err != nil || string(msgs[0].Buf[:msgs[0].N]) != "second" {
		t.Fatalf("the datagram sent after the error: %d, %v", n, err)
	}
}

// TestPeerErrorSendRefused: a send the kernel refuses for its destination (a socket bound to
// loopback sending to another host: EINVAL) is reported and skipped, and the rest of the batch
// goes out; without a handler WriteBatch stops there, as before.
func TestPeerErrorSendRefused(t *testing.T) {
	far := netip.MustParseAddrPort("198.51.100.1:9") // TEST-NET-2: never a local address
	c := listen(t, "udp4", "127.0.0.1:0", Options{})
	rcv := listen(t, "udp4", "127.0.0.1:0", Options{})
	bad, good := []byte("to-far"), []byte("to-near")
	batch := []Message{{Buf: bad, N: len(bad), Addr: far}, {Buf: good, N: len(good), Addr: rcv.LocalAddr()}}

	if n, err := c.WriteBatch(batch); n != 0 || !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("without a handler: WriteBatch = %d, %v; want 0, EINVAL", n, err)
	}
	log := newPeerLog()
	if err := c.SetPeerErrorHandler(log.handle); err != nil {
		t.Fatal(err)
	}
	if n, err := c.WriteBatch(batch); n != 2 || err != nil {
		t.Fatalf("with a handler: WriteBatch = %d, %v; want 2, nil", n, err)
	}
	pe := log.wait(t, "EINVAL", func(pe PeerError) bool { return errors.Is(pe.Err, syscall.EINVAL) })
	if pe.Addr != far || pe.Remote || string(pe.Packet) != "to-far" {
		t.Fatalf("report %+v", pe)
	}
	msgs := NewSlab(1, GROBufferSize).Messages()
	rcv.SetReadDeadline(time.Now().Add(safety))
	if n, err := rcv.ReadBatch(msgs); n != 1 || err != nil || string(msgs[0].Buf[:msgs[0].N]) != "to-near" {
		t.Fatalf("the datagram after the refused one: %d, %v", n, err)
	}
}

// TestPeerErrorFamily: an IPv6 destination on an IPv4 socket is reported and skipped with a
// handler; without one the whole batch is refused before anything is sent, as before.
func TestPeerErrorFamily(t *testing.T) {
	c := listen(t, "udp4", "127.0.0.1:0", Options{})
	rcv := listen(t, "udp4", "127.0.0.1:0", Options{})
	v6 := netip.MustParseAddrPort("[2001:db8::1]:9")
	a, b := []byte("a"), []byte("b")
	batch := []Message{{Buf: a, N: 1, Addr: rcv.LocalAddr()}, {Buf: a, N: 1, Addr: v6}, {Buf: b, N: 1, Addr: rcv.LocalAddr()}}
	if n, err := c.WriteBatch(batch); n != 0 || !errors.Is(err, errFamily) {
		t.Fatalf("without a handler: %d, %v", n, err)
	}
	log := newPeerLog()
	c.SetPeerErrorHandler(log.handle)
	if n, err := c.WriteBatch(batch); n != 3 || err != nil {
		t.Fatalf("with a handler: %d, %v", n, err)
	}
	if pe := log.wait(t, "family", func(PeerError) bool { return true }); pe.Addr != v6 || !errors.Is(pe.Err, errFamily) {
		t.Fatalf("report %+v", pe)
	}
	msgs := NewSlab(4, GROBufferSize).Messages()
	var got []byte
	rcv.SetReadDeadline(time.Now().Add(safety))
	for len(got) < 2 {
		n, err := rcv.ReadBatch(msgs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			got = append(got, msgs[i].Buf[:msgs[i].N]...)
		}
	}
	if string(got) != "ab" {
		t.Fatalf("received %q, want the datagrams on both sides of the skipped one", got)
	}
}

// TestPeerErrorNoHandler: a handler removed (or never set after enabling) still lets the Conn
// drain the error queue, so ICMP reports never pile up in the receive buffer nor fail reads.
func TestPeerErrorNoHandler(t *testing.T) {
	c := listen(t, "udp4", "127.0.0.1:0", Options{})
	log := newPeerLog()
	c.SetPeerErrorHandler(log.handle)
	c.SetPeerErrorHandler(nil)
	data := reader(t, c)
	for range 20 {
		dst := closedPort(t, "127.0.0.1")
		b := []byte("x")
		if _, err := c.WriteBatch([]Message{{Buf: b, N: 1, Addr: dst}}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(c.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	time.Sleep(20 * time.Millisecond)
	s.Write([]byte("still"))
	select {
	case d := <-data:
		if string(d) != "still" {
			t.Fatalf("read %q", d)
		}
	case <-time.After(safety):
		t.Fatal("no datagram")
	}
	if log.len() != 0 {
		t.Fatalf("%d reports after the handler was removed", log.len())
	}
}
