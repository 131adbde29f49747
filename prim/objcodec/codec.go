package objcodec

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/sttfast/sttfast/stc"
)

// The first byte of an encoding says what follows.
const (
	kindObject   = 0xB1
	kindSegments = 0xB2
)

// DefaultMaxObjectSize caps an object when the decoder is given no cap (64 MiB, the data
// plane's default largest message).
const DefaultMaxObjectSize = 64 << 20

// DefaultMaxSegmentSize caps a segment when the decoder is given no cap (1 MiB).
const DefaultMaxSegmentSize = 1 << 20

// writeChunk is the largest single Write the encoder makes: on an sttfast Stream each Write is
// one message, and a large object is better sent as many moderate ones than as one that must
// be buffered whole.
const writeChunk = 16 << 10

// Errors of the package, for errors.Is.
var (
	// ErrBadKind: the encoding does not start with the expected kind byte.
	ErrBadKind = errors.New("objcodec: not an object or segment stream of this kind")
	// ErrTooLarge: an object or segment is larger than the decoder's cap (or 2^32-1 for a segment).
	ErrTooLarge = errors.New("objcodec: larger than the cap")
	// ErrTruncated: the stream ended inside an object or before a segment stream's end.
	ErrTruncated = errors.New("objcodec: stream ended early")
	// ErrDigestMismatch: an object's content does not hash to the digest sent after it.
	ErrDigestMismatch = errors.New("objcodec: content does not match its digest")
	// ErrEmptySegment: segments are never empty (the empty one ends the stream); use EndSegments.
	ErrEmptySegment = errors.New("objcodec: empty segment")
)

// Encoder is the BinaryStreamEncoder: it writes objects and segment streams to w.
type Encoder struct {
	w      io.Writer
	header [9]byte
}

// NewEncoder returns an encoder writing to w.
func NewEncoder(w io.Writer) *Encoder { return &Encoder{w: w} }

// WriteObject writes content as one object and returns its digest (its key in package store).
func (e *Encoder) WriteObject(content []byte) (stc.Digest, error) {
	e.header[0] = kindObject
	binary.BigEndian.PutUint64(e.header[1:9], uint64(len(content)))
	if _, err := e.w.Write(e.header[:9]); err != nil {
		return stc.Digest{}, err
	}
	if err := e.writeChunked(content); err != nil {
		return stc.Digest{}, err
	}
	digest := stc.Hash(content)
	_, err := e.w.Write(digest[:])
	return digest, err
}

