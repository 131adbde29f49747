package wspath

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/sttfast/sttfast/batchio"
)

// fakeServer accepts one connection, answers its upgrade with the 101 followed by after in the
// same write, and hands the connection and its reader to the test.
func fakeServer(t *testing.T, after []byte) (url string, conn <-chan net.Conn, br <-chan *bufio.Reader) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	cc, bc := make(chan net.Conn, 1), make(chan *bufio.Reader, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		t.Cleanup(func() { nc.Close() })
		r := bufio.NewReader(nc)
		req, err := http.ReadRequest(r)
		if err != nil {
			t.Errorf("fake server: %v", err)
			return
		}
		resp := acceptResponse([]byte(req.Header.Get("Sec-WebSocket-Key")))
		nc.Write(append(resp, after...))
		cc <- nc
		bc <- r
	}()
	return "ws://" + ln.Addr().String() + "/stt", cc, bc
}

func dialURL(t *testing.T, url string, cfg Config) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, url, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Frames the server sent with its 101 sit in the Dialer's bufio.Reader: they are not lost.
func TestDialKeepsFramesSentWithTheUpgrade(t *testing.T) {
	first := append(frameBytes(true, ws.OpBinary, []byte("first"), false), frameBytes(true, ws.OpBinary, []byte("second"), false)...)
	url, _, _ := fakeServer(t, first)
	c := dialURL(t, url, Config{})
	watchdog(t, 10*time.Second, c)
	buf := make([]byte, 64)
	for _, want := range []string{"first", "second"} {
		m := readOne(t, c, buf)
		if string(buf[:m.N]) != want || m.Addr != c.Peer() {
			t.Fatalf("got %q from %v, want %q from %v", buf[:m.N], m.Addr, want, c.Peer())
		}
	}
}

// A masked frame from a server is a protocol error: the client closes with 1002 and ReadBatch
// says why.
func TestDialRefusesMaskedServerFrame(t *testing.T) {
	url, conns, brs := fakeServer(t, frameBytes(true, ws.OpBinary, []byte("x"), true))
	c := dialURL(t, url, Config{})
	watchdog(t, 10*time.Second, c)
	_, err := c.ReadBatch(msgsOf(make([]byte, 10), c.Peer()))
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("ReadBatch: %v, want ErrProtocol", err)
	}
	nc, br := <-conns, <-brs
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, err := ws.ReadHeader(br)
	if err != nil || h.OpCode != ws.OpClose || !h.Masked {
		t.Fatalf("client's answer: %+v %v, want a masked close", h, err)
	}
	p := make([]byte, h.Length)
	io.ReadFull(br, p)
	ws.Cipher(p, h.Mask, 0)
	if closeCode(p) != ws.StatusProtocolError {
		t.Fatalf("close code %d, want 1002", closeCode(p))
	}
}

// The server's close frame is answered and ends the Conn with ErrPeerClosed; so does the
// Listener closing.
func TestDialPeerCloses(t *testing.T) {
	url, conns, brs := fakeServer(t, frameBytes(true, ws.OpClose, ws.NewCloseFrameBody(ws.StatusGoingAway, ""), false))
	c := dialURL(t, url, Config{})
	watchdog(t, 10*time.Second, c)
	if _, err := c.ReadBatch(msgsOf(make([]byte, 10), c.Peer())); !errors.Is(err, ErrPeerClosed) {
		t.Fatalf("ReadBatch: %v, want ErrPeerClosed", err)
	}
	<-conns
	h, err := ws.ReadHeader(<-brs)
	if err != nil || h.OpCode != ws.OpClose {
		t.Fatalf("client's answer: %+v %v, want a close", h, err)
	}

	srv := listenT(t, Config{})
	cli := dialT(t, srv, Config{})
	srv.Close()
	if _, err := cli.ReadBatch(msgsOf(make([]byte, 10), cli.Peer())); !errors.Is(err, ErrPeerClosed) {
		t.Fatalf("ReadBatch after the listener closed: %v, want ErrPeerClosed", err)
	}
}

// Dialing a path the server does not serve fails with the HTTP status.
func TestDialWrongPath(t *testing.T) {
	srv := listenT(t, Config{})
	_, err := Dial(context.Background(), "ws://"+srv.LocalAddr().String()+"/nope", Config{})
	var se ws.StatusError
	if !errors.As(err, &se) || int(se) != http.StatusNotFound {
		t.Fatalf("Dial: %v, want status 404", err)
	}
	if _, err := Dial(context.Background(), "http://"+srv.LocalAddr().String()+"/stt", Config{}); !errors.Is(err, ErrBadURL) {
		t.Fatalf("Dial http://: %v, want ErrBadURL", err)
	}
}

