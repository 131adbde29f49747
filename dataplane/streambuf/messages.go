package streambuf

import "github.com/sttfast/sttfast/frame"

// Whole-message calls. A stream's messages are each a varint length (PROTOCOL.md §5) followed by
// that many bytes. Framing otherwise lives above this package, but a 64-byte message costs about
// as much in fixed per-call work (a guard round trip, position loads and stores) as in copying,
// so these calls read or write many whole messages under one guard round and one publish of the
// read offset or end. Offsets, slot safety and the concurrency contract are those of Read and
// Write2: these are consumer (RecvBuffer) and producer (SendBuffer) calls.

// ReadMessage appends the body of the next message to dst, consuming its prefix and body, if
// all of it lies below min(Frontier, limit) and its length is at most maxLen; otherwise it
// consumes nothing and reports false (the caller falls back to the byte calls, which wait and
// report errors). limit lets the caller bound what it reads by a frontier it loaded earlier.
// It allocates only when dst lacks capacity. Consumer side.
func (b *RecvBuffer) ReadMessage(dst []byte, maxLen, limit uint64) ([]byte, int, bool) {
	if !b.g.enter(gApp) {
		return dst, 0, false
	}
	dst, n, ok := b.readMessage(dst, maxLen, limit)
	b.leaveApp()
	return dst, n, ok
}

// ReadMessageAlone is ReadMessage for a caller inside through TryEnterAlone. Consumer side.
func (b *RecvBuffer) ReadMessageAlone(dst []byte, maxLen, limit uint64) ([]byte, int, bool) {
	return b.readMessage(dst, maxLen, limit)
}

// readMessage is ReadMessage inside the buffer.
func (b *RecvBuffer) readMessage(dst []byte, maxLen, limit uint64) ([]byte, int, bool) {
	r := b.readOff.Load()
	f := min(b.frontier.Load(), limit) // acquire: bytes below the frontier are visible
	t := b.tab.Load()
	body, end, ok := nextMessage(t, r, f, maxLen)
	if !ok {
		return dst, 0, false
	}
	dst = appendOut(t, dst, body, end)
	b.advance(t, r, end)
	return dst, int(end - r), true
}

// ReadMessages sets dst[i] to dst[i][:0] holding the body of message i, for as many whole
// messages as lie below min(Frontier, limit) with lengths at most maxLen, up to len(dst). It
// returns how many messages it read (n) and how many stream bytes, prefixes included, it
// consumed (used). Entries of dst from n on are untouched. Buffers grow only when their
// capacity is short. Consumer side.
func (b *RecvBuffer) ReadMessages(dst [][]byte, maxLen, limit uint64) (n, used int) {
	if len(dst) == 0 || !b.g.enter(gApp) {
		return 0, 0
	}
	r0 := b.readOff.Load()
	f := min(b.frontier.Load(), limit)
	t := b.tab.Load()
	r := r0
	for n < len(dst) {
		body, end, ok := nextMessage(t, r, f, maxLen)
		if !ok {
			break
		}
		dst[n] = appendOut(t, dst[n][:0], body, end)
		r = end
		n++
	}
	if r > r0 {
		b.advance(t, r0, r)
	}
	b.leaveApp()
	return n, int(r - r0)
}

// nextMessage finds the message whose prefix starts at r: its body is [body, end). ok is false
// when the prefix or body reaches past f, or the length is above maxLen.
func nextMessage(t *table, r, f, maxLen uint64) (body, end uint64, ok bool) {
	if r >= f {
		return 0, 0, false
	}
	c, o := t.slot(r/ChunkSize).Load(), r%ChunkSize
	k := uint64(1) << (c[o] >> 6)
	if f-r < k {
		return 0, 0, false
	}
	var p [8]byte
	pre := p[:k]
	if o+k <= ChunkSize {
		pre = c[o : o+k] // read in place: the prefix lies below f, in one chunk
	} else {
		copyOut(t, r, pre)
	}
	v := uint64(pre[0] & 0x3f)
	for _, c := range pre[1:] {
		v = v<<8 | uint64(c)
	}
	if v > maxLen || f-r-k < v {
		return 0, 0, false
	}
	return r + k, r + k + v, true
}

// appendOut appends the bytes at [off, end) to dst.
func appendOut(t *table, dst []byte, off, end uint64) []byte {
	n := int(end - off)
	if cap(dst)-len(dst) < n {
		nb := make([]byte, len(dst), len(dst)+n)
		copy(nb, dst)
		dst = nb
	}
	dst = dst[:len(dst)+n]
	copyOut(t, off, dst[len(dst)-n:])
	return dst
}

// advance consumes [r, nr): the slots of finished chunks are emptied before nr is published
// (slot safety, point 2).
func (b *RecvBuffer) advance(t *table, r, nr uint64) {
	for k := r / ChunkSize; k < nr/ChunkSize; k++ {
		putChunk(t.slot(k).Swap(nil))
	}
	b.readOff.Store(nr)
}

// WriteMessages writes msgs[0], msgs[1], ... each behind its varint length, as many whole
// messages as fit in room bytes and in Space, and publishes them with one store, so the
// transport never sees part of a message of the batch. It returns how many messages and bytes
// (prefixes included) it took. Producer side.
func (b *SendBuffer) WriteMessages(msgs [][]byte, room int) (n, used int) {
	if len(msgs) == 0 || room <= 0 {
		return 0, 0
	}
	b.noReservation()
	if !b.g.enter(gApp) {
		return 0, 0
	}
	e := b.end.Load()
	left := min(uint64(room), b.cap-(e-b.acked.Load()))
	off := e
	var t *table
	var p [8]byte
	for _, m := range msgs {
		k := frame.PutVarint(p[:], uint64(len(m)))
		need := uint64(k + len(m))
		if need > left {
			break
		}
		if t == nil {
			t = b.table()
		}
		off = b.copyIn(t, b.copyIn(t, off, p[:k]), m)
		left -= need
		n++
	}
	if off > e {
		b.end.Store(off) // publish: the transport may read [.., off) from here on
	}
	b.leave()
	return n, int(off - e)
}
