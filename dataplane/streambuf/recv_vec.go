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
