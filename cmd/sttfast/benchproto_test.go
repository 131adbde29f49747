package main

import (
	"testing"
)

// TestBenchHeaderRoundTrip checks the header message and its bounds.
func TestBenchHeaderRoundTrip(t *testing.T) {
	h := newBenchHeader(1200)
	got, err := parseBenchHeader([]byte(h.String()))
	if err != nil || got != h {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, h)
	}
	if !isBenchHeader([]byte(h.String())) || isBenchHeader([]byte("hello")) {
		t.Fatal("isBenchHeader")
	}
	for _, bad := range []string{
		"sttfast-bench/1 size=0 block=1048576 key=" + hexKey(),
		"sttfast-bench/1 size=2048 block=1024 key=" + hexKey(),
		"sttfast-bench/1 size=10 block=999999999 key=" + hexKey(),
		"sttfast-bench/1 size=10 block=1048576 key=abc",
		"sttfast-bench/2 size=10 block=1048576 key=" + hexKey(),
	} {
		if _, err := parseBenchHeader([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// hexKey is a valid key field.
func hexKey() string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}

// TestBenchSourceVerifier checks that the verifier accepts exactly what the source sends
// (across the block's wrap-around, with a size that does not divide the block) and pinpoints
// the first wrong byte, a short message and a reordering.
func TestBenchSourceVerifier(t *testing.T) {
	h := newBenchHeader(1000)
	h.block = 4096 // small, so the test wraps many times
	content := h.content()
	src := newBenchSource(h, content)
	v := newBenchVerifier(h, content)
	for i := 0; i < 50; i++ {
		if !v.check(src.next()) {
			t.Fatalf("message %d rejected", i)
		}
	}
	if v.verified() != 50000 || v.msgs != 50 {
		t.Fatalf("verified %d in %d", v.verified(), v.msgs)
	}
	// A flipped byte.
	msg := append([]byte(nil), src.next()...)
	msg[123] ^= 1
	if v.check(msg) || v.badAt != 50000+123 || v.verified() != 50123 {
		t.Fatalf("flipped byte: bad %v at %d", v.bad, v.badAt)
	}
	// Reordering: skip a message.
	v2 := newBenchVerifier(h, content)
	src2 := newBenchSource(h, content)
	src2.next()
	if v2.check(src2.next()) {
		t.Fatal("a skipped message went unnoticed")
	}
	// A short message.
	v3 := newBenchVerifier(h, content)
	if v3.check(newBenchSource(h, content).next()[:999]) || v3.badAt != 999 {
		t.Fatalf("short message: bad %v at %d", v3.bad, v3.badAt)
	}
	// Two sides regenerate the same content from the header.
	h2, _ := parseBenchHeader([]byte(h.String()))
	if string(h2.content()) != string(content) {
		t.Fatal("content differs after a header round trip")
	}
}

// TestBenchReplyRoundTrip checks the server's verdict messages.
func TestBenchReplyRoundTrip(t *testing.T) {
	for _, r := range []benchReply{
		{ok: true, bytes: 1 << 40, msgs: 7, xxh: 0xfeedface},
		{bytes: 10, msgs: 1, xxh: 1, badAt: 3},
		{err: "bad size \"0\""},
	} {
		got, err := parseBenchReply([]byte(r.String()))
		if err != nil || got != r {
			t.Errorf("round trip %+v: %+v, %v", r, got, err)
		}
	}
	if _, err := parseBenchReply([]byte("sttfast-bench/1 maybe")); err == nil {
		t.Error("accepted a reply that is neither ok nor fail")
	}
}
