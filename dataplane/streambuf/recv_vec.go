package streambuf

// ReadVec hands fn the next up-to-n readable bytes in place, as one slice per chunk appended to
// iov[:0], without copying them, and consumes the count fn returns (clamped to what it was
// given). The slices are valid only during fn: the consumer stays inside the buffer's guard, so
// a concurrent Release frees nothing until fn returns, and no chunk is given back before its
// bytes are consumed. It never waits: with nothing readable it returns 0 without calling fn.
// This is how a stream writes what it received straight to a file (writev) with no copy in
// between. Consumer side.
func (b *RecvBuffer) ReadVec(n int, iov [][]byte, fn func(iov [][]byte) (int, error)) (int, error) {
	if n <= 0 || !b.g.enter(gApp) {
		return 0, nil
	}
	r := b.readOff.Load()
	f := b.frontier.Load() // acquire: bytes below f and their chunks are visible
	avail := min(uint64(n), f-r)
	if avail == 0 {
		b.leaveApp()
		return 0, nil
	}
	t := b.tab.Load()
	iov = iov[:0]
	for off, end := r, r+avail; off < end; {
		c := t.slot(off / ChunkSize).Load()
		o := off % ChunkSize
		k := min(ChunkSize-o, end-off)
		iov = append(iov, c[o:o+k:o+k])
		off += k
	}
	done, err := fn(iov)
	consumed := uint64(min(max(done, 0), int(avail)))
	if consumed > 0 {
		nr := r + consumed
		// Empty the slots of finished chunks before publishing nr (slot safety, point 2).
		for k := r / ChunkSize; k < nr/ChunkSize; k++ {
			putChunk(t.slot(k).Swap(nil))
		}
		b.readOff.Store(nr)
	}
	b.leaveApp()
	return int(consumed), err
}

// BodyRun is what ReadBodiesVec did: Done bytes of message bodies taken by fn, Used bytes
// consumed (bodies and the length prefixes between them), Started messages whose prefix it
// consumed, the offset of the last such prefix (LastStart, when Started > 0), and Left, the
// bytes of the last message touched still to come (0: it ended exactly there).
type BodyRun struct {
	Done      int
	Used      int
	Started   int
	LastStart uint64
	Left      uint64
}

// ReadBodiesVec is ReadVec over a stream of length-prefixed messages with the prefixes left out:
// it hands fn, in one call, the readable rest of the current message (left bytes of its body
// come first) and then the bodies of the messages behind it, each varint prefix consumed but not
// shown, up to n body bytes and at most cap(iov) slices. It stops before a prefix that is not
// wholly readable or that announces more than maxLen (the caller's own prefix check then
// rejects it). Everything handed to fn is consumed, also when fn fails part way (the output has
// failed: what it did not take is dropped), so the message position stays exact either way.
// This is how a stream writes many messages to a file in one writev. Consumer side.
func (b *RecvBuffer) ReadBodiesVec(left uint64, n int, maxLen uint64, iov [][]byte, fn func(iov [][]byte) (int, error)) (BodyRun, error) {
	var run BodyRun
	if n <= 0 || !b.g.enter(gApp) {
		return run, nil
	}
	r := b.readOff.Load()
	f := b.frontier.Load() // acquire: bytes below f and their chunks are visible
	t := b.tab.Load()
	iov = iov[:0]
	pos, handed := r, uint64(0)
	k := min(left, f-pos, uint64(n), bodyRoom(iov))
	iov = appendSlices(t, iov, pos, k)
	pos, handed, left = pos+k, handed+k, left-k
	// Two free slices at least: room for a chunk's worth of body wherever it starts.
	for left == 0 && pos < f && handed < uint64(n) && len(iov)+2 <= cap(iov) {
		body, ok := prefixAt(t, pos, f, maxLen)
		if !ok {
			break
		}
		run.Started++
		run.LastStart = pos
		pos, left = body.start, body.size
		k := min(left, f-pos, uint64(n)-handed, bodyRoom(iov))
		iov = appendSlices(t, iov, pos, k)
		pos, handed, left = pos+k, handed+k, left-k
	}
	var err error
	if handed > 0 {
		var done int
		done, err = fn(iov)
		run.Done = min(max(done, 0), int(handed))
	}
	if pos > r {
		b.advance(t, r, pos)
	}
	b.leaveApp()
	run.Used = int(pos - r)
	run.Left = left
	return run, err
}

// msgBody is where a message's body starts in the stream and how long it is.
type msgBody struct{ start, size uint64 }

// prefixAt reads the varint length prefix at r (below f): ok is false when it is not wholly
// readable or its value is above maxLen. The body need not be readable.
func prefixAt(t *table, r, f, maxLen uint64) (msgBody, bool) {
	c, o := t.slot(r/ChunkSize).Load(), r%ChunkSize
	k := uint64(1) << (c[o] >> 6)
	if f-r < k {
		return msgBody{}, false
	}
	var p [8]byte
	pre := p[:k]
	copyOut(t, r, pre)
	v := uint64(pre[0] & 0x3f)
	for _, x := range pre[1:] {
		v = v<<8 | uint64(x)
	}
	if v > maxLen {
		return msgBody{}, false
	}
	return msgBody{start: r + k, size: v}, true
}

// bodyRoom is how many bytes the free slices of iov can show wherever they start: one slice
// per chunk touched, and an unaligned start touches one chunk more.
func bodyRoom(iov [][]byte) uint64 {
	free := cap(iov) - len(iov)
	if free < 2 {
		return 0
	}
	return uint64(free-1) * ChunkSize
}

// appendSlices appends [off, off+k) to iov as one slice per chunk.
func appendSlices(t *table, iov [][]byte, off, k uint64) [][]byte {
	for end := off + k; off < end; {
		c := t.slot(off / ChunkSize).Load()
		o := off % ChunkSize
		m := min(ChunkSize-o, end-off)
		iov = append(iov, c[o:o+m:o+m])
		off += m
	}
	return iov
}
