package main

import "testing"

// TestForwardSecrecyFlag: a listener with --forward-secrecy refuses a dial without it (one clear
// line on each side) and takes one with it; bench runs with it.
func TestForwardSecrecyFlag(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	in, sum := randomFile(t, 1<<20, 3)
	l := startProc(t, "listen", nil, nil, "listen", "--addr", "udp://127.0.0.1:0", "--seed", seed, "--once", "--forward-secrecy")
	addr := l.listenAddr()

	plain := startProc(t, "dial-plain", openFile(t, in), nil, "dial", "--addr", addr, "--seed", seed, "--timeout", "5s")
	plain.expectExit(1)
	want := "sttfast: dial " + addr + ": the peer requires forward secrecy: dial it with --forward-secrecy"
	if lines := plain.stderr(); len(lines) != 1 || lines[0] != want {
		t.Fatalf("stderr %q; want exactly %q", lines, want)
	}
	l.waitLine(`^refused a handshake from 127\.0\.0\.1:\d+: it does not offer forward secrecy, which this node requires \(the peer needs --forward-secrecy too\)$`)

	fs := startProc(t, "dial-fs", openFile(t, in), nil, "dial", "--addr", addr, "--seed", seed, "--forward-secrecy")
	fs.expectExit(0)
	l.expectExit(0)
	if got := l.outHash(); got != sum {
		t.Fatalf("sha256 received %s, sent %s", got, sum)
	}

	b := startProc(t, "bench", nil, nil, "bench", "--duration", "300ms", "--json", "--quiet", "--forward-secrecy")
	b.expectExit(0)
	if r := readBench(t, b); !r.Verified || r.BytesSent == 0 {
		t.Fatalf("bench --forward-secrecy: %+v", r)
	}
}
