package ctrl

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// resumeKATFile mirrors the "packets" of stc/testdata/resume_kat.json, written by
// stc/testdata/gen_resume_kat.py from PROTOCOL.md alone.
type resumeKATFile struct {
	Seed       string `json:"seed"`
	Resumption string `json:"resumption"`
	SessionID  string `json:"session_id"`
	NonceI     string `json:"nonce_i"`
	NonceR     string `json:"nonce_r"`
	TS         uint64 `json:"ts"`
	Packets    struct {
		HandshakeKey  string `json:"handshake_key"`
		NodeI         string `json:"node_i"`
		NodeR         string `json:"node_r"`
		Attempt       uint64 `json:"attempt"`
		Epoch         uint64 `json:"epoch"`
		FirstPN       uint64 `json:"first_pn"`
		RefusedReason uint64 `json:"refused_reason"`
		Resume        string `json:"resume"`
		Accept        string `json:"accept"`
		Refused       string `json:"refused"`
	} `json:"packets"`
}

// TestResumeKAT: the builders write the generator's RESUME, RESUME_ACCEPT and RESUME_REFUSED
// byte for byte, and the parser reads them back, each answer verified against the RESUME's MAC.
func TestResumeKAT(t *testing.T) {
	raw, err := os.ReadFile("../stc/testdata/resume_kat.json")
	if err != nil {
		t.Fatal(err)
	}
	var k resumeKATFile
	if err := json.Unmarshal(raw, &k); err != nil {
		t.Fatal(err)
	}
	p := &k.Packets
	seed, err := stc.NewSeed(katHex(t, k.Seed))
	if err != nil {
		t.Fatal(err)
	}
	hsKey := seed.HandshakeKey()
	if hex.EncodeToString(hsKey[:]) != p.HandshakeKey {
		t.Fatalf("K_hs %x", hsKey)
	}
	var secret stc.Secret
	copy(secret[:], katHex(t, k.Resumption))
	m := hsMsg{resumeID: [8]byte(katHex(t, k.SessionID)), epoch: p.Epoch, nonce: [32]byte(katHex(t, k.NonceI)),
		nodeID: [8]byte(katHex(t, p.NodeI)), ts: k.TS}
	copy(m.tag[:], m.nonce[:8])
	m.binder = stc.ResumeBinder(&secret, &m.resumeID, m.epoch, &m.nonce, m.ts)
	resume := buildResume(nil, &hsKey, &m, p.Attempt)
	if !bytes.Equal(resume, katHex(t, p.Resume)) {
		t.Fatalf("RESUME\n got %x\nwant %s", resume, p.Resume)
	}
	resumeMAC := resume[len(resume)-frame.MACSize:]
	nonceR := [32]byte(katHex(t, k.NonceR))
	nodeR := [8]byte(katHex(t, p.NodeR))
	accept := buildResumeAccept(nil, &hsKey, m.tag, p.Attempt, p.Epoch, &nonceR, &nodeR, p.FirstPN, resumeMAC)
	if !bytes.Equal(accept, katHex(t, p.Accept)) {
		t.Fatalf("RESUME_ACCEPT\n got %x\nwant %s", accept, p.Accept)
	}
	refused := buildResumeRefused(nil, &hsKey, m.tag, p.Attempt, p.Epoch, ResumeRefusal(p.RefusedReason), resumeMAC)
	if !bytes.Equal(refused, katHex(t, p.Refused)) {
		t.Fatalf("RESUME_REFUSED\n got %x\nwant %s", refused, p.Refused)
	}
	mac := stc.NewMAC(&hsKey)
	var got hsMsg
	if err := parseHandshake(resume, mac, nil, &got); err != nil || got.resumeID != m.resumeID || got.binder != m.binder ||
		got.epoch != m.epoch || got.nonce != m.nonce || got.ts != m.ts || got.attempt != p.Attempt {
		t.Fatalf("parse RESUME: %v %+v", err, got)
	}
	if err := parseHandshake(accept, mac, resumeMAC, &got); err != nil || got.respNonce != nonceR || got.firstPN != p.FirstPN {
		t.Fatalf("parse RESUME_ACCEPT: %v %+v", err, got)
	}
	if err := parseHandshake(accept, mac, nil, &got); err == nil {
		t.Fatal("RESUME_ACCEPT verified without the RESUME's MAC")
	}
	if err := parseHandshake(refused, mac, resumeMAC, &got); err != nil || got.reason != p.RefusedReason {
		t.Fatalf("parse RESUME_REFUSED: %v %+v", err, got)
	}
}
