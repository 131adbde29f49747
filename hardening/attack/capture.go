package attack

import (
	"github.com/sttfast/sttfast/frame"
)

// Packet is a captured protected packet with its packet number recovered as the receiver would
// (RFC 9000 Appendix A.3 against the largest number seen before it in that direction).
type Packet struct {
	B  []byte
	PN uint64
}

// CaptureSet sorts a capture by what it is.
type CaptureSet struct {
	Handshake [][]byte // handshake-kind packets, both directions
	ToTarget  []Packet // protected, client → listener
	ToClient  []Packet // protected, listener → client
	LargestTo uint64   // largest packet number client → listener
}

// Sort classifies the captures of both directions.
func Sort(toTarget, toClient []Captured) CaptureSet {
	var cs CaptureSet
	cs.ToTarget, cs.LargestTo = sortDir(toTarget, &cs.Handshake)
	cs.ToClient, _ = sortDir(toClient, &cs.Handshake)
	return cs
}

func sortDir(caps []Captured, hs *[][]byte) ([]Packet, uint64) {
	var out []Packet
	var largest uint64
	var h frame.Header
	for _, c := range caps {
		if frame.ParseHeader(c.B, &h) != nil {
			continue
		}
		if h.Kind == frame.KindHandshake {
			*hs = append(*hs, c.B)
			continue
		}
		pn := frame.DecodePacketNumber(largest, h.PacketNumber, h.PNLen)
		largest = max(largest, pn)
		out = append(out, Packet{B: c.B, PN: pn})
	}
	return out, largest
}

// Renumber returns a copy of the protected packet p whose packet number field says pn (its
// low bytes, in the same length): what a forger who can only edit headers produces. It cannot
// authenticate, because the header is the AEAD's associated data and pn its nonce.
func Renumber(dst, p []byte, pn uint64) []byte {
	var h frame.Header
	if frame.ParseHeader(p, &h) != nil || h.Kind != frame.KindProtected {
		return append(dst, p...)
	}
	h.PacketNumber = pn & frame.MaxVarint // AppendHeader writes the low PNLen bytes
	dst = frame.AppendHeader(dst, &h)
	return append(dst, p[h.Len:]...)
}
