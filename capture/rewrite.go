package capture

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// RewriteStats counts what Rewrite found besides the packets the Decrypter counts.
type RewriteStats struct {
	Records      int // records read
	Skipped      int // records that are neither STT over UDP nor TCP segments
	SuperPackets int // UDP datagrams that held more than one STT packet (GSO)
	WSMessages   int // STT packets found in WebSocket binary messages
	Abandoned    int // TCP directions not followed (not WebSocket, a gap, a bound)
}

// Rewrite reads a capture from in and writes to out (classic pcap, raw IP) one record per STT
// packet it finds, in capture order and with its record's time: each as a UDP datagram between
// the addresses and ports it travelled between (a packet of a WebSocket connection too, so one
// dissector reads both), through d, which replaces the protected payloads it can open with
// their plaintext. GSO super-packets are split and WebSocket messages reassembled from TCP.
// Records that carry no STT are not copied.
func Rewrite(in io.Reader, out io.Writer, d *Decrypter) (RewriteStats, error) {
	var st RewriteStats
	r, err := NewReader(in)
	if err != nil {
		return st, err
	}
	w, err := NewWriter(out, LinkRaw)
	if err != nil {
		return st, err
	}
	ws := NewWSReassembler()
	var seg Segment
	var rec Record
	var pkt, ipb []byte
	var werr error
	write := func(t time.Time, src, dst netip.AddrPort, p []byte) {
		pkt = d.Packet(pkt[:0], src, p)
		ipb = AppendUDP(ipb[:0], src, dst, pkt)
		if err := w.Write(t, ipb); err != nil && werr == nil {
			werr = err
		}
	}
	for {
		rec, err = r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, err
		}
		st.Records++
		if Decode(rec, &seg) != nil {
			st.Skipped++
			continue
		}
		switch seg.Proto {
		case ProtoUDP:
			n := SplitPackets(seg.Payload, func(p []byte) { write(rec.Time, seg.Src, seg.Dst, p) })
			if n == 0 {
				st.Skipped++
			} else if n > 1 {
				st.SuperPackets++
			}
		case ProtoTCP:
			ws.Add(&seg, func(msg []byte) {
				if LooksLikeSTT(msg) {
					st.WSMessages++
					write(rec.Time, seg.Src, seg.Dst, msg)
				}
			})
		}
		if werr != nil {
			return st, fmt.Errorf("capture: write: %w", werr)
		}
	}
	st.Abandoned = ws.Abandoned
	if err := w.Flush(); err != nil {
		return st, fmt.Errorf("capture: write: %w", err)
	}
	return st, nil
}
