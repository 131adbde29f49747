package frame

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func TestVarintBoundaries(t *testing.T) {
	for _, tt := range []struct {
		v   uint64
		hex string
	}{
		{0, "00"},
		{63, "3f"},
		{64, "4040"},
		{16383, "7fff"},
		{16384, "80004000"},
		{1<<30 - 1, "bfffffff"},
		{1 << 30, "c000000040000000"},
		{MaxVarint, "ffffffffffffffff"},
		// RFC 9000 §A.1 examples.
		{151288809941952652, "c2197c5eff14e88c"},
		{494878333, "9d7f3e7d"},
		{15293, "7bbd"},
		{37, "25"},
	} {
		want, _ := hex.DecodeString(tt.hex)
		if got := AppendVarint([]byte{0xee}, tt.v); !bytes.Equal(got[1:], want) || got[0] != 0xee {
			t.Errorf("AppendVarint(%d) = %x, want %s", tt.v, got[1:], tt.hex)
		}
		if n := VarintLen(tt.v); n != len(want) {
			t.Errorf("VarintLen(%d) = %d, want %d", tt.v, n, len(want))
		}
		buf := make([]byte, 8)
		if n := PutVarint(buf, tt.v); !bytes.Equal(buf[:n], want) {
			t.Errorf("PutVarint(%d) = %x, want %s", tt.v, buf[:n], tt.hex)
		}
		v, n, err := ReadVarint(append(want, 0xff))
		if v != tt.v || n != len(want) || err != nil {
			t.Errorf("ReadVarint(%s) = %d, %d, %v", tt.hex, v, n, err)
		}
		for k := range len(want) {
			if _, n, err := ReadVarint(want[:k]); !errors.Is(err, ErrTruncated) || n != 0 {
				t.Errorf("ReadVarint(%x) = %d, %v; want ErrTruncated", want[:k], n, err)
			}
		}
	}
	if n := VarintLen(MaxVarint + 1); n != 0 {
		t.Errorf("VarintLen(2^62) = %d, want 0", n)
	}
}

func TestVarintNonMinimal(t *testing.T) {
	for _, h := range []string{
		"4000", "403f", // 0 and 63 in 2 bytes
		"80000000", "80003fff", // 0 and 16383 in 4 bytes
		"c000000000000000", "c00000003fffffff", // 0 and 2^30-1 in 8 bytes
		"c000000000000025", // RFC 9000 §A.1: 37 in 8 bytes is valid QUIC, not STT
	} {
		b, _ := hex.DecodeString(h)
		if _, n, err := ReadVarint(b); !errors.Is(err, ErrBadVarint) || n != 0 {
			t.Errorf("ReadVarint(%s) = %d, %v; want ErrBadVarint", h, n, err)
		}
	}
}

// Every value's encoding decodes back to it, over all lengths and their edges.
func TestVarintRoundTrip(t *testing.T) {
	for _, base := range []uint64{0, 1 << 6, 1 << 14, 1 << 30, 1 << 46, MaxVarint - 100} {
		for d := uint64(0); d < 100; d++ {
			v := base + d
			b := AppendVarint(nil, v)
			got, n, err := ReadVarint(b)
			if got != v || n != len(b) || err != nil {
				t.Fatalf("ReadVarint(AppendVarint(%d)) = %d, %d, %v", v, got, n, err)
			}
		}
	}
}
