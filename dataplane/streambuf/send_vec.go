package streambuf

// ReserveVec is Reserve across chunks: it hands the producer exactly n bytes of buffer space, as
// one slice per chunk appended to iov[:0], to fill in place (readv straight from a file, say)
// and publish with one Commit. It returns nil, reserving nothing, when fewer than n bytes are
// free (Space). Chunks it installed beyond what Commit then publishes stay installed for the
// next write, as Reserve's do. A non-nil reservation must be followed by exactly one Commit
// before any other producer call. Producer side.
func (b *SendBuffer) ReserveVec(n int, iov [][]byte) [][]byte {
	b.noReservation()
	if n <= 0 || !b.g.enter(gApp) {
		return nil
	}
	e := b.end.Load()
	if uint64(n) > b.cap-(e-b.acked.Load()) {
		b.leave()
		return nil
	}
	t := b.table()
	iov = iov[:0]
	for off, end := e, e+uint64(n); off < end; {
		c := b.chunkAt(t, off)
		o := off % ChunkSize
		k := min(ChunkSize-o, end-off)
		iov = append(iov, c[o:o+k:o+k])
		off += k
	}
	b.resv = n
	return iov
}
