package attack

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// resumePacket builds a RESUME datagram (docs/PROTOCOL.md §3, "Resumption") MACed with key:
// the header with tag = nonce[0:8], the frame, PADDING to 1200 bytes, the MAC.
func resumePacket(key *stc.MACKey, id *[8]byte, nonce *[32]byte, ts uint64) []byte {
	var tag [8]byte
	copy(tag[:], nonce[:8])
	h := frame.Header{Kind: frame.KindHandshake, SessionID: tag, PNLen: 1}
	b := frame.AppendHeader(nil, &h)
	var node [8]byte
	var binder [32]byte
	b = frame.AppendResume(b, id, 1, nonce, &node, ts, &binder)
	b = frame.AppendPadding(b, frame.HelloMinSize-frame.MACSize-len(b))
	return key.Sum(b, b)
}

// TestBogusResumeAllocatesNothing: refusing a RESUME costs the listener what refusing a HELLO
// does: one HMAC and no allocation when it lacks the seed, the same plus a nonce-cache lookup
// when it is a replay. Measured like TestBogusHelloAllocatesNothing, over 5000 RESUMEs sent to
// an in-process listener after a warm-up.
func TestBogusResumeAllocatesNothing(t *testing.T) {
	seed := testSeed(t)
	srv, err := ctrl.Listen(context.Background(), ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := udpSocket(t)
	now := uint64(time.Now().UnixMilli())
	var id [8]byte
	var nonce [32]byte
	wrong := stc.MACKey{0xee}
	bogus := resumePacket(&wrong, &id, &nonce, now)
	nonce[0] = 1
	hs := seed.HandshakeKey()
	replayed := resumePacket(&hs, &id, &nonce, now) // refused (no such session) once, a replay after
	perResume := func(p []byte, r ctrl.HandshakeRefusal, n int) float64 {
		t.Helper()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		base := srv.Stats().Refused[r]
		for i := 1; i <= n; i++ {
			if _, err := c.WriteToUDPAddrPort(p, srv.Addr()); err != nil {
				t.Fatal(err)
			}
			if i%256 == 0 { // let the listener keep up: this measures allocations, not drops
				waitFor(t, "refusals", func() bool { return srv.Stats().Refused[r] >= base+uint64(i) })
			}
		}
		waitFor(t, "refusals", func() bool { return srv.Stats().Refused[r] >= base+uint64(n) })
		runtime.ReadMemStats(&m1)
		return float64(m1.Mallocs-m0.Mallocs) / float64(n)
	}
	c.WriteToUDPAddrPort(replayed, srv.Addr())
	waitFor(t, "the first RESUME refused", func() bool { return srv.Stats().Refused[ctrl.RefusedResume] == 1 })
	perResume(bogus, ctrl.RefusedMAC, 2000) // warm-up
	perResume(replayed, ctrl.RefusedReplay, 2000)
	replay := perResume(replayed, ctrl.RefusedReplay, 5000)
	bad := perResume(bogus, ctrl.RefusedMAC, 5000)
	t.Logf("heap allocations per RESUME (whole process): %.2f refused for a bad MAC, %.2f refused as a replay", bad, replay)
	if bad >= 0.5 || replay >= 0.5 {
		t.Fatalf("heap allocations per refused RESUME: %.2f for a bad MAC, %.2f for a replay; want none", bad, replay)
	}
	if st := srv.Stats(); st.Sessions != 0 || st.Resumes != 0 || st.ResumeRefusals != 1 {
		t.Fatalf("%d sessions, %d resumes, %d RESUME_REFUSED sent; want 0, 0, 1", st.Sessions, st.Resumes, st.ResumeRefusals)
	}
}
