package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Link types of the captures this package reads (tcpdump.org/linktypes.html).
const (
	LinkNull     = 0   // BSD loopback: a 4-byte address family in host order
	LinkEthernet = 1   // Linux lo and veth captures
	LinkRaw      = 101 // raw IPv4 or IPv6, what Writer writes
	LinkSLL      = 113 // Linux cooked capture (-i any, older libpcap)
	LinkIPv4     = 228
	LinkIPv6     = 229
	LinkSLL2     = 276 // Linux cooked capture v2 (-i any)
)

// MaxRecordSize bounds one captured record: a larger captured length is ErrFormat rather than an
// allocation the file asks for.
const MaxRecordSize = 256 << 10

// Record is one captured packet: its time, its link type and the captured bytes (a view that
// the next Reader.Next call may overwrite).
type Record struct {
	Time     time.Time
	LinkType uint32
	Data     []byte
}

// Reader reads classic libpcap files (either byte order, micro- or nanosecond timestamps) and
// pcapng files (what dumpcap and tshark write by default): Section Header, Interface
// Description, Enhanced and Simple Packet blocks; other blocks are skipped.
type Reader struct {
	r     *bufio.Reader
	buf   []byte
	order binary.ByteOrder
	ng    bool
	nano  bool      // classic: nanosecond timestamps
	link  uint32    // classic: the file's link type
	ifs   []ngIface // pcapng: interfaces of the current section
}

type ngIface struct {
	link    uint32
	tsUnits uint64 // timestamp units per second
}

// NewReader reads the file header of r and returns a Reader positioned at the first record.
func NewReader(r io.Reader) (*Reader, error) {
	rd := &Reader{r: bufio.NewReaderSize(r, 64<<10)}
	magic, err := rd.r.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("capture: file header: %w", ErrFormat)
	}
	switch {
	case magic[0] == 0x0a && magic[1] == 0x0d && magic[2] == 0x0d && magic[3] == 0x0a:
		rd.ng = true
		return rd, nil
	case binary.LittleEndian.Uint32(magic) == 0xa1b2c3d4:
		rd.order = binary.LittleEndian
	case binary.BigEndian.Uint32(magic) == 0xa1b2c3d4:
		rd.order = binary.BigEndian
	case binary.LittleEndian.Uint32(magic) == 0xa1b23c4d:
		rd.order, rd.nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(magic) == 0xa1b23c4d:
		rd.order, rd.nano = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("capture: not a pcap or pcapng file (magic %x): %w", magic, ErrFormat)
	}
	var hdr [24]byte
	if _, err := io.ReadFull(rd.r, hdr[:]); err != nil {
		return nil, fmt.Errorf("capture: file header: %w", ErrFormat)
	}
	rd.link = rd.order.Uint32(hdr[20:]) & 0x0fffffff
	return rd, nil
}

// Next returns the next packet record, io.EOF at the end of the file, or an error wrapping
// ErrFormat for a damaged file (a truncated last record is io.EOF: a capture stopped mid-write).
func (r *Reader) Next() (Record, error) {
	if r.ng {
		return r.nextNG()
	}
	var hdr [16]byte
	if _, err := io.ReadFull(r.r, hdr[:]); err != nil {
		return Record{}, io.EOF
	}
	sec, frac := r.order.Uint32(hdr[0:]), r.order.Uint32(hdr[4:])
	incl := r.order.Uint32(hdr[8:])
	if incl > MaxRecordSize {
		return Record{}, fmt.Errorf("capture: record of %d bytes: %w", incl, ErrFormat)
	}
	data, err := r.read(int(incl))
	if err != nil {
		return Record{}, io.EOF
	}
	ns := int64(frac) * 1000
	if r.nano {
		ns = int64(frac)
	}
	return Record{Time: time.Unix(int64(sec), ns), LinkType: r.link, Data: data}, nil
}

// read returns the next n bytes in the reader's reused buffer.
func (r *Reader) read(n int) ([]byte, error) {
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	_, err := io.ReadFull(r.r, b)
	return b, err
}

// pcapng block types.
const (
	ngSectionHeader  = 0x0a0d0d0a
	ngInterface      = 0x00000001
	ngSimplePacket   = 0x00000003
	ngEnhancedPacket = 0x00000006
)

