package ctrl

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"os"
	"testing"

	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// handshakeKAT mirrors testdata/handshake_kat.json, written by testdata/gen_handshake_kat.py: an
// independent Python implementation of docs/PROTOCOL.md §1-§4, so these tests check the Go
// handshake against the specification rather than against itself.
type handshakeKAT struct {
	Vectors []struct {
		Name          string `json:"name"`
		Seed          string `json:"seed"`
		HandshakeKey  string `json:"handshake_key"`
		CookieKey     string `json:"cookie_key"`
		NonceI        string `json:"nonce_i"`
		NodeI         string `json:"node_i"`
		TSI           uint64 `json:"ts_i"`
		NodeR         string `json:"node_r"`
		TSR           uint64 `json:"ts_r"`
		Attempt       uint64 `json:"attempt"`
		InitiatorAddr string `json:"initiator_addr"`
		InitiatorPort uint16 `json:"initiator_port"`
		Hello         string `json:"hello"`
		HelloMAC      string `json:"hello_mac"`
		NonceR        string `json:"nonce_r"`
		Challenge     string `json:"challenge"`
		AuthProof     string `json:"auth_proof"`
		TSClock       uint64 `json:"ts_clock"`
		Clock         string `json:"clock"`
		Transcript    string `json:"transcript"`
		Session       struct {
			ID         string `json:"id"`
			I2R        string `json:"i2r"`
			R2I        string `json:"r2i"`
			Resumption string `json:"resumption"`
		} `json:"session"`
	} `json:"vectors"`
}

func katHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func katArr32(t *testing.T, s string) (a [32]byte) {
	t.Helper()
	b := katHex(t, s)
	if len(b) != 32 {
		t.Fatalf("want 32 bytes, got %d", len(b))
	}
	copy(a[:], b)
	return a
}

func katArr8(t *testing.T, s string) (a [8]byte) {
	t.Helper()
	b := katHex(t, s)
	if len(b) != 8 {
		t.Fatalf("want 8 bytes, got %d", len(b))
	}
	copy(a[:], b)
	return a
}