func (e *Encoder) writeChunked(b []byte) error {
	for len(b) > 0 {
		n := min(len(b), writeChunk)
		if _, err := e.w.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// BeginSegments starts a segment stream.
func (e *Encoder) BeginSegments() error {
	e.header[0] = kindSegments
	_, err := e.w.Write(e.header[:1])
	return err
}

// WriteSegment writes one segment of a stream BeginSegments started.
func (e *Encoder) WriteSegment(segment []byte) error {
	if len(segment) == 0 {
		return ErrEmptySegment
	}
	if uint64(len(segment)) > 1<<32-1 {
		return ErrTooLarge
	}
	binary.BigEndian.PutUint32(e.header[:4], uint32(len(segment)))
	if _, err := e.w.Write(e.header[:4]); err != nil {
		return err
	}
	return e.writeChunked(segment)
}

// EndSegments ends the segment stream cleanly.
func (e *Encoder) EndSegments() error {
	clear(e.header[:4])
	_, err := e.w.Write(e.header[:4])
	return err
}

// Decoder is the BinaryStreamDecoder: it reads what an Encoder wrote, within caps.
type Decoder struct {
	r          io.Reader
	maxObject  int64
	maxSegment int
	header     [9]byte
	inSegments bool
}

// NewDecoder returns a decoder reading from r that refuses objects over maxObject bytes and
// segments over maxSegment bytes (the defaults when 0 or less).
func NewDecoder(r io.Reader, maxObject int64, maxSegment int) *Decoder {
	if maxObject <= 0 {
		maxObject = DefaultMaxObjectSize
	}
	if maxSegment <= 0 {
		maxSegment = DefaultMaxSegmentSize
	}
	return &Decoder{r: r, maxObject: maxObject, maxSegment: maxSegment}
}

// ReadObject reads one object and returns its content once it matched its digest.
func (d *Decoder) ReadObject() ([]byte, stc.Digest, error) {
	var buf bytes.Buffer
	digest, err := d.ReadObjectTo(&buf)
	if err != nil {
		return nil, digest, err
	}
	return buf.Bytes(), digest, nil
}

// ReadObjectTo copies one object's content to w as it arrives (into a file, say) and returns
// its digest. w has then received content that failed its check when the error is
// ErrDigestMismatch: the caller discards it (package store's Dir never exposes such content).
func (d *Decoder) ReadObjectTo(w io.Writer) (stc.Digest, error) {
	if err := d.readKind(kindObject); err != nil {
		return stc.Digest{}, err
	}
	if err := d.readFull(d.header[1:9]); err != nil {
		return stc.Digest{}, err
	}
	size := binary.BigEndian.Uint64(d.header[1:9])
	if size > uint64(d.maxObject) {
		return stc.Digest{}, fmt.Errorf("%w: object of %d bytes, cap %d", ErrTooLarge, size, d.maxObject)
	}
	hasher := stc.NewHasher()
	// CopyN moves bounded chunks, so memory follows the bytes received, not the length claimed.
	if n, err := io.CopyN(io.MultiWriter(w, hasher), d.r, int64(size)); err != nil {
		if errors.Is(err, io.EOF) {
			return stc.Digest{}, fmt.Errorf("%w: %d of %d content bytes", ErrTruncated, n, size)
		}
		return stc.Digest{}, err
	}
	var got, sent stc.Digest
	hasher.Sum(got[:0])
	if err := d.readFull(sent[:]); err != nil {
		return stc.Digest{}, err
	}
	if subtle.ConstantTimeCompare(got[:], sent[:]) != 1 {
		return sent, fmt.Errorf("%w: sent %s, content hashes to %s", ErrDigestMismatch, sent, got)
	}
	return got, nil
}

// NextSegment appends the next segment to dst[:0] and returns it; io.EOF after the clean end
// of the stream. The first call reads the stream's kind byte.
func (d *Decoder) NextSegment(dst []byte) ([]byte, error) {
	if !d.inSegments {
		if err := d.readKind(kindSegments); err != nil {
			return dst[:0], err
		}
		d.inSegments = true
	}
	if err := d.readFull(d.header[:4]); err != nil {
		return dst[:0], err
	}
	size := binary.BigEndian.Uint32(d.header[:4])
	if size == 0 {
		d.inSegments = false
		return dst[:0], io.EOF
	}
	if uint64(size) > uint64(d.maxSegment) {
		return dst[:0], fmt.Errorf("%w: segment of %d bytes, cap %d", ErrTooLarge, size, d.maxSegment)
	}
	buf := bytes.NewBuffer(dst[:0])
	if n, err := io.CopyN(buf, d.r, int64(size)); err != nil {
		if errors.Is(err, io.EOF) {
			return dst[:0], fmt.Errorf("%w: %d of %d segment bytes", ErrTruncated, n, size)
		}
		return dst[:0], err
	}
	return buf.Bytes(), nil
}

// readKind reads the kind byte and checks it. A stream that ends cleanly before it is io.EOF:
// nothing more was sent.
func (d *Decoder) readKind(want byte) error {
	if _, err := io.ReadFull(d.r, d.header[:1]); err != nil {
		return err
	}
	if d.header[0] != want {
		return fmt.Errorf("%w: kind byte 0x%02x, want 0x%02x", ErrBadKind, d.header[0], want)
	}
	return nil
}

// readFull is io.ReadFull with the stream's end inside a unit reported as ErrTruncated.
func (d *Decoder) readFull(b []byte) error {
	if _, err := io.ReadFull(d.r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: %v", ErrTruncated, err)
		}
		return err
	}
	return nil
}
