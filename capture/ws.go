package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Bounds of TCP reassembly and WebSocket parsing: a capture file is untrusted input, so a
// stream that would need more is abandoned (and counted) instead of growing without limit.
const (
	maxHTTPHeader   = 16 << 10 // bytes before the end of an HTTP upgrade header
	maxWSMessage    = 1 << 20  // one WebSocket message (an STT packet is at most 64 KiB)
	maxOutOfOrder   = 256      // TCP segments held while waiting for a gap to fill
	maxPendingBytes = 8 << 20  // bytes of a stream not yet parsed
)

type flowKey struct{ src, dst netip.AddrPort }

// tcpStream is one direction of a TCP connection: the bytes in order, parsed as an HTTP
// upgrade followed by WebSocket frames.
type tcpStream struct {
	started  bool
	next     uint32 // sequence number of the next byte expected
	ooo      map[uint32][]byte
	buf      []byte // received in order, not yet parsed
	upgraded bool   // the HTTP header is behind us
	dead     bool   // not WebSocket, or beyond a bound: ignored from now on
	msg      []byte // binary message being reassembled from fragments
	inMsg    bool
}

// WSReassembler turns TCP segments into the binary WebSocket messages they carry, one per STT
// packet, per direction. Only connections whose capture shows the HTTP upgrade are followed
// (the first bytes of each direction must be an HTTP request or response).
type WSReassembler struct {
	flows map[flowKey]*tcpStream
	// Abandoned counts directions given up: not WebSocket, a gap never filled, a bound hit.
	Abandoned int
}

// NewWSReassembler returns an empty reassembler.
func NewWSReassembler() *WSReassembler {
	return &WSReassembler{flows: make(map[flowKey]*tcpStream)}
}

// Add feeds one TCP segment and calls emit for each complete binary message it completes (a
// view valid during the call).
func (r *WSReassembler) Add(seg *Segment, emit func(msg []byte)) {
	k := flowKey{seg.Src, seg.Dst}
	st := r.flows[k]
	if st == nil {
		st = &tcpStream{}
		r.flows[k] = st
	}
	if st.dead {
		return
	}
	if seg.SYN {
		st.started, st.next = true, seg.Seq+1
		st.buf, st.upgraded, st.inMsg, st.msg = st.buf[:0], false, false, st.msg[:0]
		clear(st.ooo)
		return
	}
	if !st.started {
		// A capture that began mid-connection: the HTTP upgrade is missing and so is the
		// framing's start; the connection cannot be followed.
		r.abandon(st)
		return
	}
	if len(seg.Payload) == 0 {
		return
	}
	d := int32(seg.Seq - st.next)
	switch {
	case d > 0:
		if st.ooo == nil {
			st.ooo = make(map[uint32][]byte)
		}
		if len(st.ooo) >= maxOutOfOrder {
			r.abandon(st)
			return
		}
		st.ooo[seg.Seq] = bytes.Clone(seg.Payload)
		return
	case d < 0:
		if int(-d) >= len(seg.Payload) {
			return // a retransmission of bytes we have
		}
		r.append(st, seg.Payload[-d:])
	default:
		r.append(st, seg.Payload)
	}
	for len(st.ooo) > 0 {
		progressed := false
		for seq, p := range st.ooo {
			d := int32(seq - st.next)
			if d > 0 {
				continue
			}
			delete(st.ooo, seq)
			if int(-d) < len(p) {
				r.append(st, p[-d:])
			}
			progressed = true
		}
		if !progressed {
			break
		}
	}
	if st.dead {
		return
	}
	if err := r.parse(st, emit); err != nil {
		r.abandon(st)
	}
}

func (r *WSReassembler) append(st *tcpStream, p []byte) {
	st.next += uint32(len(p))
	if len(st.buf)+len(p) > maxPendingBytes {
		r.abandon(st)
		return
	}
	st.buf = append(st.buf, p...)
}

func (r *WSReassembler) abandon(st *tcpStream) {
	if !st.dead {
		st.dead = true
		r.Abandoned++
	}
	st.buf, st.msg, st.ooo = nil, nil, nil
}

// parse consumes the HTTP header, then every complete WebSocket frame of st.buf.
func (r *WSReassembler) parse(st *tcpStream, emit func([]byte)) error {
	b := st.buf
	if !st.upgraded {
		if len(b) >= 5 && !bytes.HasPrefix(b, []byte("GET ")) && !bytes.HasPrefix(b, []byte("HTTP/")) {
			return fmt.Errorf("not an HTTP upgrade: %w", ErrFormat)
		}
		end := bytes.Index(b, []byte("\r\n\r\n"))
		if end < 0 {
			if len(b) > maxHTTPHeader {
				return fmt.Errorf("HTTP header too long: %w", ErrFormat)
			}
			return nil
		}
		b = b[end+4:]
		st.upgraded = true
	}
	for {
		n, err := r.frame(st, b, emit)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		b = b[n:]
	}
	st.buf = append(st.buf[:0], b...)
	return nil
}

// frame parses one WebSocket frame (RFC 6455 §5.2) at the start of b; it returns 0 when b does
// not hold a whole frame yet.
func (r *WSReassembler) frame(st *tcpStream, b []byte, emit func([]byte)) (int, error) {
	p, err := ParseWSFrame(b)
	if err != nil || p.Len == 0 {
		return p.Len, err
	}
	switch p.Opcode {
	case 0x0, 0x2: // continuation, binary
		if p.Opcode == 0x2 {
			st.msg, st.inMsg = st.msg[:0], true
		} else if !st.inMsg {
			return 0, fmt.Errorf("continuation without a message: %w", ErrFormat)
		}
		if len(st.msg)+len(p.Payload) > maxWSMessage {
			return 0, fmt.Errorf("message above %d bytes: %w", maxWSMessage, ErrFormat)
		}
		st.msg = append(st.msg, p.Payload...)
		if p.Fin {
			st.inMsg = false
			emit(st.msg)
		}
	case 0x1: // text: not STT
		st.inMsg = false
	}
	return p.Len, nil
}

// WSFrame is one parsed WebSocket frame; Payload is unmasked in place.
type WSFrame struct {
	Fin     bool
	Opcode  byte
	Payload []byte
	Len     int // bytes of b the frame takes; 0: b holds no whole frame yet
}

// ParseWSFrame parses the WebSocket frame at the start of b (RFC 6455 §5.2), unmasking its
// payload in place. A frame not yet whole gives Len 0 and no error; one longer than
// maxWSMessage, or with a length in a non-minimal or over-63-bit form, is ErrFormat.
func ParseWSFrame(b []byte) (WSFrame, error) {
	var f WSFrame
	if len(b) < 2 {
		return f, nil
	}
	f.Fin, f.Opcode = b[0]&0x80 != 0, b[0]&0x0f
	masked := b[1]&0x80 != 0
	n, off := uint64(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return f, nil
		}
		n, off = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return f, nil
		}
		n, off = binary.BigEndian.Uint64(b[2:]), 10
	}
	if n > maxWSMessage {
		return f, fmt.Errorf("websocket frame of %d bytes: %w", n, ErrFormat)
	}
	var key []byte
	if masked {
		if len(b) < off+4 {
			return f, nil
		}
		key, off = b[off:off+4], off+4
	}
	if uint64(len(b)-off) < n {
		return f, nil
	}
	f.Payload = b[off : off+int(n)]
	if masked {
		for i := range f.Payload {
			f.Payload[i] ^= key[i&3]
		}
	}
	f.Len = off + int(n)
	return f, nil
}