func loadHandshakeKAT(t *testing.T) *handshakeKAT {
	t.Helper()
	b, err := os.ReadFile("testdata/handshake_kat.json")
	if err != nil {
		t.Fatal(err)
	}
	var k handshakeKAT
	if err := json.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	if len(k.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	return &k
}

// TestHandshakeKAT pins the exact bytes of HELLO, CHALLENGE, AUTH_PROOF and CLOCK, the cookie
// nonce, and the session id and traffic secrets both sides derive.
func TestHandshakeKAT(t *testing.T) {
	k := loadHandshakeKAT(t)
	for _, v := range k.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			seed, err := stc.NewSeed(katHex(t, v.Seed))
			if err != nil {
				t.Fatal(err)
			}
			hsKey := seed.HandshakeKey()
			if got := hex.EncodeToString(hsKey[:]); got != v.HandshakeKey {
				t.Fatalf("K_hs = %s, want %s", got, v.HandshakeKey)
			}
			cookieKey := stc.MACKey(katArr32(t, v.CookieKey))
			nonceI := katArr32(t, v.NonceI)
			nodeI := katArr8(t, v.NodeI)
			nodeR := katArr8(t, v.NodeR)
			tag := [8]byte(nonceI[:8])
			from := netip.AddrPortFrom(netip.MustParseAddr(v.InitiatorAddr), v.InitiatorPort)

			// HELLO: exact bytes, exactly HelloMinSize long.
			hello := buildHello(nil, &hsKey, &nonceI, &nodeI, v.TSI, v.Attempt)
			wantHello := katHex(t, v.Hello)
			if !bytes.Equal(hello, wantHello) {
				t.Fatalf("HELLO differs from the spec:\n got %x\nwant %x", hello, wantHello)
			}
			if len(hello) != frame.HelloMinSize {
				t.Fatalf("HELLO is %d bytes, want %d", len(hello), frame.HelloMinSize)
			}
			helloMAC := hello[len(hello)-frame.MACSize:]
			if got := hex.EncodeToString(helloMAC); got != v.HelloMAC {
				t.Fatalf("HELLO MAC %s, want %s", got, v.HelloMAC)
			}

			// The stateless cookie.
			nonceR := cookieNonce(stc.NewMAC(&cookieKey), &nonceI, v.TSR, from)
			if got := hex.EncodeToString(nonceR[:]); got != v.NonceR {
				t.Fatalf("nonce_r = %s, want %s", got, v.NonceR)
			}
			// An IPv4 peer seen as IPv4-mapped IPv6 (a dual-stack socket) gets the same cookie.
			if from.Addr().Is4() {
				mapped := netip.AddrPortFrom(netip.AddrFrom16(from.Addr().As16()), from.Port())
				if n2 := cookieNonce(stc.NewMAC(&cookieKey), &nonceI, v.TSR, mapped); n2 != nonceR {
					t.Fatalf("cookie differs for the IPv4-mapped form of %v", from)
				}
			}

			// CHALLENGE, bound to the HELLO's MAC.
			ch := buildChallenge(nil, &hsKey, tag, v.Attempt, &nonceR, &nodeR, v.TSR, helloMAC)
			if want := katHex(t, v.Challenge); !bytes.Equal(ch, want) {
				t.Fatalf("CHALLENGE differs from the spec:\n got %x\nwant %x", ch, want)
			}
			if len(ch) >= len(hello) {
				t.Fatalf("CHALLENGE (%d bytes) not smaller than the HELLO (%d)", len(ch), len(hello))
			}

			// AUTH_PROOF carrying the whole transcript.
			m := hsMsg{nonce: nonceI, ts: v.TSI, respNonce: nonceR, respTS: v.TSR, respNodeID: nodeR}
			pr := buildProof(nil, &hsKey, tag, v.Attempt, &m, &nodeI)
			if want := katHex(t, v.AuthProof); !bytes.Equal(pr, want) {
				t.Fatalf("AUTH_PROOF differs from the spec:\n got %x\nwant %x", pr, want)
			}

			// CLOCK (the responder's time for a HELLO outside its window), bound to the HELLO.
			ck := buildClock(nil, &hsKey, tag, v.Attempt, v.TSClock, helloMAC)
			wantClock := katHex(t, v.Clock)
			if !bytes.Equal(ck, wantClock) {
				t.Fatalf("CLOCK differs from the spec:\n got %x\nwant %x", ck, wantClock)
			}
			if len(ck) >= len(hello) {
				t.Fatalf("CLOCK (%d bytes) not smaller than the HELLO (%d)", len(ck), len(hello))
			}

			// The parser reads the spec's bytes back into the same fields.
			mac := stc.NewMAC(&hsKey)
			var hm, cm, pm hsMsg
			if err := parseHandshake(wantHello, mac, nil, &hm); err != nil {
				t.Fatalf("parse HELLO: %v", err)
			}
			if hm.typ != frame.TypeHello || hm.tag != tag || hm.attempt != v.Attempt || hm.nonce != nonceI ||
				hm.nodeID != nodeI || hm.ts != v.TSI || !bytes.Equal(hm.mac[:], helloMAC) {
				t.Fatalf("parsed HELLO %+v", hm)
			}
			if err := parseHandshake(katHex(t, v.Challenge), mac, helloMAC, &cm); err != nil {
				t.Fatalf("parse CHALLENGE: %v", err)
			}
			if cm.typ != frame.TypeChallenge || cm.tag != tag || cm.attempt != v.Attempt || cm.respNonce != nonceR ||
				cm.respNodeID != nodeR || cm.respTS != v.TSR {
				t.Fatalf("parsed CHALLENGE %+v", cm)
			}
			// Without the HELLO's MAC the CHALLENGE does not verify: it is bound to that HELLO.
			if err := parseHandshake(katHex(t, v.Challenge), mac, nil, &cm); err != errMAC {
				t.Fatalf("CHALLENGE verified without its HELLO MAC: %v", err)
			}
			var km hsMsg
			if err := parseHandshake(wantClock, mac, helloMAC, &km); err != nil {
				t.Fatalf("parse CLOCK: %v", err)
			}
			if km.typ != frame.TypeClock || km.tag != tag || km.attempt != v.Attempt || km.respTS != v.TSClock {
				t.Fatalf("parsed CLOCK %+v", km)
			}
			if err := parseHandshake(wantClock, mac, nil, &km); err != errMAC {
				t.Fatalf("CLOCK verified without its HELLO MAC: %v", err)
			}
			if err := parseHandshake(katHex(t, v.AuthProof), mac, nil, &pm); err != nil {
				t.Fatalf("parse AUTH_PROOF: %v", err)
			}
			if pm.typ != frame.TypeAuthProof || pm.tag != tag || pm.attempt != v.Attempt || pm.nonce != nonceI ||
				pm.ts != v.TSI || pm.nodeID != nodeI || pm.respNonce != nonceR || pm.respTS != v.TSR || pm.respNodeID != nodeR {
				t.Fatalf("parsed AUTH_PROOF %+v", pm)
			}

			// Session keys: both sides derive the same, from the transcript's nonces.
			tr := transcript(&nonceI, &nonceR)
			if got := hex.EncodeToString(tr[:]); got != v.Transcript {
				t.Fatalf("transcript %s, want %s", got, v.Transcript)
			}
			ki := seed.DeriveSession(&pm.nonce, &cm.respNonce) // initiator: its nonce, the challenge's
			kr := seed.DeriveSession(&pm.nonce, &pm.respNonce) // responder: both from AUTH_PROOF
			for _, keys := range []*stc.SessionKeys{&ki, &kr} {
				if got := hex.EncodeToString(keys.ID[:]); got != v.Session.ID {
					t.Fatalf("session id %s, want %s", got, v.Session.ID)
				}
				if got := hex.EncodeToString(keys.I2R[:]); got != v.Session.I2R {
					t.Fatalf("i2r %s, want %s", got, v.Session.I2R)
				}
				if got := hex.EncodeToString(keys.R2I[:]); got != v.Session.R2I {
					t.Fatalf("r2i %s, want %s", got, v.Session.R2I)
				}
				if got := hex.EncodeToString(keys.Resumption[:]); got != v.Session.Resumption {
					t.Fatalf("resumption %s, want %s", got, v.Session.Resumption)
				}
			}
			iSend, iRecv := ki.Directional(true)
			rSend, rRecv := kr.Directional(false)
			if *iSend != *rRecv || *rSend != *iRecv {
				t.Fatal("initiator send != responder recv (or the reverse)")
			}
			if *iSend == *iRecv {
				t.Fatal("both directions share a traffic secret")
			}
		})
	}
}
