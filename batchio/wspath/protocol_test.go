package wspath

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestPingPong(t *testing.T) {
	srv := listenT(t, Config{})
	r := rawDial(t, srv)
	r.upgrade("/stt")
	r.writeFrame(true, ws.OpPing, []byte("are you there"), true)
	h, p, err := r.readFrame()
	if err != nil || h.OpCode != ws.OpPong || h.Masked || string(p) != "are you there" {
		t.Fatalf("got %+v %q %v, want an unmasked pong echoing the ping", h, p, err)
	}
}

func TestCloseHandshake(t *testing.T) {
	srv := listenT(t, Config{})
	r := rawDial(t, srv)
	r.upgrade("/stt")
	r.writeFrame(true, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye"), true)
	r.expectClose(ws.StatusNormalClosure)
}

// Each refused frame gets its close code and the connection is closed.
func TestRefusedFrames(t *testing.T) {
	cases := []struct {
		name string
		send func(r *rawClient)
		code ws.StatusCode
	}{
		{"unmasked", func(r *rawClient) { r.writeFrame(true, ws.OpBinary, []byte("x"), false) }, ws.StatusProtocolError},
		{"text", func(r *rawClient) { r.writeFrame(true, ws.OpText, []byte("hello"), true) }, ws.StatusUnsupportedData},
		{"oversize", func(r *rawClient) {
			// Only the header: the refusal must not wait for the payload.
			r.writeHeader(ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 1024 + 1, Masked: true})
		}, ws.StatusMessageTooBig},
		{"2^62 bytes", func(r *rawClient) {
			r.writeHeader(ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 1 << 62, Masked: true})
		}, ws.StatusMessageTooBig},
		{"2^63 bytes", func(r *rawClient) {
			// The length's top bit is set: not a valid length at all (RFC 6455 §5.2).
			raw := append([]byte{0x82, 0x80 | 127}, be64(1<<63)...)
			r.write(append(raw, 1, 2, 3, 4))
		}, ws.StatusProtocolError},
		{"fragments over the limit", func(r *rawClient) {
			// The second header takes the message over the limit; its payload is never sent.
			r.write(append(frameBytes(false, ws.OpBinary, make([]byte, 800), true),
				headerBytes(ws.Header{Fin: true, OpCode: ws.OpContinuation, Length: 300, Masked: true})...))
		}, ws.StatusMessageTooBig},
		{"reserved bits", func(r *rawClient) {
			r.writeHeader(ws.Header{Fin: true, Rsv: 4, OpCode: ws.OpBinary, Masked: true})
		}, ws.StatusProtocolError},
		{"reserved opcode", func(r *rawClient) { r.writeFrame(true, ws.OpCode(3), nil, true) }, ws.StatusProtocolError},
		{"stray continuation", func(r *rawClient) { r.writeFrame(true, ws.OpContinuation, []byte("x"), true) }, ws.StatusProtocolError},
		{"fragmented ping", func(r *rawClient) { r.writeFrame(false, ws.OpPing, nil, true) }, ws.StatusProtocolError},
		{"long ping", func(r *rawClient) { r.writeFrame(true, ws.OpPing, make([]byte, 126), true) }, ws.StatusProtocolError},
	}
	srv := listenT(t, Config{MaxMessage: 1024})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rawDial(t, srv)
			r.upgrade("/stt")
			c.send(r)
			r.expectClose(c.code)
		})
	}
	// Each close is counted by its code, before it is sent.
	want := map[ws.StatusCode]uint64{}
	for _, c := range cases {
		want[c.code]++
	}
	st := srv.Stats()
	if st.ClosedProtocol != want[ws.StatusProtocolError] || st.ClosedText != want[ws.StatusUnsupportedData] ||
		st.ClosedTooBig != want[ws.StatusMessageTooBig] {
		t.Fatalf("closes counted 1002 %d, 1003 %d, 1009 %d; want %v", st.ClosedProtocol, st.ClosedText, st.ClosedTooBig, want)
	}
	// The listener still serves a legitimate client after all that.
	cli := dialT(t, srv, Config{MaxMessage: 1024})
	go echo(srv)
	roundTripOne(t, cli, []byte("still here"))
}

// Fragments, with a ping between them, are reassembled into one packet.
func TestFragmentedMessage(t *testing.T) {
	srv := listenT(t, Config{})
	r := rawDial(t, srv)
	r.upgrade("/stt")
	r.writeFrame(false, ws.OpBinary, []byte("abc"), true)
	r.writeFrame(false, ws.OpContinuation, []byte("def"), true)
	r.writeFrame(true, ws.OpPing, []byte("p"), true)
	r.writeFrame(true, ws.OpContinuation, []byte("ghi"), true)
	buf := make([]byte, 64)
	m := readOne(t, srv, buf)
	if string(buf[:m.N]) != "abcdefghi" || m.Addr.String() != r.localAddr() {
		t.Fatalf("got %q from %v, want %q from %s", buf[:m.N], m.Addr, "abcdefghi", r.localAddr())
	}
	if h, p, err := r.readFrame(); err != nil || h.OpCode != ws.OpPong || string(p) != "p" {
		t.Fatalf("pong: %+v %q %v", h, p, err)
	}
}

