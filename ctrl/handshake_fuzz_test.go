package ctrl

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// fuzzKey is the handshake MAC key of the fuzz target (K_hs of the seed 00..1f).
func fuzzKey(t testing.TB) stc.MACKey {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i)
	}
	s, err := stc.NewSeed(b)
	if err != nil {
		t.Fatal(err)
	}
	return s.HandshakeKey()
}

// reencode rebuilds the packet parseHandshake accepted from the fields it returned: header and
// message. Varints are minimal, so the encoding is unique; whatever follows it up to the MAC must
// be PADDING (zero bytes).
func reencode(m *hsMsg) []byte {
	b := reencodeMessage(m)
	if b != nil && m.hasShare {
		b = frame.AppendKeyShare(b, &m.share)
	}
	return b
}

func reencodeMessage(m *hsMsg) []byte {
	b := hsHeader(nil, m.tag, m.attempt)
	switch m.typ {
	case frame.TypeFSRequired:
		return frame.AppendFSRequired(b)
	case frame.TypeHello:
		return frame.AppendHello(b, frame.Version, &m.nonce, &m.nodeID, m.ts)
	case frame.TypeChallenge:
		return frame.AppendChallenge(b, &m.respNonce, &m.respNodeID, m.respTS)
	case frame.TypeAuthProof:
		return frame.AppendAuthProof(b, &m.nonce, m.ts, &m.nodeID, &m.respNonce, m.respTS, &m.respNodeID)
	case frame.TypeClock:
		return frame.AppendClock(b, m.respTS)
	}
	return nil
}

// checkAccepted holds for every packet parseHandshake accepts: it is the exact encoding of the
// parsed message, zero padding and the MAC over everything before it.
func checkAccepted(t *testing.T, d []byte, m *hsMsg) {
	t.Helper()
	enc := reencode(m)
	if enc == nil {
		t.Fatalf("accepted message type %#x", m.typ)
	}
	body := d[:len(d)-frame.MACSize]
	if len(body) < len(enc) || !bytes.Equal(body[:len(enc)], enc) {
		t.Fatalf("accepted packet is not the encoding of what was parsed:\npacket %x\nfields %x", body, enc)
	}
	for _, c := range body[len(enc):] {
		if c != 0 {
			t.Fatalf("non-PADDING bytes after the message were accepted: %x", body[len(enc):])
		}
	}
	if !bytes.Equal(m.mac[:], d[len(body):]) {
		t.Fatal("parsed MAC differs from the packet's")
	}
}

