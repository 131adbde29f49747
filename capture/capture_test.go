package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

var (
	cliAddr = netip.MustParseAddrPort("127.0.0.1:40000")
	srvAddr = netip.MustParseAddrPort("127.0.0.1:9000")
	testSID = [8]byte{0xa, 0xb, 0xc, 0xd, 1, 2, 3, 4}
)

func testSecret(b byte) stc.Secret {
	var s stc.Secret
	for i := range s {
		s[i] = b + byte(i)
	}
	return s
}

// sealed returns a protected packet of testSID under secret s (generation gen of it), numbered
// pn, carrying one DATA frame of payload bytes.
func sealed(t testing.TB, s stc.Secret, gen, pn uint64, payload []byte) []byte {
	for range gen {
		s = stc.NextGeneration(&s)
	}
	a, err := stc.NewAEAD(&s)
	if err != nil {
		t.Fatal(err)
	}
	h := frame.Header{Kind: frame.KindProtected, SessionID: testSID, PacketNumber: pn, PNLen: 4, KeyPhase: uint8(gen & 1)}
	b := frame.AppendHeader(nil, &h)
	hl := len(b)
	b = frame.AppendData(b, 0, 0, payload)
	b = append(b, make([]byte, stc.TagSize)...)[:len(b)]
	return a.Seal(b, hl, pn)
}

func keyLogOf(entries ...stc.KeyLogEntry) string {
	var buf bytes.Buffer
	l := stc.NewKeyLog(&buf)
	for i := range entries {
		l.Log(&entries[i])
	}
	return buf.String()
}

// ethernet wraps an IP packet in an Ethernet header (what a capture on lo records).
func ethernet(ip []byte) []byte {
	e := make([]byte, 14, 14+len(ip))
	binary.BigEndian.PutUint16(e[12:], 0x0800)
	return append(e, ip...)
}

// tcpSegment is an IPv4 TCP segment.
func tcpSegment(src, dst netip.AddrPort, seq uint32, syn bool, payload []byte) []byte {
	ip := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, ProtoTCP, 0, 0}
	binary.BigEndian.PutUint16(ip[2:], uint16(40+len(payload)))
	s, d := src.Addr().As4(), dst.Addr().As4()
	ip = append(append(ip, s[:]...), d[:]...)
	tcp := make([]byte, 20)
	binary.BigEndian.PutUint16(tcp, src.Port())
	binary.BigEndian.PutUint16(tcp[2:], dst.Port())
	binary.BigEndian.PutUint32(tcp[4:], seq)
	tcp[12] = 5 << 4
	tcp[13] = 0x10
	if syn {
		tcp[13] |= 0x02
	}
	return append(append(ip, tcp...), payload...)
}

// wsFrame is one binary WebSocket frame, masked with key when masked.
func wsFrame(payload []byte, masked bool, key [4]byte) []byte {
	b := []byte{0x82}
	m := byte(0)
	if masked {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, m|byte(n))
	case n < 1<<16:
		b = append(b, m|126, byte(n>>8), byte(n))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if !masked {
		return append(b, payload...)
	}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i&3])
	}
	return b
}

func TestPcapRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, LinkRaw)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1700000000, 123456789)
	for i := range 3 {
		w.Write(t0.Add(time.Duration(i)*time.Millisecond), []byte(strings.Repeat("x", i+1)))
	}
	w.Flush()
	r, err := NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		rec, err := r.Next()
		if err != nil || rec.LinkType != LinkRaw || len(rec.Data) != i+1 || !rec.Time.Equal(t0.Add(time.Duration(i)*time.Millisecond)) {
			t.Fatalf("record %d: %+v %v", i, rec, err)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the last record: %v", err)
	}
}

