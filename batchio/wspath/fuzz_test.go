package wspath

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gobwas/ws"
)

// The upgrade parser never panics, never claims more bytes than it was given, and accepts only
// requests that carry a 24-character key and end with an empty line; a request it accepts is
// still accepted, with the same length, when more bytes follow it (pipelined frames).
func FuzzUpgradeRequest(f *testing.F) {
	f.Add([]byte(upgradeRequest("/stt")))
	f.Add([]byte(upgradeRequest("/stt?q=1", "Origin: https://ok.example\r\n")))
	f.Add([]byte(upgradeRequest("/stt", "Origin: https://evil.example\r\n")))
	f.Add([]byte(upgradeRequest("/other")))
	f.Add([]byte("GET /stt HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("GET /stt HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket, h2c\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: " + testKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\n\r\n"))
	f.Add([]byte("GET /stt HTTP/1.1\r\n folded: x\r\n\r\n"))
	f.Add([]byte("\x16\x03\x01\x00"))
	f.Add([]byte("GET"))
	f.Fuzz(func(t *testing.T, b []byte) {
		origins := []string{"https://ok.example"}
		res := parseUpgrade(b, "/stt", origins, 1024)
		if res.n < 0 || res.n > len(b) {
			t.Fatalf("n = %d of %d bytes", res.n, len(b))
		}
		if res.status == 0 && res.n > 0 {
			if len(res.key) != 24 || !bytes.HasSuffix(b[:res.n], []byte("\r\n\r\n")) {
				t.Fatalf("accepted without a key or an end: %+v", res)
			}
			more := append(append([]byte(nil), b...), 0x82, 0x80)
			if again := parseUpgrade(more, "/stt", origins, 1024); again.status != 0 || again.n != res.n {
				t.Fatalf("trailing bytes changed the verdict: %+v, then %+v", res, again)
			}
		}
		if res.status == 0 && res.n == 0 && len(b) >= 1024 {
			t.Fatalf("waiting for more after %d bytes, over the limit", len(b))
		}
	})
}

// The frame parser never panics, never consumes more than it was given, and finds the same
// messages, pings and close whether the bytes arrive at once or in two reads split anywhere (as
// gnet and the dialer deliver them).
func FuzzFrameParser(f *testing.F) {
	seed := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	f.Add(seed(frameBytes(true, ws.OpBinary, []byte("hello"), true)), true, uint16(3))
	f.Add(seed(frameBytes(false, ws.OpBinary, []byte("ab"), true), frameBytes(true, ws.OpPing, []byte("p"), true),
		frameBytes(true, ws.OpContinuation, []byte("cd"), true)), true, uint16(9))
	f.Add(seed(frameBytes(true, ws.OpBinary, make([]byte, 300), false)), false, uint16(2))
	f.Add(seed(frameBytes(true, ws.OpBinary, make([]byte, 70000), true)), true, uint16(5))
	f.Add(seed(frameBytes(true, ws.OpClose, ws.NewCloseFrameBody(1000, "bye"), true), frameBytes(true, ws.OpBinary, []byte("x"), true)), true, uint16(1))
	f.Add(seed(frameBytes(true, ws.OpText, []byte("t"), true)), true, uint16(0))
	f.Add(append([]byte{0x82, 0xff}, be64(1<<63)...), true, uint16(4))
	f.Add(seed(frameBytes(true, ws.OpBinary, []byte("x"), false)), true, uint16(1))
	f.Fuzz(func(t *testing.T, b []byte, fromClient bool, split uint16) {
		whole := runParser(b, fromClient, -1)
		parts := runParser(b, fromClient, int(split)%(len(b)+1))
		if whole.used > len(b) {
			t.Fatalf("consumed %d of %d bytes", whole.used, len(b))
		}
		if whole.log.String() != parts.log.String() || whole.used != parts.used || !errors.Is(parts.err, whole.err) {
			t.Fatalf("whole: %d %v %q\nsplit at %d: %d %v %q", whole.used, whole.err, whole.log.String(),
				split, parts.used, parts.err, parts.log.String())
		}
	})
}

