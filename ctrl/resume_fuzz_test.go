package ctrl

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// FuzzResumeParse: the RESUME exchange's messages, as the handshake parser reads them. Arbitrary
// bytes (as received, and made authentic with a MAC so the fuzzer reaches the frame parser)
// never panic and are accepted only as the exact encoding of what was parsed; the builders'
// packets, for fields drawn from the input, round-trip field for field, a RESUME is exactly
// HelloMinSize bytes and its answers are smaller.
func FuzzResumeParse(f *testing.F) {
	key := fuzzKey(f)
	if raw, err := os.ReadFile("../stc/testdata/resume_kat.json"); err == nil {
		var k resumeKATFile
		if json.Unmarshal(raw, &k) == nil {
			for _, h := range []string{k.Packets.Resume, k.Packets.Accept, k.Packets.Refused} {
				p, _ := hex.DecodeString(h)
				f.Add(p, uint64(1), uint64(70000))
			}
		}
	}
	mac := stc.NewMAC(&key)
	f.Fuzz(func(t *testing.T, data []byte, epoch, firstPN uint64) {
		var m hsMsg
		if err := parseHandshake(data, mac, nil, &m); err == nil {
			checkAccepted(t, data, &m)
		}
		d := key.Sum(append([]byte(nil), data...), data)
		m = hsMsg{}
		if err := parseHandshake(d, mac, nil, &m); err == nil {
			checkAccepted(t, d, &m)
		}

		epoch &= frame.MaxVarint
		firstPN &= frame.MaxVarint
		sum := sha256.Sum256(data)
		rm := hsMsg{resumeID: [8]byte(sum[:8]), epoch: epoch, nonce: sha256.Sum256(append([]byte("i"), data...)),
			nodeID: [8]byte(sum[8:16]), ts: firstPN, binder: sha256.Sum256(append([]byte("b"), data...))}
		copy(rm.tag[:], rm.nonce[:8])
		resume := buildResume(nil, &key, &rm, epoch&0xff)
		if len(resume) != frame.HelloMinSize {
			t.Fatalf("RESUME is %d bytes", len(resume))
		}
		var got hsMsg
		if err := parseHandshake(resume, mac, nil, &got); err != nil || got.typ != frame.TypeResume ||
			got.resumeID != rm.resumeID || got.epoch != epoch || got.nonce != rm.nonce || got.nodeID != rm.nodeID ||
			got.ts != rm.ts || got.binder != rm.binder || got.tag != rm.tag {
			t.Fatalf("RESUME round trip: %v %+v", err, got)
		}
		rmac := resume[len(resume)-frame.MACSize:]
		acc := buildResumeAccept(nil, &key, rm.tag, 0, epoch, &sum, &rm.nodeID, firstPN, rmac)
		ref := buildResumeRefused(nil, &key, rm.tag, 0, epoch, ResumeRefusal(firstPN), rmac)
		if len(acc) >= len(resume) || len(ref) >= len(resume) {
			t.Fatalf("answers of %d and %d bytes to a RESUME of %d", len(acc), len(ref), len(resume))
		}
		if err := parseHandshake(acc, mac, rmac, &got); err != nil || got.typ != frame.TypeResumeAccept ||
			got.epoch != epoch || got.respNonce != sum || got.firstPN != firstPN {
			t.Fatalf("RESUME_ACCEPT round trip: %v %+v", err, got)
		}
		if err := parseHandshake(ref, mac, rmac, &got); err != nil || got.typ != frame.TypeResumeRefused || got.reason != firstPN {
			t.Fatalf("RESUME_REFUSED round trip: %v %+v", err, got)
		}
		if len(data) > 0 {
			bad := bytes.Clone(acc)
			bad[int(sum[0])%len(bad)] ^= 1 << (sum[1] % 8)
			if parseHandshake(bad, mac, rmac, &got) == nil {
				t.Fatal("a RESUME_ACCEPT with a flipped bit verified")
			}
		}
	})
}

// FuzzResumeState: an exported state is untrusted input once it is a file. parseState never
// panics nor allocates beyond its bounds on arbitrary bytes, and what it accepts re-encodes to
// exactly the bytes it read.
func FuzzResumeState(f *testing.F) {
	sn := dataplane.Snapshot{ID: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, Epoch: 3, NextLocal: 6, LocalOpened: 3,
		PeerMaxData: 16 << 20, PeerMaxStrs: 256, Streams: []dataplane.ResumedStream{{ID: 0, SendBase: 1 << 30, PeerMax: 4 << 20}, {ID: 4}}}
	f.Add(appendState(nil, &sn, "udp://127.0.0.1:9000", []byte("app")))
	f.Add(appendState(nil, &dataplane.Snapshot{}, "", nil))
	f.Add([]byte(stateMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parseState(data)
		if err != nil {
			return
		}
		if re := appendState(nil, &st.snap, st.Addr, st.App); !bytes.Equal(re, data) {
			t.Fatalf("accepted state re-encodes differently:\n in %x\nout %x", data, re)
		}
		if len(st.snap.Streams) > maxStateStreams || len(st.App) > MaxStateApp || len(st.Addr) > maxStateAddr {
			t.Fatal("accepted a state beyond its bounds")
		}
	})
}