// pcapng builds a little-endian pcapng file with one Ethernet interface (nanosecond resolution)
// and one enhanced packet block per packet.
func pcapng(packets ...[]byte) []byte {
	le := binary.LittleEndian
	block := func(typ uint32, body []byte) []byte {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		b := le.AppendUint32(nil, typ)
		b = le.AppendUint32(b, uint32(12+len(body)))
		b = append(b, body...)
		return le.AppendUint32(b, uint32(12+len(body)))
	}
	shb := le.AppendUint32(nil, 0x1a2b3c4d)
	shb = le.AppendUint16(shb, 1)
	shb = le.AppendUint16(shb, 0)
	shb = le.AppendUint64(shb, ^uint64(0))
	out := block(ngSectionHeader, shb)
	idb := le.AppendUint16(nil, LinkEthernet)
	idb = le.AppendUint16(idb, 0)
	idb = le.AppendUint32(idb, 0)
	idb = append(idb, 9, 0, 1, 0, 9, 0, 0, 0) // if_tsresol = 9 (ns)
	idb = append(idb, 0, 0, 0, 0)
	out = append(out, block(ngInterface, idb)...)
	for i, p := range packets {
		ts := uint64(1700000000)*1e9 + uint64(i)
		epb := le.AppendUint32(nil, 0)
		epb = le.AppendUint32(epb, uint32(ts>>32))
		epb = le.AppendUint32(epb, uint32(ts))
		epb = le.AppendUint32(epb, uint32(len(p)))
		epb = le.AppendUint32(epb, uint32(len(p)))
		epb = append(epb, p...)
		out = append(out, block(ngEnhancedPacket, epb)...)
	}
	return out
}

