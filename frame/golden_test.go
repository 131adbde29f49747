package frame

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The files in testdata/golden pin the wire format: they were written by hand from
// docs/PROTOCOL.md, not produced by this encoder. A change that breaks one of these tests
// changes the protocol.

type goldenLine struct {
	name  string
	bytes []byte
	extra string // third column, if any
}

func readGolden(t *testing.T, file string) []goldenLine {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "golden", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []goldenLine
	seen := map[string]bool{}
	s := bufio.NewScanner(f)
	for n := 1; s.Scan(); n++ {
		line := s.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) < 2 || len(cols) > 3 {
			t.Fatalf("%s:%d: want name<TAB>hex[<TAB>error], got %q", file, n, line)
		}
		b, err := hex.DecodeString(strings.ReplaceAll(cols[1], " ", ""))
		if err != nil {
			t.Fatalf("%s:%d: %v", file, n, err)
		}
		if seen[cols[0]] {
			t.Fatalf("%s:%d: duplicate name %s", file, n, cols[0])
		}
		seen[cols[0]] = true
		l := goldenLine{name: cols[0], bytes: b}
		if len(cols) == 3 {
			l.extra = cols[2]
		}
		lines = append(lines, l)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestGoldenFrames(t *testing.T) {
	golden := map[string][]byte{}
	for _, l := range readGolden(t, "frames.txt") {
		golden[l.name] = l.bytes
	}
	for _, c := range frameCases {
		want, ok := golden[c.name]
		if !ok {
			t.Errorf("%s: no golden vector", c.name)
			continue
		}
		delete(golden, c.name)
		if !bytes.Equal(c.enc, want) {
			t.Errorf("%s: encoder wrote %x, golden is %x", c.name, c.enc, want)
		}
		var f Frame
		n, err := ParseFrame(want, &f)
		if err != nil || n != len(want) {
			t.Errorf("%s: ParseFrame(golden) = %d, %v", c.name, n, err)
			continue
		}
		if got := describe(&f); got != c.want {
			t.Errorf("%s: golden parses as\n%s\nwant\n%s", c.name, got, c.want)
		}
		if re := AppendFrame(nil, &f); !bytes.Equal(re, want) {
			t.Errorf("%s: golden re-encodes as %x", c.name, re)
		}
	}
	for name := range golden {
		t.Errorf("golden vector %s has no test case", name)
	}
}

func TestGoldenHeaders(t *testing.T) {
	golden := map[string][]byte{}
	for _, l := range readGolden(t, "headers.txt") {
		golden[l.name] = l.bytes
	}
	for _, c := range headerCases {
		want, ok := golden[c.name]
		if !ok {
			t.Errorf("%s: no golden vector", c.name)
			continue
		}
		delete(golden, c.name)
		if enc := AppendHeader(nil, &c.h); !bytes.Equal(enc, want) {
			t.Errorf("%s: encoder wrote %x, golden is %x", c.name, enc, want)
		}
		var h Header
		if err := ParseHeader(want, &h); err != nil || h.Len != len(want) || h.PacketNumber != c.wirePN {
			t.Errorf("%s: ParseHeader(golden) = %+v, %v", c.name, h, err)
			continue
		}
		if re := AppendHeader(nil, &h); !bytes.Equal(re, want) {
			t.Errorf("%s: golden re-encodes as %x", c.name, re)
		}
	}
	for name := range golden {
		t.Errorf("golden vector %s has no test case", name)
	}
}

var errorsByName = map[string]error{
	"ErrTruncated":    ErrTruncated,
	"ErrBadMagic":     ErrBadMagic,
	"ErrBadVersion":   ErrBadVersion,
	"ErrBadKind":      ErrBadKind,
	"ErrBadHeader":    ErrBadHeader,
	"ErrOversize":     ErrOversize,
	"ErrBadVarint":    ErrBadVarint,
	"ErrUnknownFrame": ErrUnknownFrame,
	"ErrBadAck":       ErrBadAck,
	"ErrBadFrame":     ErrBadFrame,
}

func TestGoldenInvalid(t *testing.T) {
	for _, l := range readGolden(t, "invalid.txt") {
		want := errorsByName[l.extra]
		if want == nil {
			t.Errorf("%s: unknown error %q", l.name, l.extra)
			continue
		}
		var err error
		switch {
		case strings.HasPrefix(l.name, "header/"):
			var h Header
			err = ParseHeader(l.bytes, &h)
		case strings.HasPrefix(l.name, "frame/"):
			var f Frame
			_, err = ParseFrame(l.bytes, &f)
		default:
			t.Errorf("%s: name must start with header/ or frame/", l.name)
			continue
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", l.name, err, want)
		}
	}
}
