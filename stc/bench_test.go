package stc

import (
	"fmt"
	"testing"
)

var benchSizes = []struct {
	name string
	n    int
}{{"64B", 64}, {"1200B", 1200}, {"8KiB", 8 << 10}, {"64KiB", 64 << 10}}

const benchHdr = 15

// BenchmarkSeal seals a packet of n payload bytes in place (15-byte header as AD). MB/s counts
// payload bytes.
func BenchmarkSeal(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			a := testAEAD(b, 50)
			buf := make([]byte, benchHdr+sz.n, benchHdr+sz.n+TagSize)
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			pn := uint64(0)
			for b.Loop() {
				a.Seal(buf[:benchHdr+sz.n], benchHdr, pn)
				pn++
			}
		})
	}
}

// BenchmarkOpen opens a sealed packet in place. Each iteration first copies the sealed packet
// into the receive buffer (as the kernel would), because Open consumes it; BenchmarkCopy gives
// the cost of that copy alone.
func BenchmarkOpen(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			a := testAEAD(b, 51)
			buf := make([]byte, benchHdr+sz.n, benchHdr+sz.n+TagSize)
			pkt := append([]byte(nil), a.Seal(buf, benchHdr, 42)...)
			work := make([]byte, len(pkt))
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				copy(work, pkt)
				if _, err := a.Open(work, benchHdr, 42); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCopy is the copy included in BenchmarkOpen, for subtraction.
func BenchmarkCopy(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			src := make([]byte, benchHdr+sz.n+TagSize)
			dst := make([]byte, len(src))
			b.SetBytes(int64(sz.n))
			for b.Loop() {
				copy(dst, src)
			}
		})
	}
}

func BenchmarkReplayAccept(b *testing.B) {
	b.Run("in-order", func(b *testing.B) {
		var w ReplayWindow
		pn := uint64(0)
		b.ReportAllocs()
		for b.Loop() {
			if w.Check(pn) {
				w.Accept(pn)
			}
			pn++
		}
	})
	b.Run("reordered", func(b *testing.B) {
		var w ReplayWindow
		pn := uint64(0)
		b.ReportAllocs()
		for b.Loop() {
			p := pn ^ 7 // permutes each group of 8
			if w.Check(p) {
				w.Accept(p)
			}
			pn++
		}
	})
}

func BenchmarkDeriveSession(b *testing.B) {
	seed, _ := ParseSeedHex(hex32)
	var ni, nr [32]byte
	b.ReportAllocs()
	for b.Loop() {
		ni[0]++
		k := seed.DeriveSession(&ni, &nr)
		k.Erase()
	}
}

// BenchmarkNewKeyChain is the per-direction cost of installing a session's keys.
func BenchmarkNewKeyChain(b *testing.B) {
	s := testSecret(b, 52)
	b.ReportAllocs()
	for b.Loop() {
		k, _ := NewKeyChain(s)
		k.Erase()
	}
}

func BenchmarkHandshakeMAC(b *testing.B) {
	k := MACKey{1}
	m := NewMAC(&k)
	msg := make([]byte, 1200)
	sum := make([]byte, 0, MACSize)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		m.Reset()
		m.Write(msg)
		sum = m.Sum(sum[:0])
	}
}

func BenchmarkHash(b *testing.B) {
	for _, sz := range benchSizes {
		data := make([]byte, sz.n)
		b.Run("SHA256/"+sz.name, func(b *testing.B) {
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				Hash(data)
			}
		})
		b.Run("xxhash64/"+sz.name, func(b *testing.B) {
			b.SetBytes(int64(sz.n))
			for b.Loop() {
				Hash64(data)
			}
		})
	}
	b.Run("SessionID", func(b *testing.B) {
		id := [8]byte{1}
		var s uint64
		b.ReportAllocs()
		for b.Loop() {
			s += HashSessionID(id)
			id[0]++
		}
		_ = fmt.Sprint(s)
	})
}