func (r *Reader) nextNG() (Record, error) {
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(r.r, hdr[:]); err != nil {
			return Record{}, io.EOF
		}
		if binary.LittleEndian.Uint32(hdr[:]) == ngSectionHeader {
			// The byte order magic follows the length; the length's own order depends on it.
			bom, err := r.r.Peek(4)
			if err != nil {
				return Record{}, io.EOF
			}
			switch {
			case binary.LittleEndian.Uint32(bom) == 0x1a2b3c4d:
				r.order = binary.LittleEndian
			case binary.BigEndian.Uint32(bom) == 0x1a2b3c4d:
				r.order = binary.BigEndian
			default:
				return Record{}, fmt.Errorf("capture: pcapng section byte order %x: %w", bom, ErrFormat)
			}
			r.ifs = r.ifs[:0]
		}
		typ, total := r.order.Uint32(hdr[0:]), r.order.Uint32(hdr[4:])
		if total < 12 || total%4 != 0 || total > MaxRecordSize+64 {
			return Record{}, fmt.Errorf("capture: pcapng block of %d bytes: %w", total, ErrFormat)
		}
		body, err := r.read(int(total) - 8)
		if err != nil {
			return Record{}, io.EOF
		}
		body = body[:len(body)-4] // the trailing copy of the length
		switch typ {
		case ngInterface:
			if len(body) < 8 {
				return Record{}, fmt.Errorf("capture: pcapng interface block: %w", ErrFormat)
			}
			r.ifs = append(r.ifs, ngIface{link: uint32(r.order.Uint16(body)), tsUnits: tsUnits(r.order, body[8:])})
		case ngEnhancedPacket:
			if len(body) < 20 {
				return Record{}, fmt.Errorf("capture: pcapng packet block: %w", ErrFormat)
			}
			ifc := r.order.Uint32(body[0:])
			if int(ifc) >= len(r.ifs) {
				return Record{}, fmt.Errorf("capture: pcapng packet of undeclared interface %d: %w", ifc, ErrFormat)
			}
			capLen := r.order.Uint32(body[12:])
			if int(capLen) > len(body)-20 {
				return Record{}, fmt.Errorf("capture: pcapng packet of %d bytes in a block of %d: %w", capLen, total, ErrFormat)
			}
			ts := uint64(r.order.Uint32(body[4:]))<<32 | uint64(r.order.Uint32(body[8:]))
			return Record{Time: unitsToTime(ts, r.ifs[ifc].tsUnits), LinkType: r.ifs[ifc].link, Data: body[20 : 20+capLen]}, nil
		case ngSimplePacket:
			if len(r.ifs) == 0 || len(body) < 4 {
				return Record{}, fmt.Errorf("capture: pcapng simple packet block: %w", ErrFormat)
			}
			n := min(int(r.order.Uint32(body)), len(body)-4)
			return Record{LinkType: r.ifs[0].link, Data: body[4 : 4+n]}, nil
		}
	}
}

// tsUnits reads the if_tsresol option of an interface block's options (default microseconds).
func tsUnits(order binary.ByteOrder, opts []byte) uint64 {
	for len(opts) >= 4 {
		code, n := order.Uint16(opts), int(order.Uint16(opts[2:]))
		if code == 0 || 4+n > len(opts) {
			break
		}
		if code == 9 && n >= 1 {
			v := opts[4]
			if v&0x80 != 0 {
				if e := v & 0x7f; e < 64 {
					return 1 << e
				}
			} else if v <= 19 {
				u := uint64(1)
				for range v {
					u *= 10
				}
				return u
			}
		}
		opts = opts[4+(n+3)&^3:]
	}
	return 1_000_000
}

func unitsToTime(ts, units uint64) time.Time {
	if units == 0 {
		units = 1_000_000
	}
	sec := ts / units
	frac := ts % units
	return time.Unix(int64(sec), int64(frac*1_000_000_000/units))
}

// Writer writes a classic libpcap file with nanosecond timestamps.
type Writer struct {
	w   *bufio.Writer
	hdr [16]byte
}

// NewWriter writes the file header for link type link and returns the Writer. Call Flush at
// the end.
func NewWriter(w io.Writer, link uint32) (*Writer, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b23c4d)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], MaxRecordSize)
	binary.LittleEndian.PutUint32(h[20:], link)
	if _, err := bw.Write(h[:]); err != nil {
		return nil, err
	}
	return &Writer{w: bw}, nil
}

// Write appends one record.
func (w *Writer) Write(t time.Time, data []byte) error {
	if len(data) > MaxRecordSize {
		return fmt.Errorf("capture: record of %d bytes: %w", len(data), ErrFormat)
	}
	binary.LittleEndian.PutUint32(w.hdr[0:], uint32(t.Unix()))
	binary.LittleEndian.PutUint32(w.hdr[4:], uint32(t.Nanosecond()))
	binary.LittleEndian.PutUint32(w.hdr[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(w.hdr[12:], uint32(len(data)))
	if _, err := w.w.Write(w.hdr[:]); err != nil {
		return err
	}
	_, err := w.w.Write(data)
	return err
}

// Flush writes what is buffered.
func (w *Writer) Flush() error { return w.w.Flush() }

// ErrFormat reports a capture file, or a packet in it, that this package cannot parse.
var ErrFormat = errors.New("capture: malformed capture")

// ErrNotTransport reports a captured packet that is not a UDP datagram or TCP segment over
// IPv4 or IPv6 (ARP, ICMP, a fragment, a link type this package does not know): skipped.
var ErrNotTransport = errors.New("capture: not a UDP or TCP packet")
