package objcodec

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/sttfast/sttfast/stc"
)

// FuzzDecoder feeds arbitrary bytes to the decoder, as objects and as segments: every outcome
// is a value or one of the package's errors, never a panic, and an object it returns hashes to
// its digest.
func FuzzDecoder(f *testing.F) {
	f.Add(encodedObject([]byte("seed object")))
	f.Add(encodedObject(nil))
	f.Add([]byte{kindSegments, 0, 0, 0, 2, 'h', 'i', 0, 0, 0, 0})
	f.Add([]byte{kindObject, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, wire []byte) {
		content, digest, err := NewDecoder(bytes.NewReader(wire), 4096, 0).ReadObject()
		if err == nil && stc.Hash(content) != digest {
			t.Fatal("an object was returned that does not hash to its digest")
		}
		checkErr(t, err)
		dec := NewDecoder(bytes.NewReader(wire), 0, 4096)
		for range len(wire) + 1 {
			seg, err := dec.NextSegment(nil)
			if err != nil {
				checkErr(t, err)
				return
			}
			if len(seg) == 0 || len(seg) > 4096 {
				t.Fatalf("segment of %d bytes", len(seg))
			}
		}
		t.Fatal("more segments than input bytes")
	})
}

func checkErr(t *testing.T, err error) {
	if err == nil || err == io.EOF {
		return
	}
	for _, known := range []error{ErrBadKind, ErrTooLarge, ErrTruncated, ErrDigestMismatch} {
		if errors.Is(err, known) {
			return
		}
	}
	t.Fatalf("untyped error %v", err)
}
