// Package frame is the wire codec of STT version 1 (docs/PROTOCOL.md §1–§2): the packet
// header, the QUIC-style variable-length integer, and every frame type a packet body carries.
//
// It knows nothing about sessions, keys or timers. The data plane parses a header, opens the
// body in place, walks its frames with a Walker and acts on them; the send path appends a
// header and frames into a pooled buffer and seals it. Both directions are built for the
// per-packet hot path:
//
//   - Parsing never panics, never allocates and never copies: whatever the input, the result is
//     a frame or one of the sentinel errors of errors.go, returned as-is (compare with
//     errors.Is). Byte fields of a parsed Frame (Data, Nonce, NodeID, …) are views into the
//     input, with their capacity clipped so that appending to one cannot overwrite the next
//     frame; they stay valid only while the caller keeps the buffer.
//   - Every length is checked against its limit (limits.go) first and then against the bytes
//     present, so a hostile length is refused before it is used.
//   - Every value has exactly one encoding: varints must be minimal, and the header has one
//     valid form per field set. Encoding a parsed frame with AppendFrame therefore reproduces
//     the bytes it was parsed from, which the fuzz tests check.
//   - Encoders append to the caller's slice and allocate only when its capacity runs out. They
//     panic on values that no valid frame can hold (a varint above MaxVarint, a bad packet
//     number length): those are bugs in the caller, never input from the network.
//
// The codec does not police which frames may appear in which packet kind, nor the meaning of
// values (versions, stream id parity, flow-control limits): that is the job of the packages
// above it.
package frame