// Bad requests get an HTTP error and no upgrade; the connection is closed.
func TestRefusedUpgrades(t *testing.T) {
	cases := []struct {
		name, req string
		status    int
	}{
		{"wrong path", upgradeRequest("/other"), http.StatusNotFound},
		{"path prefix", upgradeRequest("/stt/x"), http.StatusNotFound},
		{"origin not allowed", upgradeRequest("/stt", "Origin: https://evil.example\r\n"), http.StatusForbidden},
		{"POST", "POST /stt HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusMethodNotAllowed},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", http.StatusBadRequest},
		{"no key", "GET /stt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", http.StatusBadRequest},
		{"version 8", "GET /stt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + testKey + "\r\nSec-WebSocket-Version: 8\r\n\r\n", http.StatusUpgradeRequired},
		{"HTTP/1.0", "GET /stt HTTP/1.0\r\nHost: x\r\n\r\n", http.StatusHTTPVersionNotSupported},
		// Exactly MaxRequestBytes without an end: refused once all of it is in, nothing unread.
		{"too large", "GET /stt HTTP/1.1\r\nX: " + string(bytes.Repeat([]byte("a"), DefaultMaxRequestBytes-22)), http.StatusRequestHeaderFieldsTooLarge},
	}
	srv := listenT(t, Config{AllowedOrigins: []string{"https://ok.example"}})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rawDial(t, srv)
			resp := r.request(c.req)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			r.expectEOF()
		})
	}
	st := srv.Stats()
	if st.Upgrades != 0 || st.Refused != uint64(len(cases)) || st.RefusedBy[RefusedRequest] != st.Refused {
		t.Fatalf("stats %+v, want 0 upgrades and %d refused", st, len(cases))
	}
	r := rawDial(t, srv)
	if resp := r.request(upgradeRequest("/stt?x=1", "Origin: https://ok.example\r\n")); resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("allowed origin: status %d", resp.StatusCode)
	}
}

// An upgrade that never finishes (slowloris) is dropped at its deadline, not before.
func TestUpgradeDeadline(t *testing.T) {
	const deadline = 300 * time.Millisecond
	srv := listenT(t, Config{UpgradeTimeout: deadline})
	r := rawDial(t, srv)
	start := time.Now()
	if _, err := r.nc.Write([]byte("GET /stt HTTP/1.1\r\nHost: slow\r\n")); err != nil {
		t.Fatal(err)
	}
	r.expectEOF()
	if el := time.Since(start); el < deadline {
		t.Fatalf("closed after %v, before the %v deadline", el, deadline)
	}
	if st := srv.Stats(); st.Refused != 1 || st.RefusedBy[RefusedDeadline] != 1 || st.Pending != 0 {
		t.Fatalf("stats %+v, want 1 refused for the deadline, none pending", st)
	}
}

// A connection that sends nothing after its upgrade is closed after IdleTimeout.
func TestIdleTimeout(t *testing.T) {
	srv := listenT(t, Config{IdleTimeout: 200 * time.Millisecond})
	r := rawDial(t, srv)
	r.upgrade("/stt")
	r.expectEOF()
	if st := srv.Stats(); st.ClosedIdle != 1 {
		t.Fatalf("stats %+v, want 1 closed idle", st)
	}
}

// Connections over MaxConns are closed at once; the ones below it keep working.
func TestMaxConns(t *testing.T) {
	srv := listenT(t, Config{MaxConns: 2})
	a, b := rawDial(t, srv), rawDial(t, srv)
	a.upgrade("/stt")
	b.upgrade("/stt")
	c := rawDial(t, srv)
	c.expectEOF()
	if st := srv.Stats(); st.RefusedBy[RefusedConnCap] != 1 || st.Refused != 1 {
		t.Fatalf("stats %+v, want 1 refused for the connection cap", st)
	}
	a.writeFrame(true, ws.OpPing, []byte("a"), true)
	if h, _, err := a.readFrame(); err != nil || h.OpCode != ws.OpPong {
		t.Fatalf("first connection: %+v %v", h, err)
	}
}

// roundTripOne sends p from cli to an echoing server and expects it back.
func roundTripOne(t *testing.T, cli *Conn, p []byte) {
	t.Helper()
	buf := append([]byte(nil), p...)
	if _, err := cli.WriteBatch(msgsOf(buf, cli.Peer())); err != nil {
		t.Fatal(err)
	}
	rb := make([]byte, len(p)+10)
	m := readOne(t, cli, rb)
	if !bytes.Equal(rb[:m.N], p) {
		t.Fatalf("echo %q, want %q", rb[:m.N], p)
	}
}

// Closing the Listener says goodbye: each peer gets a close frame (1001) before the TCP close.
func TestListenerCloseGoesAway(t *testing.T) {
	srv := listenT(t, Config{})
	r := rawDial(t, srv)
	r.upgrade("/stt")
	r.writeFrame(true, ws.OpPing, nil, true) // a pong proves the upgrade is complete on the server
	if h, _, err := r.readFrame(); err != nil || h.OpCode != ws.OpPong {
		t.Fatalf("pong: %+v %v", h, err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	r.expectClose(ws.StatusGoingAway)
}
