package attack

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// TestHelloKitKAT: the attacker's HELLO builder produces the exact bytes of the handshake
// known-answer vectors (ctrl/testdata/handshake_kat.json, written by an independent Python
// implementation of docs/PROTOCOL.md), so the flood's valid HELLOs are the real thing.
func TestHelloKitKAT(t *testing.T) {
	b, err := os.ReadFile("../../ctrl/testdata/handshake_kat.json")
	if err != nil {
		t.Fatal(err)
	}
	var kat struct {
		Vectors []struct {
			RawName  string `json:"name"`
			RawSeed  string `json:"seed"`
			RawNonce string `json:"nonce_i"`
			RawNode  string `json:"node_i"`
			TSI      uint64 `json:"ts_i"`
			Attempt  uint8  `json:"attempt"`
			RawHello string `json:"hello"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(b, &kat); err != nil {
		t.Fatal(err)
	}
	if len(kat.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	unhex := func(s string) []byte {
		t.Helper()
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, v := range kat.Vectors {
		seed, err := stc.NewSeed(unhex(v.RawSeed))
		if err != nil {
			t.Fatal(err)
		}
		kit := NewHelloKit(seed)
		copy(kit.Node[:], unhex(v.RawNode))
		nonce := [32]byte(unhex(v.RawNonce))
		got := kit.Hello(nil, &nonce, v.TSI, v.Attempt)
		if want := unhex(v.RawHello); !bytes.Equal(got, want) {
			t.Errorf("%s: HELLO\n got %x\nwant %x", v.RawName, got, want)
		}
		// The bad-MAC HELLO is the same packet with another MAC.
		var mac [32]byte
		bad := BadMACHello(nil, &nonce, &kit.Node, v.TSI, &mac)
		if v.Attempt == 0 && (len(bad) != len(got) || !bytes.Equal(bad[:len(bad)-frame.MACSize], got[:len(got)-frame.MACSize])) {
			t.Errorf("%s: bad-MAC HELLO differs from the HELLO before its MAC", v.RawName)
		}
	}
}

// TestParseReply classifies a CHALLENGE and garbage.
func TestParseReply(t *testing.T) {
	var nonce [32]byte
	nonce[0] = 9
	var node [8]byte
	h := frame.Header{Kind: frame.KindHandshake, SessionID: [8]byte(nonce[:8]), PNLen: 1}
	ch := frame.AppendChallenge(frame.AppendHeader(nil, &h), &nonce, &node, 5)
	r := ParseReply(ch)
	if !r.Valid || r.Kind != frame.KindHandshake || r.Type != frame.TypeChallenge || r.Tag != h.SessionID || r.Size != len(ch) {
		t.Fatalf("CHALLENGE parsed as %+v", r)
	}
	if r := ParseReply([]byte{1, 2, 3}); r.Valid || r.Size != 3 {
		t.Fatalf("garbage parsed as %+v", r)
	}
}