func TestReadPcapng(t *testing.T) {
	udp := ethernet(AppendUDP(nil, cliAddr, srvAddr, []byte("hello")))
	r, err := NewReader(bytes.NewReader(pcapng(udp, udp)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		rec, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		var seg Segment
		if err := Decode(rec, &seg); err != nil || seg.Src != cliAddr || seg.Dst != srvAddr || string(seg.Payload) != "hello" {
			t.Fatalf("record %d: %+v %v", i, seg, err)
		}
		if want := time.Unix(1700000000, int64(i)); !rec.Time.Equal(want) {
			t.Fatalf("record %d at %v, want %v", i, rec.Time, want)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the last record: %v", err)
	}
}

func TestAppendUDPIPv6Checksum(t *testing.T) {
	src, dst := netip.MustParseAddrPort("[::1]:1000"), netip.MustParseAddrPort("[::1]:2000")
	ip := AppendUDP(nil, src, dst, []byte("odd"))
	// The one's complement sum over pseudo-header and datagram, checksum included, is 0xffff.
	s := onesSum(0, ip[8:40])
	n := uint32(len(ip) - 40)
	s += n + ProtoUDP
	s = onesSum(s, ip[40:])
	if fold(s) != 0 {
		t.Fatalf("IPv6 UDP checksum does not verify: %x", fold(s))
	}
	var seg Segment
	if err := decodeIP(ip, &seg); err != nil || seg.Src != src || string(seg.Payload) != "odd" {
		t.Fatalf("%+v %v", seg, err)
	}
}

func TestSplitPacketsGSO(t *testing.T) {
	i2r := testSecret(1)
	var super []byte
	var want [][]byte
	for pn := range uint64(3) {
		n := 1200 - 15 - 16 - 5 // header, tag, DATA frame's type, id, offset and 2-byte length
		if pn == 2 {
			n = 300
		}
		p := sealed(t, i2r, 0, pn, bytes.Repeat([]byte{byte(pn)}, n))
		if pn < 2 && len(p) != 1200 {
			t.Fatalf("packet of %d bytes", len(p))
		}
		want = append(want, p)
		super = append(super, p...)
	}
	var got [][]byte
	if n := SplitPackets(super, func(p []byte) { got = append(got, p) }); n != 3 {
		t.Fatalf("split into %d packets", n)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("packet %d differs", i)
		}
	}
	if n := SplitPackets(want[0], func([]byte) {}); n != 1 {
		t.Fatalf("one packet split into %d", n)
	}
	if n := SplitPackets([]byte("GET / HTTP/1.1\r\n\r\n......................"), func([]byte) {}); n != 0 {
		t.Fatalf("not STT, split into %d", n)
	}
}

// TestRewriteOpensUDPAndWebSocket decrypts a synthetic capture with a key log: a GSO
// super-packet and a key update over UDP, and a WebSocket connection whose frames are split
// across TCP segments that arrive out of order.
func TestRewriteOpensUDPAndWebSocket(t *testing.T) {
	i2r, r2i := testSecret(1), testSecret(100)
	log := keyLogOf(
		stc.KeyLogEntry{SessionID: testSID, Dir: stc.InitiatorToResponder, Generation: 0, Secret: i2r},
		stc.KeyLogEntry{SessionID: testSID, Dir: stc.ResponderToInitiator, Generation: 0, Secret: r2i},
	)
	var records [][]byte
	// UDP: a super-packet of three i2r packets, one r2i packet, then an i2r packet of
	// generation 1 (not logged: derived from generation 0), and one nobody can open.
	var super []byte
	for pn := range uint64(3) {
		super = append(super, sealed(t, i2r, 0, pn, bytes.Repeat([]byte("a"), 1100))...)
	}
	records = append(records,
		ethernet(AppendUDP(nil, cliAddr, srvAddr, super)),
		ethernet(AppendUDP(nil, srvAddr, cliAddr, sealed(t, r2i, 0, 0, []byte("from the responder")))),
		ethernet(AppendUDP(nil, cliAddr, srvAddr, sealed(t, i2r, 1, 3, []byte("after a key update")))),
		ethernet(AppendUDP(nil, cliAddr, srvAddr, sealed(t, testSecret(7), 0, 4, []byte("unknown key")))),
	)
	// WebSocket: client at :40001 to :9001.
	wcli, wsrv := netip.MustParseAddrPort("127.0.0.1:40001"), netip.MustParseAddrPort("127.0.0.1:9001")
	up := []byte("GET /stt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
	stream := append([]byte(nil), up...)
	for pn := uint64(10); pn < 13; pn++ {
		stream = append(stream, wsFrame(sealed(t, i2r, 0, pn, []byte(fmt.Sprint("ws ", pn))), true, [4]byte{1, 2, 3, byte(pn)})...)
	}
	isn := uint32(0xfffffff0) // the sequence numbers wrap inside the stream
	records = append(records, ethernet(tcpSegment(wcli, wsrv, isn, true, nil)))
	segs := [][2]int{{0, 30}, {70, len(stream)}, {30, 70}} // the last segment fills the gap
	for _, s := range segs {
		records = append(records, ethernet(tcpSegment(wcli, wsrv, isn+1+uint32(s[0]), false, stream[s[0]:s[1]])))
	}
	resp := append([]byte("HTTP/1.1 101 Switching Protocols\r\n\r\n"), wsFrame(sealed(t, r2i, 0, 5, []byte("ws reply")), false, [4]byte{})...)
	records = append(records, ethernet(tcpSegment(wsrv, wcli, 77, true, nil)), ethernet(tcpSegment(wsrv, wcli, 78, false, resp)))

	var in bytes.Buffer
	w, _ := NewWriter(&in, LinkEthernet)
	for i, r := range records {
		w.Write(time.Unix(1700000000, int64(i)), r)
	}
	w.Flush()

	d, err := NewKeyLogDecrypter(strings.NewReader("# a comment\nCLIENT_RANDOM aa bb\n" + log))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var out bytes.Buffer
	st, err := Rewrite(&in, &out, d)
	if err != nil {
		t.Fatal(err)
	}
	if d.Opened != 9 || d.NotOpened != 1 || st.SuperPackets != 1 || st.WSMessages != 4 {
		t.Fatalf("opened %d, not opened %d; stats %+v", d.Opened, d.NotOpened, st)
	}
	// Every opened packet is marked and holds its DATA frame in clear.
	r, err := NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	var plain []string
	for {
		rec, err := r.Next()
		if err != nil {
			break
		}
		var seg Segment
		if err := Decode(rec, &seg); err != nil {
			t.Fatal(err)
		}
		p := seg.Payload
		if p[1]&0x0f != byte(KindDecrypted) {
			continue
		}
		var f frame.Frame
		if _, err := frame.ParseFrame(p[15:], &f); err != nil || f.Type != frame.TypeData {
			t.Fatalf("decrypted packet does not hold a DATA frame: %x %v", p, err)
		}
		plain = append(plain, string(f.Data[:min(len(f.Data), 20)]))
	}
	want := []string{"from the responder", "after a key update", "ws 10", "ws 11", "ws 12", "ws reply"}
	if got := strings.Join(plain[3:], "|"); got != strings.Join(want, "|") {
		t.Fatalf("plaintexts %q, want %q after the three of the super-packet", plain[3:], want)
	}
}

func TestSeedDecrypterDerivesFromAuthProof(t *testing.T) {
	seed, err := stc.NewSeed(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	var nonceI, nonceR [32]byte
	nonceI[0], nonceR[0] = 1, 2
	var node [8]byte
	keys := seed.DeriveSession(&nonceI, &nonceR)
	h := frame.Header{Kind: frame.KindHandshake, SessionID: [8]byte(nonceI[:8]), PNLen: 1}
	proof := frame.AppendHeader(nil, &h)
	proof = frame.AppendAuthProof(proof, &nonceI, 1, &node, &nonceR, 2, &node)
	k := seed.HandshakeKey()
	proof = k.Sum(proof, proof)

	d := NewSeedDecrypter(seed)
	defer d.Close()
	d.Packet(nil, cliAddr, proof)
	a, err := stc.NewAEAD(&keys.I2R)
	if err != nil {
		t.Fatal(err)
	}
	ph := frame.Header{Kind: frame.KindProtected, SessionID: keys.ID, PNLen: 4}
	p := frame.AppendHeader(nil, &ph)
	p = frame.AppendFinal(p, 0)
	p = a.Seal(append(p, make([]byte, 16)...)[:len(p)], 15, 0)
	out := d.Packet(nil, cliAddr, p)
	if d.Opened != 1 || out[1]&0x0f != byte(KindDecrypted) || frame.Type(out[15]) != frame.TypeFinal {
		t.Fatalf("opened %d, not %d: %x", d.Opened, d.NotOpened, out)
	}
}

func TestWSReassemblerAbandonsWhatIsNotWebSocket(t *testing.T) {
	r := NewWSReassembler()
	a, b := netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2")
	seg := Segment{Proto: ProtoTCP, Src: a, Dst: b, Seq: 1, SYN: true}
	r.Add(&seg, nil)
	seg = Segment{Proto: ProtoTCP, Src: a, Dst: b, Seq: 2, Payload: []byte("SSH-2.0-OpenSSH")}
	r.Add(&seg, func([]byte) { t.Fatal("a message from SSH") })
	// A direction whose SYN was not captured cannot be followed either.
	seg = Segment{Proto: ProtoTCP, Src: b, Dst: a, Seq: 9, Payload: []byte("HTTP/1.1 101 OK\r\n\r\n")}
	r.Add(&seg, func([]byte) { t.Fatal("a message without the handshake") })
	if r.Abandoned != 2 {
		t.Fatalf("abandoned %d directions", r.Abandoned)
	}
}

func TestReaderRefusesGarbage(t *testing.T) {
	if _, err := NewReader(strings.NewReader("not a capture at all")); !errors.Is(err, ErrFormat) {
		t.Fatalf("garbage: %v", err)
	}
	// A record claiming more than MaxRecordSize.
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, LinkRaw)
	w.Flush()
	hdr := make([]byte, 16)
	binary.LittleEndian.PutUint32(hdr[8:], MaxRecordSize+1)
	buf.Write(hdr)
	r, _ := NewReader(&buf)
	if _, err := r.Next(); !errors.Is(err, ErrFormat) {
		t.Fatalf("oversized record: %v", err)
	}
}

// seededBytes is deterministic filler for tests.
func seededBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}
