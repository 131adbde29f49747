package wspath

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/sttfast/sttfast/batchio"
)

// testKey is RFC 6455's example key; testAccept is its accept value.
const (
	testKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	testAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// listenT starts a Listener on loopback, closed at the end of the test.
func listenT(t testing.TB, cfg Config) *Conn {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = "/stt"
	}
	c, err := Listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialT dials srv's path, closed at the end of the test.
func dialT(t testing.TB, srv *Conn, cfg Config) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, "ws://"+srv.LocalAddr().String()+srv.cfg.Path, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// watchdog fails the test and closes the Conns if it is still running after d, so that a lost
// packet fails instead of hanging. It is a timeout, not synchronisation.
func watchdog(t testing.TB, d time.Duration, cs ...*Conn) {
	tm := time.AfterFunc(d, func() {
		t.Errorf("watchdog: still running after %v", d)
		for _, c := range cs {
			c.Close()
		}
	})
	t.Cleanup(func() { tm.Stop() })
}

// rawClient is a hand-driven WebSocket client for hostile and RFC tests.
type rawClient struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

// rawDial connects to srv without upgrading.
func rawDial(t testing.TB, srv *Conn) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", srv.LocalAddr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// upgradeRequest returns a valid upgrade request for path with extra header lines.
func upgradeRequest(path string, extra ...string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + testKey + "\r\nSec-WebSocket-Version: 13\r\n" +
		strings.Join(extra, "") + "\r\n"
}

// request sends req and returns the HTTP response.
func (r *rawClient) request(req string) *http.Response {
	r.t.Helper()
	if _, err := io.WriteString(r.nc, req); err != nil {
		r.t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		r.t.Fatalf("read response: %v", err)
	}
	return resp
}

// upgrade completes a valid upgrade to path.
func (r *rawClient) upgrade(path string) {
	r.t.Helper()
	resp := r.request(upgradeRequest(path))
	if resp.StatusCode != http.StatusSwitchingProtocols {
		r.t.Fatalf("upgrade: status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != testAccept {
		r.t.Fatalf("Sec-WebSocket-Accept %q, want %q", got, testAccept)
	}
}

// writeFrame sends one frame in one write (so that a server refusing its header does not close
// the connection with the payload still on its way), masked with a fixed key when masked is set.
func (r *rawClient) writeFrame(fin bool, op ws.OpCode, p []byte, masked bool) {
	r.t.Helper()
	r.write(frameBytes(fin, op, p, masked))
}

// frameBytes encodes one frame, masked with a fixed key when masked is set.
func frameBytes(fin bool, op ws.OpCode, p []byte, masked bool) []byte {
	var b bytesWriter
	h := ws.Header{Fin: fin, OpCode: op, Length: int64(len(p)), Masked: masked, Mask: [4]byte{1, 2, 3, 4}}
	_ = ws.WriteHeader(&b, h)
	start := len(b)
	b = append(b, p...)
	if masked {
		ws.Cipher(b[start:], h.Mask, 0)
	}
	return b
}

// headerBytes encodes one frame header.
func headerBytes(h ws.Header) []byte {
	var b bytesWriter
	_ = ws.WriteHeader(&b, h)
	return b
}

func (r *rawClient) write(b []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *rawClient) writeHeader(h ws.Header) {
	r.t.Helper()
	r.write(headerBytes(h))
}

type bytesWriter []byte

func (b *bytesWriter) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

// readFrame reads one frame from the server.
func (r *rawClient) readFrame() (ws.Header, []byte, error) {
	h, err := ws.ReadHeader(r.br)
	if err != nil {
		return h, nil, err
	}
	p := make([]byte, h.Length)
	_, err = io.ReadFull(r.br, p)
	return h, p, err
}

// expectClose reads frames until a close frame, checks its code, then expects the server to
// close the TCP connection.
func (r *rawClient) expectClose(code ws.StatusCode) {
	r.t.Helper()
	for {
		h, p, err := r.readFrame()
		if err != nil {
			r.t.Fatalf("waiting for close %d: %v", code, err)
		}
		if h.Masked {
			r.t.Fatalf("server frame is masked")
		}
		if h.OpCode != ws.OpClose {
			continue
		}
		if got := closeCode(p); got != code {
			r.t.Fatalf("close code %d, want %d", got, code)
		}
		break
	}
	r.expectEOF()
}

// expectEOF expects the server to close the connection.
func (r *rawClient) expectEOF() {
	r.t.Helper()
	var buf [512]byte
	for {
		_, err := r.br.Read(buf[:])
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			r.t.Fatalf("connection still open: %v", err)
		}
		return // EOF or reset: closed
	}
}

// localAddr is the raw client's address as the server sees it.
func (r *rawClient) localAddr() string { return r.nc.LocalAddr().String() }

// readOne reads one packet from c.
func readOne(t testing.TB, c *Conn, buf []byte) batchio.Message {
	t.Helper()
	msgs := []batchio.Message{{Buf: buf}}
	n, err := c.ReadBatch(msgs)
	if err != nil || n != 1 {
		t.Fatalf("ReadBatch: %d, %v", n, err)
	}
	return msgs[0]
}

// be64 encodes a 64-bit length for hand-made headers.
func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// msgsOf returns one Message carrying p to addr.
func msgsOf(p []byte, addr netip.AddrPort) []batchio.Message {
	return []batchio.Message{{Buf: p, N: len(p), Addr: addr}}
}