// FuzzHandshakeParse: parseHandshake never panics on arbitrary bytes (as received, and with a
// valid MAC appended so the fuzzer reaches the frame parser), accepts only exact encodings, and
// every packet the builders make round-trips field for field; one flipped bit anywhere in a built
// packet makes it fail.
func FuzzHandshakeParse(f *testing.F) {
	key := fuzzKey(f)
	// Seeds: the spec's known-answer packets (also in testdata/fuzz/FuzzHandshakeParse).
	if b, err := os.ReadFile("testdata/handshake_kat.json"); err == nil {
		var k handshakeKAT
		if json.Unmarshal(b, &k) == nil {
			for _, v := range k.Vectors {
				for _, h := range []string{v.Hello, v.Challenge, v.AuthProof, v.Clock} {
					p, _ := hex.DecodeString(h)
					f.Add(p, v.TSI, v.TSR, uint8(v.Attempt), false)
					f.Add(p[:len(p)-frame.MACSize], v.TSI, v.TSR, uint8(v.Attempt), true)
				}
			}
		}
	}
	mac := stc.NewMAC(&key)
	extra := bytes.Repeat([]byte{0xEE}, frame.MACSize)
	f.Fuzz(func(t *testing.T, data []byte, ts, tsR uint64, attempt uint8, fixMAC bool) {
		var m hsMsg
		// 1. Arbitrary bytes, with and without the extra MAC input of a CHALLENGE or CLOCK.
		for _, x := range [][]byte{nil, extra} {
			if err := parseHandshake(data, mac, x, &m); err == nil {
				if x != nil {
					t.Fatal("a packet verified with and without the extra MAC input")
				}
				checkAccepted(t, data, &m)
			}
		}
		// 2. The same bytes made authentic: everything after the MAC check is exercised.
		if fixMAC {
			d := key.Sum(append([]byte(nil), data...), data)
			m = hsMsg{}
			if err := parseHandshake(d, mac, nil, &m); err == nil {
				checkAccepted(t, d, &m)
			}
		}

		// 3. Builders round-trip, for fields drawn from the input.
		ts &= frame.MaxVarint
		tsR &= frame.MaxVarint
		var nonceI, nonceR [32]byte
		nonceI = sha256.Sum256(append([]byte("i"), data...))
		nonceR = sha256.Sum256(append([]byte("r"), data...))
		var nodeI, nodeR [8]byte
		copy(nodeI[:], nonceR[8:])
		copy(nodeR[:], nonceI[16:])
		tag := [8]byte(nonceI[:8])
		hello := buildHello(nil, &key, &nonceI, &nodeI, ts, uint64(attempt))
		if len(hello) != frame.HelloMinSize {
			t.Fatalf("HELLO is %d bytes", len(hello))
		}
		helloMAC := hello[len(hello)-frame.MACSize:]
		ch := buildChallenge(nil, &key, tag, uint64(attempt), &nonceR, &nodeR, tsR, helloMAC)
		pm := hsMsg{nonce: nonceI, ts: ts, respNonce: nonceR, respTS: tsR, respNodeID: nodeR}
		pr := buildProof(nil, &key, tag, uint64(attempt), &pm, &nodeI)
		ck := buildClock(nil, &key, tag, uint64(attempt), tsR, helloMAC)
		if len(ch) >= len(hello) || len(pr) >= len(hello) || len(ck) >= len(hello) {
			t.Fatalf("CHALLENGE %d / AUTH_PROOF %d / CLOCK %d bytes, HELLO %d", len(ch), len(pr), len(ck), len(hello))
		}

		var hm, cm, qm hsMsg
		if err := parseHandshake(hello, mac, nil, &hm); err != nil {
			t.Fatalf("own HELLO: %v", err)
		}
		if hm.typ != frame.TypeHello || hm.tag != tag || hm.attempt != uint64(attempt) || hm.nonce != nonceI || hm.nodeID != nodeI || hm.ts != ts {
			t.Fatalf("HELLO round trip: %+v", hm)
		}
		checkAccepted(t, hello, &hm)
		if err := parseHandshake(ch, mac, helloMAC, &cm); err != nil {
			t.Fatalf("own CHALLENGE: %v", err)
		}
		if cm.typ != frame.TypeChallenge || cm.tag != tag || cm.attempt != uint64(attempt) || cm.respNonce != nonceR || cm.respNodeID != nodeR || cm.respTS != tsR {
			t.Fatalf("CHALLENGE round trip: %+v", cm)
		}
		checkAccepted(t, ch, &cm)
		if err := parseHandshake(pr, mac, nil, &qm); err != nil {
			t.Fatalf("own AUTH_PROOF: %v", err)
		}
		if qm.typ != frame.TypeAuthProof || qm.tag != tag || qm.nonce != nonceI || qm.ts != ts || qm.nodeID != nodeI ||
			qm.respNonce != nonceR || qm.respTS != tsR || qm.respNodeID != nodeR {
			t.Fatalf("AUTH_PROOF round trip: %+v", qm)
		}
		checkAccepted(t, pr, &qm)
		var km hsMsg
		if err := parseHandshake(ck, mac, helloMAC, &km); err != nil {
			t.Fatalf("own CLOCK: %v", err)
		}
		if km.typ != frame.TypeClock || km.tag != tag || km.attempt != uint64(attempt) || km.respTS != tsR {
			t.Fatalf("CLOCK round trip: %+v", km)
		}
		checkAccepted(t, ck, &km)

		// 4. Any single flipped bit is refused (the MAC covers every byte, itself included).
		for i, p := range [][]byte{hello, ch, pr, ck} {
			var x []byte
			if i == 1 || i == 3 {
				x = helloMAC
			}
			pos := (len(data)*131 + int(ts%1009)) % (8 * len(p))
			q := append([]byte(nil), p...)
			q[pos/8] ^= 1 << (pos % 8)
			if err := parseHandshake(q, mac, x, &m); err == nil {
				t.Fatalf("packet %d with bit %d flipped was accepted", i, pos)
			}
		}
	})
}