// A server connection's parsing through gnet's buffers (parseHeld: the frame that straddles two
// reads peeked alone, then the rest of the read in place) finds what the parser finds in the
// whole stream at once, however the bytes are cut into three reads, and leaves unconsumed exactly
// what the parser did not consume.
func FuzzParseHeld(f *testing.F) {
	seed := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	f.Add(seed(frameBytes(true, ws.OpBinary, []byte("hello"), true), frameBytes(true, ws.OpBinary, []byte("world"), true)), uint16(3), uint16(14))
	f.Add(seed(frameBytes(false, ws.OpBinary, []byte("ab"), true), frameBytes(true, ws.OpPing, []byte("p"), true),
		frameBytes(true, ws.OpContinuation, []byte("cd"), true)), uint16(9), uint16(12))
	f.Add(seed(frameBytes(true, ws.OpBinary, make([]byte, 300), true), frameBytes(true, ws.OpBinary, make([]byte, 200), true)), uint16(150), uint16(400))
	f.Add(seed(frameBytes(true, ws.OpBinary, make([]byte, 70000), true)), uint16(5), uint16(7))
	f.Add(seed(frameBytes(true, ws.OpClose, ws.NewCloseFrameBody(1000, "bye"), true), frameBytes(true, ws.OpBinary, []byte("x"), true)), uint16(1), uint16(2))
	f.Add(append([]byte{0x82, 0xff}, be64(1<<63)...), uint16(4), uint16(9))
	f.Add(seed(frameBytes(true, ws.OpBinary, []byte("x"), false)), uint16(1), uint16(1))
	f.Fuzz(func(t *testing.T, b []byte, cut1, cut2 uint16) {
		whole := runParser(b, true, -1)
		c1 := int(cut1) % (len(b) + 1)
		c2 := c1 + int(cut2)%(len(b)-c1+1)
		r := &parseRun{}
		p := &frameParser{max: 1024, fromClient: true}
		in := &readsConn{}
		stream := bytes.Clone(b)
		for _, read := range [][]byte{stream[:c1], stream[c1:c2], stream[c2:]} {
			in.read(read)
			err := parseHeld(in, p, r)
			in.endTraffic()
			if err != nil {
				if !errors.Is(err, errClosing) {
					r.err = err
				}
				in.inbound = nil // gnet closes the connection: what it held is not consumed, nor left
				r.used = -1
				break
			}
		}
		if r.used == 0 {
			r.used = len(b) - len(in.inbound)
		}
		if r.log.String() != whole.log.String() || !errors.Is(r.err, whole.err) ||
			(r.used >= 0 && whole.err == nil && r.used != whole.used) {
			t.Fatalf("whole: %d %v %q\nreads cut at %d, %d: %d %v %q", whole.used, whole.err, whole.log.String(),
				c1, c2, r.used, r.err, r.log.String())
		}
	})
}

// parseRun is what a parser found in a byte stream.
type parseRun struct {
	used int
	err  error
	log  bytes.Buffer
}

func (r *parseRun) message(p []byte) { r.log.WriteString("M"); r.log.Write(p) }
func (r *parseRun) ping(p []byte)    { r.log.WriteString("P"); r.log.Write(p) }
func (r *parseRun) peerClose(p []byte) {
	r.log.WriteString("C")
	r.log.Write(p)
}

// runParser feeds a copy of b to a fresh parser (limit 1 KiB), at once or in two reads split at
// split, keeping unconsumed bytes for the next read as the server and dialer do.
func runParser(b []byte, fromClient bool, split int) *parseRun {
	r := &parseRun{}
	p := &frameParser{max: 1024, fromClient: fromClient}
	in := append([]byte(nil), b...)
	var chunks [][]byte
	if split < 0 {
		chunks = [][]byte{in}
	} else {
		chunks = [][]byte{in[:split], in[split:]}
	}
	var pending []byte
	for _, c := range chunks {
		pending = append(pending, c...)
		n, err := p.parse(pending, r)
		r.used += n
		pending = pending[n:]
		if err != nil {
			r.err = err
			if errors.Is(err, errClosing) {
				r.err = nil
			}
			return r
		}
	}
	return r
}
