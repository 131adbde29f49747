package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Transport protocols of a decoded packet.
const (
	ProtoUDP = 17
	ProtoTCP = 6
)

// Segment is the transport layer of one captured packet: a UDP datagram or a TCP segment, its
// addresses and its payload (a view into the record).
type Segment struct {
	Proto    uint8
	Src, Dst netip.AddrPort
	Seq      uint32 // TCP only
	SYN, FIN bool   // TCP only
	Payload  []byte
}

// Decode parses a record's link, IP (v4 without fragments, or v6 without extension headers) and
// UDP or TCP headers. Anything else (ARP, ICMP, fragments, another link type) is
// ErrNotTransport: a capture holds more than STT, and the caller skips it. Payloads longer than
// what was captured are cut to it.
func Decode(rec Record, seg *Segment) error {
	ip, err := linkPayload(rec.LinkType, rec.Data)
	if err != nil {
		return err
	}
	return decodeIP(ip, seg)
}

func linkPayload(link uint32, d []byte) ([]byte, error) {
	switch link {
	case LinkEthernet:
		if len(d) < 14 {
			return nil, ErrNotTransport
		}
		et, off := binary.BigEndian.Uint16(d[12:]), 14
		for et == 0x8100 || et == 0x88a8 { // VLAN tags
			if len(d) < off+4 {
				return nil, ErrNotTransport
			}
			et, off = binary.BigEndian.Uint16(d[off+2:]), off+4
		}
		if et != 0x0800 && et != 0x86dd {
			return nil, ErrNotTransport
		}
		return d[off:], nil
	case LinkSLL:
		if len(d) < 16 {
			return nil, ErrNotTransport
		}
		return d[16:], nil
	case LinkSLL2:
		if len(d) < 20 {
			return nil, ErrNotTransport
		}
		return d[20:], nil
	case LinkNull:
		if len(d) < 4 {
			return nil, ErrNotTransport
		}
		return d[4:], nil
	case LinkRaw, LinkIPv4, LinkIPv6:
		return d, nil
	}
	return nil, fmt.Errorf("link type %d: %w", link, ErrNotTransport)
}

func decodeIP(d []byte, seg *Segment) error {
	if len(d) < 1 {
		return ErrNotTransport
	}
	var src, dst netip.Addr
	var proto uint8
	var l4 []byte
	switch d[0] >> 4 {
	case 4:
		if len(d) < 20 {
			return ErrNotTransport
		}
		ihl := int(d[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(d[2:]))
		if ihl < 20 || total < ihl || len(d) < ihl {
			return ErrNotTransport
		}
		if frag := binary.BigEndian.Uint16(d[6:]); frag&0x3fff != 0 {
			return ErrNotTransport // a fragment: reassembly is not done here
		}
		// Loopback captures of GSO/TSO super-packets may carry a total length of 0 or less than
		// the bytes captured; trust the captured bytes then.
		end := len(d)
		if total >= ihl && total < end && total != 0 {
			end = total
		}
		src, dst = netip.AddrFrom4([4]byte(d[12:16])), netip.AddrFrom4([4]byte(d[16:20]))
		proto, l4 = d[9], d[ihl:end]
	case 6:
		if len(d) < 40 {
			return ErrNotTransport
		}
		end := len(d)
		if pl := int(binary.BigEndian.Uint16(d[4:])); pl != 0 && 40+pl < end {
			end = 40 + pl
		}
		src, dst = netip.AddrFrom16([16]byte(d[8:24])), netip.AddrFrom16([16]byte(d[24:40]))
		proto, l4 = d[6], d[40:end]
	default:
		return ErrNotTransport
	}
	*seg = Segment{Proto: proto}
	switch proto {
	case ProtoUDP:
		if len(l4) < 8 {
			return ErrNotTransport
		}
		seg.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(l4))
		seg.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4[2:]))
		seg.Payload = l4[8:]
	case ProtoTCP:
		if len(l4) < 20 {
			return ErrNotTransport
		}
		off := int(l4[12]>>4) * 4
		if off < 20 || off > len(l4) {
			return ErrNotTransport
		}
		seg.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(l4))
		seg.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4[2:]))
		seg.Seq = binary.BigEndian.Uint32(l4[4:])
		seg.SYN, seg.FIN = l4[13]&0x02 != 0, l4[13]&0x01 != 0
		seg.Payload = l4[off:]
	default:
		return ErrNotTransport
	}
	return nil
}

// AppendUDP appends an IP packet (v4 or v6 after the addresses) carrying payload as one UDP
// datagram from src to dst: how a decrypted capture holds each STT packet (LinkRaw). The IPv4
// UDP checksum is 0 (none); IPv6, which requires one, gets it computed.
func AppendUDP(b []byte, src, dst netip.AddrPort, payload []byte) []byte {
	udpLen := 8 + len(payload)
	start := len(b)
	if src.Addr().Is4() && dst.Addr().Is4() {
		b = append(b, 0x45, 0) // version 4, 20-byte header; DSCP 0
		b = binary.BigEndian.AppendUint16(b, uint16(20+udpLen))
		b = append(b, 0, 0, 0x40, 0, 64, ProtoUDP, 0, 0) // id 0, DF, TTL 64, checksum below
		s, d := src.Addr().As4(), dst.Addr().As4()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
		binary.BigEndian.PutUint16(b[start+10:], ipChecksum(b[start:start+20]))
		b = appendUDPHeader(b, src, dst, udpLen, 0)
		return append(b, payload...)
	}
	s, d := src.Addr().As16(), dst.Addr().As16()
	b = append(b, 0x60, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(udpLen))
	b = append(b, ProtoUDP, 64)
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	sum := udp6Checksum(s, d, src.Port(), dst.Port(), payload)
	b = appendUDPHeader(b, src, dst, udpLen, sum)
	return append(b, payload...)
}

func appendUDPHeader(b []byte, src, dst netip.AddrPort, udpLen int, sum uint16) []byte {
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	b = binary.BigEndian.AppendUint16(b, uint16(udpLen))
	return binary.BigEndian.AppendUint16(b, sum)
}

// onesSum adds b to the one's complement sum s (RFC 1071).
func onesSum(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func ipChecksum(h []byte) uint16 { return fold(onesSum(0, h)) }

func udp6Checksum(src, dst [16]byte, sport, dport uint16, payload []byte) uint16 {
	n := uint32(8 + len(payload))
	s := onesSum(0, src[:])
	s = onesSum(s, dst[:])
	s += n>>16 + n&0xffff + ProtoUDP
	s += uint32(sport) + uint32(dport) + n&0xffff
	s = onesSum(s, payload)
	c := fold(s)
	if c == 0 {
		c = 0xffff
	}
	return c
}
