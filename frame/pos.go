package frame

// Frame parsers thread a parse position through their field reads: an index into the frame's
// bytes, or, once a read has failed, a negative code naming the first failure. Every helper
// passes a negative position through unchanged, so a parser reads all its fields in a row
// and checks once at the end, and its whole state stays in registers; a reader struct behind
// a pointer measured twice as slow on DATA.
const (
	failTruncated = -1 - iota
	failBadVarint
	failOversize
	failBadAck
	failBadFrame
)

// failErrors maps -code to its sentinel; entry 0 is unused so that errAt is a plain index.
var failErrors = [...]error{nil, ErrTruncated, ErrBadVarint, ErrOversize, ErrBadAck, ErrBadFrame}

// errAt returns the sentinel error of the failed position i < 0.
func errAt(i int) error { return failErrors[-i] }

// fail records failure code at position i unless an earlier failure is already recorded.
func fail(i, code int) int {
	if i < 0 {
		return i
	}
	return code
}

// lengthAt reads a varint length at i and checks it against limit before it is used.
func lengthAt(b []byte, i, limit int) (int, int) {
	v, i := varintAt(b, i)
	if v > uint64(limit) {
		i = fail(i, failOversize)
	}
	return int(v), i
}

// bytesAt returns the n bytes at i as a view whose capacity ends with it, so that appending to
// the view cannot overwrite the rest of the packet.
func bytesAt(b []byte, i, n int) ([]byte, int) {
	if i < 0 {
		return nil, i
	}
	if len(b)-i < n {
		return nil, failTruncated
	}
	end := i + n
	return b[i:end:end], end
}
