package wspath

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/gobwas/ws"
)

// maxFrameHeader is the largest frame header: 2 bytes, an 8-byte length and a 4-byte mask key.
const maxFrameHeader = ws.MaxHeaderSize

// MaxPongBacklog is how many bytes a connection may hold waiting to be sent when a pong is
// queued (4 KiB): a pong is dropped unless what waits, the pong included, fits in it. Pongs answer
// whoever pings, authenticated or not, so they must not have the data's OutboundBudget: a peer
// that floods pings and never reads would pin a whole budget of pongs (512 KiB, times MaxConns
// connections). RFC 6455 §5.5.3 lets an endpoint answer only the latest of several pings; a
// connection with this much unsent has not read the previous pongs yet.
const MaxPongBacklog = 4 << 10

// outbox holds the frames written to one connection until they are handed to the socket (by the
// event loop on a server, by the writer goroutine on a dialed Conn). It is double-buffered: the
// flusher takes pend and leaves spare in its place, so steady-state writing reuses two buffers.
// Its budget bounds what one slow peer can make us hold: pend plus what the socket layer below
// still holds (held, reported by the flusher after each flush).
type outbox struct {
	mu     sync.Mutex
	pend   []byte
	spare  []byte
	queued bool // a flush has been requested and not yet taken
	closed bool // nothing more is accepted
	mask   bool // client frames: masked with a fresh key each
	rng    *rand.ChaCha8
	hdr    [maxFrameHeader]byte
	budget int
	held   atomic.Int64
	drops  *atomic.Uint64 // the Conn's DropBudget counter
}

func newOutbox(budget int, mask bool, drops *atomic.Uint64) *outbox {
	o := &outbox{budget: budget, mask: mask, drops: drops}
	if mask {
		var seed [32]byte
		_, _ = crand.Read(seed[:]) // never fails on Linux; a zero seed would still mask
		o.rng = rand.NewChaCha8(seed)
	}
	return o
}

// Write appends b to pend; it is the io.Writer ws.WriteHeaderBuffer writes headers into, and is
// only called with mu held.
func (o *outbox) Write(b []byte) (int, error) {
	o.pend = append(o.pend, b...)
	return len(b), nil
}

// frame appends one frame (op, fin, payload p) if it fits in the budget, or counts a drop. force
// skips the budget (close frames, which are small and end the connection). It reports whether
// the frame was queued and whether the caller must request a flush (the first frame since the
// last one).
func (o *outbox) frame(op ws.OpCode, p []byte, force bool) (queued, kick bool) {
	limit := o.budget
	if force {
		limit = -1
	}
	return o.frameWithin(op, p, limit)
}

// pong queues a pong carrying p if the connection holds little enough (MaxPongBacklog, or the
// budget if smaller); see frame for what it reports.
func (o *outbox) pong(p []byte) (queued, kick bool) {
	return o.frameWithin(ws.OpPong, p, min(o.budget, MaxPongBacklog))
}

// frameWithin is frame with the bytes waiting (pend and held, the frame included) limited to
// limit; a negative limit is no limit.
func (o *outbox) frameWithin(op ws.OpCode, p []byte, limit int) (queued, kick bool) {
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(p)), Masked: o.mask}
	size := ws.HeaderSize(h) + len(p)
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return false, false
	}
	if limit >= 0 && len(o.pend)+int(o.held.Load())+size > limit {
		// Dropped. Still ask for a flush if none is pending: held is refreshed only by a flush,
		// and without one a connection whose socket has drained would stay "full" for ever.
		kick = !o.queued
		o.queued = true
		o.mu.Unlock()
		o.drops.Add(1)
		return false, kick
	}
	if o.mask {
		binary.LittleEndian.PutUint32(h.Mask[:], uint32(o.rng.Uint64()))
	}
	_ = ws.WriteHeaderBuffer(o, h, o.hdr[:]) // o.Write never fails; the header is valid
	start := len(o.pend)
	o.pend = append(o.pend, p...)
	if o.mask {
		ws.Cipher(o.pend[start:], h.Mask, 0)
	}
	kick = !o.queued
	o.queued = true
	o.mu.Unlock()
	return true, kick
}

// take hands the pending bytes to the flusher (nil when there are none), leaving the spare buffer
// in their place; the flusher gives the buffer back with giveBack once the bytes are written (and
// calls giveBack(nil, held) after a nil take, to refresh held).
func (o *outbox) take() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.queued = false
	if len(o.pend) == 0 {
		return nil
	}
	b := o.pend
	o.pend, o.spare = o.spare[:0], nil
	// Until giveBack reports what the layer below still holds, the taken bytes are in neither
	// pend nor held: count them as held, or room would offer a writer space that the flush is
	// about to fill, and the writer's next frame would be dropped (held only ever overstates
	// between flushes, never understates, so room never promises what frame then refuses).
	o.held.Add(int64(len(b)))
	return b
}

// giveBack returns a buffer from take for reuse and records how many bytes the layer below still
// holds (gnet's outbound buffer), which counts against the budget.
func (o *outbox) giveBack(b []byte, held int) {
	o.held.Store(int64(held))
	if b == nil {
		return
	}
	o.mu.Lock()
	if o.spare == nil && !o.closed {
		o.spare = b[:0]
	}
	o.mu.Unlock()
}

// room returns how many bytes of frames the budget takes now, and whether the caller must
// request a flush: when less than largest fits, held may be stale (only a flush refreshes it, and
// no write will come to cause one while the writer waits for room), so a flush is asked for, as a
// dropped frame does, unless one is pending already.
func (o *outbox) room(largest int) (int, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, false
	}
	r := o.budget - len(o.pend) - int(o.held.Load())
	kick := false
	if r < largest && !o.queued {
		o.queued = true
		kick = true
	}
	return max(r, 0), kick
}

// shut stops accepting frames and frees the buffers.
func (o *outbox) shut() {
	o.mu.Lock()
	o.closed = true
	o.pend, o.spare = nil, nil
	o.mu.Unlock()
}

// closeFrame queues a close frame with code; 1005 (no status) is sent as an empty body, as RFC
// 6455 §7.1.5 forbids putting it on the wire.
func (o *outbox) closeFrame(code ws.StatusCode) {
	var body [2]byte
	n := 0
	if code != ws.StatusNoStatusRcvd {
		ws.PutCloseFrameBody(body[:], code, "")
		n = 2
	}
	o.frame(ws.OpClose, body[:n], true)
}
