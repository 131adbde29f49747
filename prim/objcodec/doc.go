// Package objcodec is the seed's BinaryStreamEncoder/Decoder in Go: it carries a bounded object,
// or a live sequence of segments, over any byte stream, an sttfast Stream in particular.
//
// An object is sent as
//
//	0xB1 | length (8 bytes, big endian) | content (length bytes) | SHA-256 of content (32 bytes)
//
// and the decoder returns it only after the trailing hash, stc.Hash, matched what arrived
// (ErrDigestMismatch otherwise): the transport already authenticates every packet, so the check
// catches what it cannot, a sender whose copy was wrong or a store that changed (the digest is
// the object's key in package store). A length above the decoder's cap is refused from the
// header (ErrTooLarge), and memory grows with the bytes that actually arrive, never with the
// length announced, so a peer that lies about it costs nothing.
//
// A segment stream, for live data whose end is not known in advance, is sent as
//
//	0xB2 | (length (4 bytes, big endian) | segment)* | 0x00000000
//
// Segments are never empty, so the zero length is the clean end; a stream that stops before it
// is ErrTruncated, so a reader can tell a finished feed from a broken one.
//
// Bad input is always a typed error (ErrBadKind, ErrTooLarge, ErrTruncated, ErrDigestMismatch),
// never a panic; FuzzDecoder holds that.
package objcodec
