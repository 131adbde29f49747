package ctrl

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sttfast/sttfast/batchio/wspath"
	"github.com/sttfast/sttfast/dataplane"
)

// TestParseAddressWS holds the WebSocket address rules: a path defaults to DefaultWSPath, wss://
// parses (a node refuses to listen on it, TestListenWSS), a query does not.
func TestParseAddressWS(t *testing.T) {
	for in, want := range map[string]string{
		"ws://127.0.0.1:9080/stt":   "ws://127.0.0.1:9080/stt",
		"WS://h:1":                  "ws://h:1/stt",
		"ws://h:1/":                 "ws://h:1/",
		"wss://example.com:443/a/b": "wss://example.com:443/a/b",
		"ws://[::1]:2/x":            "ws://[::1]:2/x",
		"udp://h:1":                 "udp://h:1",
	} {
		a, err := ParseAddress(in)
		if err != nil || a.String() != want {
			t.Errorf("ParseAddress(%q) = %q, %v; want %q", in, a, err, want)
		}
	}
	for _, in := range []string{"ws://h/x", "ws://h:/x", "ws://h:1/x?q=1", "ws://h:1/x#f", "ws:///x", "wss://h"} {
		if _, err := ParseAddress(in); !errors.Is(err, ErrBadAddress) {
			t.Errorf("ParseAddress(%q) = %v; want ErrBadAddress", in, err)
		}
	}
}

// TestListenWSS: a node does not listen with TLS, and says what to do instead.
func TestListenWSS(t *testing.T) {
	n, err := Listen(ctxFor(t), Config{Seed: testSeed(t), Addr: "wss://127.0.0.1:0/stt"})
	if err == nil {
		n.Close()
		t.Fatal("Listen on wss:// succeeded")
	}
	if !errors.Is(err, ErrBadAddress) || !strings.Contains(err.Error(), "reverse proxy") {
		t.Fatalf("Listen on wss:// = %v; want ErrBadAddress naming the reverse proxy", err)
	}
}

// wsAddr is the URL of the node's first ws listener, on loopback.
func wsAddr(t testing.TB, n *Node) string {
	t.Helper()
	for _, b := range n.Addrs() {
		if b.Transport == "ws" {
			return b.String()
		}
	}
	t.Fatal("the node listens on no ws address")
	return ""
}

