package objcodec

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/sttfast/sttfast/stc"
)

func TestObjectRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 4))
	for _, size := range []int{0, 1, writeChunk - 1, writeChunk, 3*writeChunk + 7} {
		content := make([]byte, size)
		for i := range content {
			content[i] = byte(rng.Uint32())
		}
		var wire bytes.Buffer
		key, err := NewEncoder(&wire).WriteObject(content)
		if err != nil || key != stc.Hash(content) {
			t.Fatalf("WriteObject: %v, key %s", err, key)
		}
		if wire.Len() != 1+8+size+stc.DigestSize {
			t.Fatalf("%d bytes on the wire for %d of content", wire.Len(), size)
		}
		got, gotKey, err := NewDecoder(&wire, 0, 0).ReadObject()
		if err != nil || gotKey != key || !bytes.Equal(got, content) {
			t.Fatalf("size %d: ReadObject = %d bytes, %v", size, len(got), err)
		}
	}
}

func TestSegmentsRoundTrip(t *testing.T) {
	var wire bytes.Buffer
	enc := NewEncoder(&wire)
	segments := []string{"frame 1", "telemetry", string(bytes.Repeat([]byte{7}, 40000))}
	enc.BeginSegments()
	for _, s := range segments {
		if err := enc.WriteSegment([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.WriteSegment(nil); !errors.Is(err, ErrEmptySegment) {
		t.Fatalf("empty segment: %v", err)
	}
	enc.EndSegments()
	NewEncoder(&wire).WriteObject([]byte("after the feed")) // the same stream goes on

	dec := NewDecoder(&wire, 0, 0)
	var buf []byte
	var err error
	for _, want := range segments {
		if buf, err = dec.NextSegment(buf); err != nil || string(buf) != want {
			t.Fatalf("segment %.10q: %v", buf, err)
		}
	}
	if _, err = dec.NextSegment(buf); err != io.EOF {
		t.Fatalf("after the end: %v, want io.EOF", err)
	}
	if obj, _, err := dec.ReadObject(); err != nil || string(obj) != "after the feed" {
		t.Fatalf("object after the segments: %q, %v", obj, err)
	}
}

// encodedObject returns the wire form of content.
func encodedObject(content []byte) []byte {
	var wire bytes.Buffer
	NewEncoder(&wire).WriteObject(content)
	return wire.Bytes()
}

func TestHostileObjects(t *testing.T) {
	good := encodedObject([]byte("sixteen bytes!!!"))
	flipped := bytes.Clone(good)
	flipped[12] ^= 1 // a content byte
	badDigest := bytes.Clone(good)
	badDigest[len(badDigest)-1] ^= 1
	huge := bytes.Clone(good)
	huge[1] = 0xFF // announces about 2^64 bytes
	for _, tc := range []struct {
		name string
		wire []byte
		want error
	}{
		{"content changed", flipped, ErrDigestMismatch},
		{"digest changed", badDigest, ErrDigestMismatch},
		{"length over the cap", huge, ErrTooLarge},
		{"cut in the header", good[:5], ErrTruncated},
		{"cut in the content", good[:15], ErrTruncated},
		{"cut in the digest", good[:len(good)-1], ErrTruncated},
		{"wrong kind", append([]byte{kindSegments}, good[1:]...), ErrBadKind},
		{"nothing at all", nil, io.EOF},
	} {
		_, _, err := NewDecoder(bytes.NewReader(tc.wire), 1024, 0).ReadObject()
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestHostileSegments(t *testing.T) {
	for _, tc := range []struct {
		name string
		wire []byte
		want error
	}{
		{"no end", []byte{kindSegments, 0, 0, 0, 1, 'a'}, ErrTruncated},
		{"cut in a length", []byte{kindSegments, 0, 0}, ErrTruncated},
		{"cut in a segment", []byte{kindSegments, 0, 0, 0, 9, 'a'}, ErrTruncated},
		{"over the cap", []byte{kindSegments, 0xFF, 0xFF, 0xFF, 0xFF}, ErrTooLarge},
		{"object kind", []byte{kindObject, 0, 0, 0, 0}, ErrBadKind},
	} {
		dec := NewDecoder(bytes.NewReader(tc.wire), 0, 64)
		var err error
		for err == nil {
			_, err = dec.NextSegment(nil)
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
