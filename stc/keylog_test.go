package stc

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestKeyLogLineRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	l := NewKeyLog(&buf)
	e := KeyLogEntry{SessionID: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, Dir: ResponderToInitiator, Generation: 12}
	for i := range e.Secret {
		e.Secret[i] = byte(i)
	}
	if err := l.Log(&e); err != nil {
		t.Fatal(err)
	}
	want := "STT_TRAFFIC_SECRET 0102030405060708 r2i 12 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
	if buf.String() != want {
		t.Fatalf("line %q, want %q", buf.String(), want)
	}
	got, err := ParseKeyLogLine(buf.Bytes())
	if err != nil || got != e {
		t.Fatalf("parsed %+v, %v", got, err)
	}
}

func TestParseKeyLogLineRefuses(t *testing.T) {
	for _, c := range []struct {
		line string
		want error
	}{
		{"", ErrKeyLogOtherLabel},
		{"# comment", ErrKeyLogOtherLabel},
		{"CLIENT_RANDOM aa bb", ErrKeyLogOtherLabel},
		{"STT_TRAFFIC_SECRET 0102030405060708 r2i 0", ErrKeyLogFormat},
		{"STT_TRAFFIC_SECRET 01020304050607 r2i 0 " + strings.Repeat("00", 32), ErrKeyLogFormat},
		{"STT_TRAFFIC_SECRET 010203040506070g r2i 0 " + strings.Repeat("00", 32), ErrKeyLogFormat},
		{"STT_TRAFFIC_SECRET 0102030405060708 x2y 0 " + strings.Repeat("00", 32), ErrKeyLogFormat},
		{"STT_TRAFFIC_SECRET 0102030405060708 i2r -1 " + strings.Repeat("00", 32), ErrKeyLogFormat},
		{"STT_TRAFFIC_SECRET 0102030405060708 i2r 0 " + strings.Repeat("00", 31), ErrKeyLogFormat},
	} {
		if _, err := ParseKeyLogLine([]byte(c.line)); !errors.Is(err, c.want) {
			t.Errorf("%q: %v, want %v", c.line, err, c.want)
		}
	}
}

// failWriter fails every write.
type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) { f.n++; return 0, errors.New("disk full") }

func TestKeyLogStopsAfterWriteError(t *testing.T) {
	var w failWriter
	l := NewKeyLog(&w)
	var e KeyLogEntry
	if err := l.Log(&e); err == nil {
		t.Fatal("first write error not returned")
	}
	if err := l.Log(&e); err != nil || w.n != 1 {
		t.Fatalf("after a write error: %v, %d writes", err, w.n)
	}
}

func TestKeyChainOnAdvanceReportsEachGeneration(t *testing.T) {
	var s0 Secret
	s0[0] = 9
	c, err := NewKeyChain(s0)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	want := NextGeneration(&s0)
	c.OnAdvance(func(gen uint64, s *Secret) {
		if *s != want {
			t.Fatalf("generation %d: secret is not the key update of the one before", gen)
		}
		want = NextGeneration(s)
		got = append(got, gen)
	})
	c.Advance()
	c.AdvanceAt(10)
	c.Advance()
	if len(got) != 3 || got[0] != 1 || got[2] != 3 {
		t.Fatalf("generations reported: %v", got)
	}
}

func FuzzParseKeyLogLine(f *testing.F) {
	f.Add([]byte("STT_TRAFFIC_SECRET 0102030405060708 r2i 12 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"))
	f.Add([]byte("STT_TRAFFIC_SECRET 0102030405060708 i2r 18446744073709551615 " + strings.Repeat("ff", 32)))
	f.Add([]byte("CLIENT_RANDOM 00 11"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := ParseKeyLogLine(line)
		if err != nil {
			return
		}
		// What parses is written back as an equivalent line.
		back, err := ParseKeyLogLine(appendKeyLogLine(nil, &e))
		if err != nil || back != e {
			t.Fatalf("%q parsed to %+v, which does not round-trip: %+v %v", line, e, back, err)
		}
	})
}