// goroutinesSettle waits (bounded) until no more than want goroutines run: the engines and
// goroutines of dialed WebSocket connections must end with their sessions.
func goroutinesSettle(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // a hang guard, not a synchronisation
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left, want at most %d:\n%s", runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// TestWSAndUDPOneTable: a node listening on udp and ws at once lists both and accepts sessions
// from both into its one table; data flows over the ws session both ways; when the dialed
// session ends, its connection and engine go with it.
func TestWSAndUDPOneTable(t *testing.T) {
	srv := testNode(t, Config{Addr: "udp://127.0.0.1:0", Addrs: []string{"ws://127.0.0.1:0/stt"}})
	bound := srv.Addrs()
	if len(bound) != 2 || bound[1].Transport != "ws" || bound[1].Path != "/stt" || bound[1].Addr.Port() == 0 {
		t.Fatalf("Addrs() = %v; want a udp and a ws://127.0.0.1:PORT/stt address", bound)
	}
	if want := fmt.Sprintf("ws://127.0.0.1:%d/stt", bound[1].Addr.Port()); bound[1].String() != want {
		t.Fatalf("ws BoundAddr prints %q; want %q", bound[1], want)
	}
	cli := testNode(t, Config{Addr: "udp://127.0.0.1:0"})
	base := runtime.NumGoroutine()

	su, err := cli.Dial(ctxFor(t), bound[0].String())
	if err != nil {
		t.Fatalf("dial udp: %v", err)
	}
	acceptSession(t, srv)
	sw, err := cli.Dial(ctxFor(t), bound[1].String())
	if err != nil {
		t.Fatalf("dial ws: %v", err)
	}
	if !overWS(cli, sw) {
		t.Fatal("the ws session does not run on an engine over its WebSocket connection")
	}
	peer := acceptSession(t, srv)
	if srv.NumSessions() != 2 || srv.Session(su.ID()) == nil || srv.Session(sw.ID()) == nil {
		t.Fatalf("the node holds %d sessions; want the udp and the ws one in one table", srv.NumSessions())
	}
	// The ws listener is a path of the UDP engine (uniteListeners), so that sessions can move
	// between the two; the session on it runs in reliable-path mode all the same.
	if peer.ID() != sw.ID() || !peer.Reliable() || len(srv.engines) != 1 || srv.engines[0].Lookup(peer.ID()) != peer {
		t.Fatalf("the ws session accepted is %x; want %x, reliable, on the node's one engine", peer.ID(), sw.ID())
	}
	// 4 MiB each way over the WebSocket path.
	go func() {
		st, err := peer.AcceptStream(ctxFor(t))
		if err != nil {
			return
		}
		io.Copy(st, st)
		st.Close()
	}()
	st, err := sw.OpenStream(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	p := newPattern(1, 16<<10, 4<<20)
	go func() {
		sendPattern(st, p)
		st.CloseWrite()
	}()
	got, err := io.ReadAll(st)
	if err != nil || len(got) != 4<<20 {
		t.Fatalf("echo over ws: %d bytes, %v; want %d", len(got), err, 4<<20)
	}
	if err := sw.Close(ctxFor(t)); err != nil {
		t.Fatalf("close the ws session: %v", err)
	}
	<-sw.Done()
	goroutinesSettle(t, base+2) // the udp session's own goroutines at most
	cli.pathMu.Lock()
	left := len(cli.paths)
	cli.pathMu.Unlock()
	if left != 0 {
		t.Fatalf("%d dialed ws engines left after their session ended", left)
	}
}

// overWS reports whether s runs on one of n's dialed WebSocket engines, in reliable-path mode.
func overWS(n *Node, s *Session) bool {
	n.pathMu.Lock()
	defer n.pathMu.Unlock()
	for p := range n.paths {
		if p.e.Reliable() && p.e.Stats().Sessions == 1 && p.e.Lookup(s.ID()) == s {
			return true
		}
	}
	return false
}

// TestWSDialFailures: a ws dial where nothing listens fails at once with ErrNothingListening,
// one to a wrong path says so, and neither leaves an engine or a goroutine behind.
func TestWSDialFailures(t *testing.T) {
	srv := testNode(t, Config{Addr: "ws://127.0.0.1:0/stt"})
	cli := testNode(t, Config{Addr: "udp://127.0.0.1:0"})
	base := runtime.NumGoroutine()
	_, err := cli.Dial(ctxFor(t), "ws://"+closedPort(t)+"/stt")
	if !errors.Is(err, ErrNothingListening) {
		t.Fatalf("dial to a closed port = %v; want ErrNothingListening", err)
	}
	wrong := strings.TrimSuffix(wsAddr(t, srv), "/stt") + "/other"
	if _, err := cli.Dial(ctxFor(t), wrong); err == nil || !strings.Contains(err.Error(), "refused the WebSocket upgrade with HTTP 404 (not found: is the path right?)") {
		t.Fatalf("dial to a wrong path = %v; want the server's 404", err)
	}
	goroutinesSettle(t, base)
	if st := cli.Stats(); st.DialsFailed != 2 {
		t.Fatalf("DialsFailed = %d; want 2", st.DialsFailed)
	}
	// A node that listens on ws only has no UDP socket to dial a udp address from.
	if _, err := srv.Dial(ctxFor(t), "udp://"+closedPort(t)); !errors.Is(err, ErrSendFailed) {
		t.Fatalf("a UDP dial from a ws-only node = %v; want ErrSendFailed", err)
	}
}

// TestWSServerGone: when the server closes, a session dialed over ws ends at once (not after the
// idle timeout), and its engine and goroutines go with it.
func TestWSServerGone(t *testing.T) {
	srv := testNode(t, Config{Addr: "ws://127.0.0.1:0/stt"})
	cli := testNode(t, Config{Addr: "udp://127.0.0.1:0", Transport: dataplane.Config{IdleTimeout: time.Minute}})
	base := runtime.NumGoroutine()
	s, err := cli.Dial(ctxFor(t), wsAddr(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	acceptSession(t, srv)
	srv.Close()
	select {
	case <-s.Done():
	case <-ctxFor(t).Done():
		t.Fatal("the ws session outlived its server")
	}
	goroutinesSettle(t, base)
}

// TestDialAnyUDPThenWS: DialAny mixes transports: a dead UDP address first, the ws one wins.
func TestDialAnyUDPThenWS(t *testing.T) {
	srv := testNode(t, Config{Addr: "ws://127.0.0.1:0/stt"})
	cli := testNode(t, Config{Addr: "udp://127.0.0.1:0"})
	s, i, err := cli.DialAnyIndex(ctxFor(t), "udp://"+closedPort(t), wsAddr(t, srv))
	if err != nil || i != 1 || !overWS(cli, s) {
		t.Fatalf("DialAnyIndex = %v, %d, %v; want the ws address (1) over the reliable path", s, i, err)
	}
	acceptSession(t, srv)
	checkNothingLeft(t, cli, 1)
}

// TestManyWSSessions: many sessions over ws on one node, each dialed on its own connection from
// one client node, each echoing a message; the server holds them all in its table.
func TestManyWSSessions(t *testing.T) {
	n := 1000
	if raceEnabled || testing.Short() {
		n = 100
	}
	srv := testNode(t, Config{Addr: "ws://127.0.0.1:0/stt", AcceptQueue: 2 * n, MaxSessions: 2 * n})
	ctx := ctxFor(t)
	go echoServer(ctx, srv)
	// The dialing side holds n engines: small batches and read queues keep that cheap. Its
	// handshake timeout is a hang guard: on a loaded machine 1000 handshakes 32 at a time can
	// take a dial past the default 10 s.
	cli := testNode(t, Config{Addr: "udp://127.0.0.1:0", MaxSessions: 2 * n, HandshakeTimeout: testTimeout / 2,
		WebSocket: wspath.Config{ReadQueueBytes: 128 << 10, OutboundBudget: 128 << 10},
		Transport: dataplane.Config{BatchSize: 4}})
	addr := wsAddr(t, srv)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			s, err := cli.Dial(ctx, addr)
			if err != nil {
				errs <- err
				return
			}
			st, err := s.OpenStream(ctx)
			if err != nil {
				errs <- err
				return
			}
			msg := fmt.Appendf(nil, "hello %d", i)
			if err := st.WriteMessage(msg); err != nil {
				errs <- err
				return
			}
			got, err := st.ReadMessage(nil)
			if err != nil || string(got) != string(msg) {
				errs <- fmt.Errorf("session %d: echo %q, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("%v\nserver %+v\nclient %+v", err, srv.Stats(), cli.Stats())
	}
	if got := srv.NumSessions(); got != n {
		t.Fatalf("the server holds %d sessions; want %d", got, n)
	}
	cli.pathMu.Lock()
	engines := len(cli.paths)
	cli.pathMu.Unlock()
	if engines != n {
		t.Fatalf("the client runs %d ws engines for %d sessions", engines, n)
	}
}

// TestDialWSSThroughTLSProxy: a wss:// dial reaches a node's ws:// listener through a
// TLS-terminating proxy (a stand-in for nginx or caddy in front of it), and data flows.
func TestDialWSSThroughTLSProxy(t *testing.T) {
	srv := testNode(t, Config{Addr: "ws://127.0.0.1:0/stt"})
	backend := srv.Addrs()[0].Addr.String()
	hs := httptest.NewUnstartedServer(http.NotFoundHandler())
	hs.StartTLS() // for its certificate (127.0.0.1) and a client pool that trusts it
	defer hs.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", hs.TLS)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, err := net.Dial("tcp", backend)
				if err != nil {
					return
				}
				defer b.Close()
				go func() { io.Copy(b, c); b.(*net.TCPConn).CloseWrite() }()
				io.Copy(c, b)
			}()
		}
	}()
	pool := x509.NewCertPool()
	pool.AddCert(hs.Certificate())
	cli := testNode(t, Config{Addr: "udp://127.0.0.1:0", WebSocket: wspath.Config{TLS: &tls.Config{RootCAs: pool}}})
	s, err := cli.Dial(ctxFor(t), "wss://"+ln.Addr().String()+"/stt")
	if err != nil {
		t.Fatalf("dial wss:// through the proxy: %v", err)
	}
	peer := acceptSession(t, srv)
	st, err := s.OpenStream(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("wss"), 100000)
	if err := st.WriteMessage(msg); err != nil {
		t.Fatal(err)
	}
	pst, err := peer.AcceptStream(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := pst.ReadMessage(nil)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("over wss: %d bytes, %v; want %d", len(got), err, len(msg))
	}
}

// TestWSStatsSummed: NodeStats.WebSocket sums the counters of every ws listener of the node, so
// that what hostile clients cost it is visible without reaching into wspath.
func TestWSStatsSummed(t *testing.T) {
	srv := testNode(t, Config{Addr: "ws://127.0.0.1:0/a", Addrs: []string{"ws://127.0.0.1:0/b"}})
	for _, b := range srv.Addrs() {
		nc, err := net.Dial("tcp", b.Addr.String())
		if err != nil {
			t.Fatal(err)
		}
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second)) // a hang guard
		if _, err := nc.Write([]byte("\x16\x03\x01 not HTTP\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil) // counted before it is sent
		nc.Close()
		if err != nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s answered %v, %v; want 400", b, resp, err)
		}
	}
	ws := srv.Stats().WebSocket
	if ws.RefusedBy[wspath.RefusedRequest] != 2 || ws.Refused != 2 || ws.Upgrades != 0 {
		t.Fatalf("NodeStats.WebSocket %+v; want the two listeners' refusals summed", ws)
	}
}