// wss:// reaches a Listener behind a TLS-terminating proxy (as behind a reverse proxy on 443).
func TestDialWSS(t *testing.T) {
	srv := listenT(t, Config{})
	go echo(srv)
	cert, pool := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { // the proxy: TLS in, plain TCP to the Listener
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", srv.LocalAddr().String())
			if err != nil {
				in.Close()
				return
			}
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	cli := dialURL(t, "wss://localhost:"+port+"/stt", Config{TLS: &tls.Config{RootCAs: pool, ServerName: "localhost"}})
	watchdog(t, 10*time.Second, srv, cli)
	for i := range 20 {
		p := make([]byte, 100+i*500)
		fill(p, i)
		roundTripOne(t, cli, p)
	}
}

// A peer that stops reading costs at most its outbound budget: writes to it are dropped and
// counted, WriteBatch never blocks, and another peer's packets still flow.
func TestSlowPeerIsDroppedNotWaitedFor(t *testing.T) {
	const budget = 128 << 10
	srv := listenT(t, Config{OutboundBudget: budget})
	slow := rawDial(t, srv)
	slow.upgrade("/stt")
	slow.writeFrame(true, ws.OpBinary, []byte("hi"), true) // so the server learns its address
	m := readOne(t, srv, make([]byte, 16))
	slowAddr := m.Addr
	fast := dialT(t, srv, Config{})
	watchdog(t, 20*time.Second, srv, fast)
	p := make([]byte, 16<<10)
	msgs := msgsOf(p, slowAddr)
	for range 2000 { // 32 MiB to a peer that reads nothing: far over the budget and the socket buffers
		if _, err := srv.WriteBatch(msgs); err != nil {
			t.Fatal(err)
		}
	}
	if st := srv.Stats(); st.DropBudget == 0 {
		t.Fatalf("no drops after 32 MiB to a peer that does not read: %+v", st)
	}
	srv.srv.peersMu.RLock()
	out := srv.srv.peers[slowAddr].out
	srv.srv.peersMu.RUnlock()
	out.mu.Lock()
	held := cap(out.pend) + cap(out.spare)
	out.mu.Unlock()
	if held > 2*budget {
		t.Fatalf("%d bytes of outbound buffers for a budget of %d", held, budget)
	}
	go echo(srv)
	roundTripOne(t, fast, []byte("the other peer is not held up"))
}

// When ReadBatch falls behind, packets beyond the read queue are dropped and counted; nothing
// blocks and the connection goes on.
func TestReadQueueFullDrops(t *testing.T) {
	srv := listenT(t, Config{MaxMessage: 1024, ReadQueueBytes: 16 << 10})
	watchdog(t, 20*time.Second, srv)
	r := rawDial(t, srv)
	r.upgrade("/stt")
	// 100 packets of 1000 bytes (1024 in the queue with the record header) into a 16 KiB queue
	// nobody reads, then a ping: its pong proves the server has parsed everything before it.
	var b []byte
	for i := range 100 {
		p := make([]byte, 1000)
		fill(p, i)
		b = append(b, frameBytes(true, ws.OpBinary, p, true)...)
	}
	r.write(append(b, frameBytes(true, ws.OpPing, []byte("sync"), true)...))
	if h, _, err := r.readFrame(); err != nil || h.OpCode != ws.OpPong {
		t.Fatalf("pong: %+v %v", h, err)
	}
	if st := srv.Stats(); st.DropQueue != 100-16 {
		t.Fatalf("stats %+v, want 84 queue drops", st)
	}
	msgs := batchio.NewSlab(32, 1024).Messages()
	if n, err := srv.ReadBatch(msgs); n != 16 || err != nil {
		t.Fatalf("ReadBatch: %d %v, want the 16 queued", n, err)
	}
	for i := range 16 {
		want := make([]byte, 1000)
		fill(want, i)
		if !bytes.Equal(msgs[i].Buf[:msgs[i].N], want) {
			t.Fatalf("queued packet %d differs", i)
		}
	}
	r.writeFrame(true, ws.OpBinary, []byte("after"), true)
	if m := readOne(t, srv, make([]byte, 16)); m.N != 5 {
		t.Fatalf("packet after the drops: %d bytes", m.N)
	}
}

// selfSigned returns a certificate for localhost and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// Close returns even when the server stopped reading and the writer is blocked in a write.
func TestDialCloseWithBlockedWriter(t *testing.T) {
	url, _, _ := fakeServer(t, nil) // it never reads after the upgrade
	c := dialURL(t, url, Config{})
	_ = c.cli.nc.(*net.TCPConn).SetWriteBuffer(4096)
	p := make([]byte, 60<<10)
	// Write until the writer is inside a write (held > 0). One 60 KiB frame is more than the
	// socket buffers take while the server reads nothing, so that write cannot finish.
	for i := 0; c.cli.out.held.Load() == 0; i++ {
		if i == 1e6 {
			t.Fatal("the writer never started writing")
		}
		if _, err := c.WriteBatch(msgsOf(p, c.Peer())); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 { // and more behind it: the budget drops them
		if _, err := c.WriteBatch(msgsOf(p, c.Peer())); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close blocked behind a stuck write")
	}
	t.Logf("Close took %v", time.Since(start))
}
