package wspath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/gobwas/ws"
)

// frameSink receives what a frameParser finds: whole binary messages (the view is valid only
// during the call), pings, and the peer's close frame.
type frameSink interface {
	message(p []byte)
	ping(p []byte)
	peerClose(body []byte)
}

// closeError is a refusal of the peer's frames: the close code sent to it, and why.
type closeError struct {
	code ws.StatusCode
	err  error // a sentinel: ErrProtocol, ErrTextFrame, ErrMessageTooBig
	why  string
}

func (e *closeError) Error() string {
	return fmt.Sprintf("%v (close %d): %s", e.err, e.code, e.why)
}

func (e *closeError) Unwrap() error { return e.err }

// Refusals are preallocated so that refusing a hostile frame allocates nothing.
var (
	errUnmasked     = &closeError{ws.StatusProtocolError, ErrProtocol, "unmasked client frame"}
	errMasked       = &closeError{ws.StatusProtocolError, ErrProtocol, "masked server frame"}
	errRsv          = &closeError{ws.StatusProtocolError, ErrProtocol, "reserved bits set without an extension"}
	errOpcode       = &closeError{ws.StatusProtocolError, ErrProtocol, "reserved opcode"}
	errControl      = &closeError{ws.StatusProtocolError, ErrProtocol, "fragmented or oversize control frame"}
	errContinuation = &closeError{ws.StatusProtocolError, ErrProtocol, "continuation without a message"}
	errInterleaved  = &closeError{ws.StatusProtocolError, ErrProtocol, "new message inside a fragmented one"}
	errLength       = &closeError{ws.StatusProtocolError, ErrProtocol, "length with the most significant bit set"}
	errCloseBody    = &closeError{ws.StatusProtocolError, ErrProtocol, "close frame with a 1-byte body"}
	errText         = &closeError{ws.StatusUnsupportedData, ErrTextFrame, "text message"}
	errTooBig       = &closeError{ws.StatusMessageTooBig, ErrMessageTooBig, "message over the limit"}
)

// errClosing stops parsing after the peer's close frame; the sink has already answered it.
var errClosing = errors.New("wspath: close frame received")

// sliceReader is the io.Reader ws.ReadHeaderBuffer reads a header from: a view of bytes already
// received, so reading never blocks. It lives in the frameParser so passing it allocates nothing.
type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// frameParser parses RFC 6455 frames from views of received bytes (gnet's Peek on a server, the
// read buffer of a dialed Conn) and enforces the path's rules: binary messages only, at most max
// bytes each, reassembled when fragmented, client frames masked and server frames not. It keeps
// no reference to the views it is given; only a fragmented message is copied, into frag.
type frameParser struct {
	max        int
	fromClient bool // frames come from a client: they must be masked
	src        sliceReader
	hdr        [ws.MaxHeaderSize]byte
	frag       []byte // the fragments of the message being reassembled
	fragging   bool
}

// headerLen returns the length of the header that starts b, or 0 if b is too short to say.
func headerLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	n := 2
	if b[1]&0x80 != 0 {
		n += 4
	}
	switch b[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	return n
}

// parse handles every complete frame at the start of b, calling sink, and returns how many bytes
// it consumed; the rest (an incomplete frame) is to be offered again with more bytes after it. It
// unmasks payloads in place. A frame that breaks the rules stops it with a *closeError, as soon as
// its header shows it: an oversize length is refused before any of its payload is waited for.
func (p *frameParser) parse(b []byte, sink frameSink) (int, error) {
	used := 0
	for {
		rest := b[used:]
		h, hl, err := p.header(rest)
		if hl == 0 {
			return used, nil
		}
		if err != nil {
			return used, err
		}
		if err := p.check(h); err != nil {
			return used, err
		}
		end := hl + int(h.Length) // h.Length <= p.max after check
		if len(rest) < end {
			return used, nil
		}
		payload := rest[hl:end]
		if h.Masked {
			ws.Cipher(payload, h.Mask, 0)
		}
		used += end
		if err := p.dispatch(h, payload, sink); err != nil {
			return used, err
		}
	}
}

// header decodes the frame header that starts b and returns it with its length hl, or hl 0
// when b is too short to hold it.
func (p *frameParser) header(b []byte) (h ws.Header, hl int, err error) {
	hl = headerLen(b)
	if hl == 0 || len(b) < hl {
		return h, 0, nil
	}
	p.src.b = b[:hl]
	if h, err = ws.ReadHeaderBuffer(&p.src, p.hdr[:]); err != nil {
		return h, hl, errLength // the only error a complete header can give
	}
	return h, hl, nil
}

// check applies the rules that a header alone decides.
func (p *frameParser) check(h ws.Header) error {
	switch {
	case h.Rsv != 0:
		return errRsv
	case h.Masked != p.fromClient:
		if p.fromClient {
			return errUnmasked
		}
		return errMasked
	case h.OpCode.IsReserved():
		return errOpcode
	case h.OpCode.IsControl():
		if !h.Fin || h.Length > ws.MaxControlFramePayloadSize {
			return errControl
		}
	case h.OpCode == ws.OpText:
		return errText
	case h.Length > int64(p.max):
		return errTooBig
	case h.OpCode == ws.OpContinuation && !p.fragging:
		return errContinuation
	case h.OpCode == ws.OpBinary && p.fragging:
		return errInterleaved
	case p.fragging && int64(len(p.frag))+h.Length > int64(p.max):
		return errTooBig
	}
	return nil
}

// dispatch acts on one whole, checked frame.
func (p *frameParser) dispatch(h ws.Header, payload []byte, sink frameSink) error {
	switch h.OpCode {
	case ws.OpPing:
		sink.ping(payload)
	case ws.OpPong:
	case ws.OpClose:
		if len(payload) == 1 {
			return errCloseBody
		}
		sink.peerClose(payload)
		return errClosing // nothing after a close frame counts
	case ws.OpBinary:
		if h.Fin {
			sink.message(payload)
			return nil
		}
		p.fragging = true
		p.frag = append(p.frag[:0], payload...)
	case ws.OpContinuation:
		p.frag = append(p.frag, payload...)
		if h.Fin {
			p.fragging = false
			sink.message(p.frag)
			p.frag = p.frag[:0]
		}
	}
	return nil
}

// closeCode returns the status code in a close frame's body (1005, no status, when it has none).
func closeCode(body []byte) ws.StatusCode {
	if len(body) < 2 {
		return ws.StatusNoStatusRcvd
	}
	return ws.StatusCode(binary.BigEndian.Uint16(body))
}