// FuzzDialerClock feeds a dial waiting for the answer to one HELLO arbitrary bytes as that answer
// (as received, and MACed with the seed and bound to the HELLO so that the fuzzer reaches the
// message checks and the dialer's CLOCK handling). Invariants: nothing but the exact encoding of
// a CLOCK or CHALLENGE bound to that HELLO is accepted; a CLOCK moves the dial's offset to within
// a century whatever the time it carries, the next HELLO's timestamp stays a valid varint, one
// HELLO is corrected at most once, and at most maxClockRetries HELLOs are sent at once on CLOCKs.
func FuzzDialerClock(f *testing.F) {
	key := fuzzKey(f)
	if b, err := os.ReadFile("testdata/handshake_kat.json"); err == nil {
		var k handshakeKAT
		if json.Unmarshal(b, &k) == nil {
			for _, v := range k.Vectors {
				p, _ := hex.DecodeString(v.Clock)
				f.Add(p, false, uint8(0))
				f.Add(p[:len(p)-frame.MACSize], true, uint8(3))
			}
		}
	}
	mac := stc.NewMAC(&key)
	var nonce [32]byte
	var node [8]byte
	for i := range nonce {
		nonce[i] = byte(i * 3)
	}
	tag := [8]byte(nonce[:8])
	f.Fuzz(func(t *testing.T, data []byte, fixMAC bool, repeat uint8) {
		sent := time.Now()
		hello := buildHello(nil, &key, &nonce, &node, uint64(sent.UnixMilli()), 0)
		helloMAC := hello[len(hello)-frame.MACSize:]
		d := data
		if fixMAC {
			d = key.Sum(append([]byte(nil), data...), data, helloMAC)
		}
		var m hsMsg
		if err := parseHandshake(d, mac, helloMAC, &m); err != nil {
			return
		}
		checkAccepted(t, d, &m)
		if m.typ != frame.TypeClock {
			return
		}
		ds := &dialState{clockRetry: make(chan struct{}, 1)}
		ds.attempts = []helloAttempt{{tag: tag, nonce: nonce, sent: sent, local: sent}}
		signals := 0
		for i := 0; i <= int(repeat%8); i++ {
			// Each round: the newest HELLO answered by this CLOCK, twice.
			if err := ds.onClock(&ds.attempts[len(ds.attempts)-1], &m); err != nil {
				t.Fatal(err)
			}
			if err := ds.onClock(&ds.attempts[len(ds.attempts)-1], &m); err != nil { // a duplicate
				t.Fatal(err)
			}
			select {
			case <-ds.clockRetry:
				signals++
			default:
			}
			if ds.offset > maxSkewMs*time.Millisecond || ds.offset < -maxSkewMs*time.Millisecond {
				t.Fatalf("offset %v from a CLOCK at %d", ds.offset, m.respTS)
			}
			ts := max(0, time.Now().Add(ds.offset).UnixMilli())
			if uint64(ts) > frame.MaxVarint {
				t.Fatalf("next HELLO timestamp %d", ts)
			}
			buildHello(nil, &key, &nonce, &node, uint64(ts), uint64(i+1))
			ds.attempts = append(ds.attempts, helloAttempt{tag: tag, nonce: nonce, sent: time.Now(), local: time.Now()})
		}
		if ds.clocks != int(repeat%8)+1 {
			t.Fatalf("%d CLOCKs taken for %d answered HELLOs (duplicates must not count)", ds.clocks, repeat%8+1)
		}
		if signals > maxClockRetries {
			t.Fatalf("%d HELLOs sent at once on CLOCKs", signals)
		}
	})
}
