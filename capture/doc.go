// Package capture reads packet captures of STT traffic and writes decrypted ones: the engine of
// "sttfast pcap decrypt". It reads classic libpcap and pcapng files (Ethernet, Linux cooked,
// raw IP and BSD loopback links), finds STT packets in UDP datagrams (splitting the GSO
// super-packets that loopback and veth captures hold) and in WebSocket binary messages (TCP
// reassembled per direction, frames unmasked), and opens protected packets with the secrets of
// a key log (docs/PROTOCOL.md §4, "Key log") or with those derived from a captured handshake and
// the seed. It writes one record per STT packet, the protected ones it could open replaced by
// their plaintext under the KindDecrypted marker that tools/wireshark/stt.lua recognises.
//
// Everything here is offline tooling over untrusted files: every parser is bounded (record
// sizes, out-of-order TCP segments, WebSocket messages) and reports ErrFormat or skips rather
// than panicking, and each has a fuzz target. It sits beside the data plane, importing only
// frame and stc.
package capture
