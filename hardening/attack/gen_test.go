package attack

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// TestHostileSourceClasses: every class builds what it claims, judged by the real header parser
// (the first check a listener makes), and the same seed gives the same datagrams.
func TestHostileSourceClasses(t *testing.T) {
	live := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	capture := []byte("a captured packet")
	for _, c := range HostileClasses() {
		src := NewHostileSource(7, []Class{c})
		src.LiveIDs = [][8]byte{live}
		src.Captures = [][]byte{capture}
		for i := 0; i < 2000; i++ {
			d, got := src.Next(make([]byte, 0, MaxDatagram))
			if got != c {
				t.Fatalf("%v built a %v", c, got)
			}
			if len(d) > MaxDatagram {
				t.Fatalf("%v: %d bytes", c, len(d))
			}
			var h frame.Header
			err := frame.ParseHeader(d, &h)
			ok := true
			switch c {
			case ClassTruncated:
				ok = errors.Is(err, frame.ErrTruncated) && len(d) > 0 && d[0] == frame.Magic
			case ClassOversize:
				ok = err == nil && h.Kind == frame.KindHandshake && len(d) > dataplane.MaxHandshakeSize
			case ClassBadVersion:
				ok = errors.Is(err, frame.ErrBadVersion)
			case ClassBadKind:
				ok = errors.Is(err, frame.ErrBadKind)
			case ClassBadHeader:
				ok = errors.Is(err, frame.ErrBadHeader)
			case ClassGarbageLive:
				ok = err == nil && h.Kind == frame.KindProtected && h.SessionID == live && len(d) >= h.Len+frame.TagSize+1
			case ClassGarbageUnknown:
				ok = err == nil && h.Kind == frame.KindProtected && h.SessionID != live
			case ClassHelloGarbage:
				ok = err == nil && h.Kind == frame.KindHandshake && frame.Type(d[h.Len]) == frame.TypeHello && len(d) <= dataplane.MaxHandshakeSize
			case ClassHandshakeGarbage:
				ok = err == nil && h.Kind == frame.KindHandshake && len(d) > h.Len && len(d) <= dataplane.MaxHandshakeSize
			case ClassBitFlip:
				ok = len(d) == len(capture) && !bytes.Equal(d, capture)
			case ClassReplay:
				ok = bytes.Equal(d, capture)
			}
			if !ok {
				t.Fatalf("%v: %x (parse: %v)", c, d, err)
			}
		}
	}
	a, b := NewHostileSource(3, HostileClasses()), NewHostileSource(3, HostileClasses())
	for i := 0; i < 100; i++ {
		x, cx := a.Next(nil)
		y, cy := b.Next(nil)
		if cx != cy || !bytes.Equal(x, y) {
			t.Fatalf("datagram %d differs between two sources with the same seed", i)
		}
	}
}

// TestRenumberAndSort: Renumber changes only the packet number field, and Sort recovers full
// packet numbers from truncated ones.
func TestRenumberAndSort(t *testing.T) {
	id := [8]byte{9}
	var caps []Captured
	for _, pn := range []uint64{0, 1, 255, 256, 300, 70000} {
		h := frame.Header{Kind: frame.KindProtected, SessionID: id, PacketNumber: pn, PNLen: 1}
		if pn > 255 {
			h.PNLen = 2
		}
		if pn > 65535 {
			h.PNLen = 4
		}
		caps = append(caps, Captured{B: append(frame.AppendHeader(nil, &h), make([]byte, 20)...)})
	}
	hs := frame.Header{Kind: frame.KindHandshake, PNLen: 1}
	caps = append(caps, Captured{B: append(frame.AppendHeader(nil, &hs), 1)})
	cs := Sort(caps, nil)
	if len(cs.Handshake) != 1 || len(cs.ToTarget) != 6 || cs.LargestTo != 70000 {
		t.Fatalf("sorted: %d handshake, %d protected, largest %d", len(cs.Handshake), len(cs.ToTarget), cs.LargestTo)
	}
	for i, want := range []uint64{0, 1, 255, 256, 300, 70000} {
		if cs.ToTarget[i].PN != want {
			t.Fatalf("packet %d: pn %d, want %d", i, cs.ToTarget[i].PN, want)
		}
	}
	p := cs.ToTarget[3].B // 2-byte packet number 256
	r := Renumber(nil, p, 0x1234)
	var h frame.Header
	if err := frame.ParseHeader(r, &h); err != nil || h.PacketNumber != 0x1234 || len(r) != len(p) || !bytes.Equal(r[h.Len:], p[h.Len:]) || !bytes.Equal(r[:11], p[:11]) {
		t.Fatalf("renumbered %x into %x", p, r)
	}
}

// TestFloodSource: the mix holds the three kinds in about the asked shares, every valid HELLO
// verifies under the seed's handshake key and the bad ones do not, and tags map back to kinds.
func TestFloodSource(t *testing.T) {
	seed, err := stc.NewSeed(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	key := seed.HandshakeKey()
	var nonce [32]byte
	nonce[0] = 0xca
	captured := NewHelloKit(seed).Hello(nil, &nonce, uint64(time.Now().UnixMilli()), 0)
	src := NewFloodSource(NewHelloKit(seed), captured, FloodMix{BadMAC: 0.5, Captured: 0.25, ValidNonces: 8}, 1)
	n := map[Class]int{}
	for i := 0; i < 20000; i++ {
		d, c := src.Next(nil)
		n[c]++
		if len(d) != frame.HelloMinSize {
			t.Fatalf("%v HELLO of %d bytes", c, len(d))
		}
		valid := key.Verify(d[len(d)-frame.MACSize:], d[:len(d)-frame.MACSize])
		if valid != (c != ClassBadMAC) {
			t.Fatalf("%v HELLO: MAC valid %v", c, valid)
		}
		var h frame.Header
		frame.ParseHeader(d, &h)
		if got, ok := src.TagClass(h.SessionID); !ok || got != c {
			t.Fatalf("tag of a %v HELLO maps to %v, %v", c, got, ok)
		}
	}
	if n[ClassBadMAC] < 9000 || n[ClassCapturedHello] < 4000 || n[ClassValidRepeat] < 4000 || src.ValidNonces() != 8 {
		t.Fatalf("mix %v, %d valid nonces", n, src.ValidNonces())
	}
}
