package main

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sttfast/sttfast/stc"
)

// TestResumeAfterSIGKILL runs issue 13's scenario with the built binaries (another process on
// this host; hardening/netem has the network-namespace variant): dial --state sends a 64 MiB
// file to listen --once and is killed with SIGKILL at half of it; dial --resume, given the same
// input, finishes it, and the listener's output has the input's sha256. While that resume is
// still sending, resuming a copy of the state as it was at the kill is refused as superseded,
// and after the session has ended it is refused again, each with one "sttfast: resume:" line.
//
// The "early" case resumes from a copy of the state taken at an eighth of the input instead:
// the listener then has far more than the state says, and the resumed sender's rewrite of
// those bytes must be identical to what the old sender sent.
func TestResumeAfterSIGKILL(t *testing.T) {
	for _, early := range []bool{false, true} {
		name := "latest"
		if early {
			name = "early"
		}
		t.Run(name, func(t *testing.T) { testResumeAfterSIGKILL(t, early) })
	}
}

func testResumeAfterSIGKILL(t *testing.T, early bool) {
	size := 64 << 20
	if raceEnabled {
		size = 16 << 20 // the race detector's binaries are several times slower
	}
	seed := writeSeed(t, "stt.seed")
	in, inHash := randomFile(t, size, 13)
	dir := t.TempDir()
	state, stale := filepath.Join(dir, "dial.state"), filepath.Join(dir, "stale.state")

	l := startProc(t, "listen", nil, nil, "listen", "--addr", "udp://127.0.0.1:0", "--seed", seed, "--once")
	addr := l.listenAddr()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	d := startProc(t, "dial --state", pr, nil, "dial", "--addr", addr, "--seed", seed, "--state", state, "--quiet")
	pr.Close()
	src := openFile(t, in)
	first := int64(size / 2)
	if early {
		first = int64(size / 8)
	}
	if _, err := io.CopyN(pw, src, first); err != nil {
		t.Fatal(err)
	}
	if early {
		l.waitOutput(first)
		waitStateHas(t, seed, state, first)
		copyFile(t, state, filepath.Join(dir, "early.state"))
		if _, err := io.CopyN(pw, src, int64(size/2)-first); err != nil {
			t.Fatal(err)
		}
	}
	l.waitOutput(int64(size / 2))               // the first half is at the listener
	waitStateHas(t, seed, state, int64(size/2)) // and the state says so
	d.signal(syscall.SIGKILL)
	d.wait()
	fi, err := os.Stat(state)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	if early {
		state = filepath.Join(dir, "early.state")
	}
	copyFile(t, state, stale)

	// The resume gets all of the input but its last MiB until the stale state has been tried,
	// so that the session is still live (and at epoch 1) when it is.
	rr, rw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	r := startProc(t, "dial --resume", rr, nil, "dial", "--resume", state, "--seed", seed)
	rr.Close()
	full := openFile(t, in)
	copied := make(chan error, 1)
	go func() {
		_, err := io.CopyN(rw, full, int64(size-1<<20))
		copied <- err
	}()
	had := r.waitLine(`^resumed session [0-9a-f]{16} with ` + regexp.QuoteMeta(addr) + `: the peer has the first (\d+) bytes$`)
	if n, _ := strconv.Atoi(had); (!early && n != size/2) || (early && n != size/8) {
		t.Fatalf("the state says the peer has %s bytes; it had %d at the kill", had, size/2)
	}
	t.Logf("killed at %d of %d bytes; the state file says the peer had %s", size/2, size, had)

	s := startProc(t, "dial --resume (stale)", openFile(t, in), nil, "dial", "--resume", stale, "--seed", seed, "--quiet")
	s.expectExit(1)
	expectOneLine(t, s, `^sttfast: resume: superseded: a later resume of this session took over \(this state proposes epoch 1\)$`)

	if err := <-copied; err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(rw, full); err != nil {
		t.Fatal(err)
	}
	rw.Close()
	r.expectExit(0)
	l.expectExit(0)
	if got := l.outHash(); got != inHash {
		t.Fatalf("listener output sha256 %s, input %s", got, inHash)
	}

	// The session is over and its listener gone: the stale state cannot resume anything.
	s2 := startProc(t, "dial --resume (after the end)", openFile(t, in), nil, "dial", "--resume", stale, "--seed", seed,
		"--quiet", "--timeout", "1s")
	s2.expectExit(1)
	expectOneLine(t, s2, `^sttfast: resume: nothing listens at `+regexp.QuoteMeta(addr)+` any more \(its host answered: port unreachable\): the session ended with its peer$`)
}

// TestResumeStateOtherSeed: a state file opened with another seed is refused at once, locally.
func TestResumeStateOtherSeed(t *testing.T) {
	seed, other := writeSeed(t, "a.seed"), writeSeed(t, "b.seed")
	l := startProc(t, "listen", nil, nil, "listen", "--addr", "udp://127.0.0.1:0", "--seed", seed)
	addr := l.listenAddr()
	state := filepath.Join(t.TempDir(), "s.state")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	d := startProc(t, "dial --state", pr, nil, "dial", "--addr", addr, "--seed", seed, "--state", state, "--quiet")
	pr.Close()
	pw.Write([]byte("hello"))
	pw.Close()
	d.expectExit(0)
	s := startProc(t, "dial --resume", nil, nil, "dial", "--resume", state, "--seed", other)
	s.expectExit(1)
	expectOneLine(t, s, `^sttfast: resume: wrong seed: the state was not sealed with this seed$`)
}

// waitStateHas polls the state file until it says the peer has at least n bytes of the input:
// it opens the file as dial --resume would, with the seed, so that the test knows what a resume
// will skip without depending on how fast the dial writes it.
func waitStateHas(t *testing.T, seedPath, state string, n int64) {
	t.Helper()
	seed, err := stc.LoadSeedFile(seedPath)
	if err != nil {
		t.Fatal(err)
	}
	node := loopbackNode(t, seed)
	defer node.Close() // at return: the test goes on long after the state is read
	deadline := time.Now().Add(guard)
	for {
		if b, err := readStateFile(state); err == nil {
			if rs, err := node.OpenState(b); err == nil {
				_, mark, _, err := parseStateApp(rs.App)
				if err == nil && mark.input >= uint64(n) {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never said the peer has %d bytes within %v", state, n, guard)
		}
		time.Sleep(10 * time.Millisecond) // polling a file another process replaces
	}
}

// expectOneLine checks that p's stderr is exactly one line matching re.
func expectOneLine(t *testing.T, p *proc, re string) {
	t.Helper()
	lines := p.stderr()
	if len(lines) != 1 || !regexp.MustCompile(re).MatchString(lines[0]) {
		t.Fatalf("%s stderr %q; want one line matching %s", p.name, lines, re)
	}
}

// copyFile copies src to dst.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestResumeTwice: a resumed dial that keeps its state (--resume FILE --state FILE) is killed in
// turn, and resumed again from the state it left (epoch 2): the listener's output is still the
// input, byte for byte.
func TestResumeTwice(t *testing.T) {
	size := 32 << 20
	if raceEnabled {
		size = 8 << 20
	}
	seed := writeSeed(t, "stt.seed")
	in, inHash := randomFile(t, size, 17)
	state := filepath.Join(t.TempDir(), "dial.state")
	l := startProc(t, "listen", nil, nil, "listen", "--addr", "udp://127.0.0.1:0", "--seed", seed, "--once")
	addr := l.listenAddr()
	src := openFile(t, in)
	sent := int64(0)
	// killAfter runs dial with args and the input up to upTo bytes in total (the input from 0:
	// a resume skips what the peer has), waits until the listener has them and a state written
	// since, and kills it.
	killAfter := func(name string, upTo int64, args ...string) {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pw.Close()
		d := startProc(t, name, pr, nil, args...)
		pr.Close()
		if _, err := src.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(pw, src, upTo); err != nil {
			t.Fatal(err)
		}
		l.waitOutput(upTo)
		waitStateHas(t, seed, state, upTo)
		d.signal(syscall.SIGKILL)
		d.wait()
		sent = upTo
	}
	killAfter("dial --state", int64(size/4), "dial", "--addr", addr, "--seed", seed, "--state", state, "--quiet")
	killAfter("dial --resume --state", int64(size/2), "dial", "--resume", state, "--state", state, "--seed", seed, "--quiet")
	r := startProc(t, "dial --resume", openFile(t, in), nil, "dial", "--resume", state, "--seed", seed)
	had := r.waitLine(`^resumed session [0-9a-f]{16} with ` + regexp.QuoteMeta(addr) + `: the peer has the first (\d+) bytes$`)
	if n, _ := strconv.Atoi(had); int64(n) != sent {
		t.Fatalf("second resume: the state says the peer has %s bytes, it had %d", had, sent)
	}
	r.expectExit(0)
	l.expectExit(0)
	if got := l.outHash(); got != inHash {
		t.Fatalf("listener output sha256 %s, input %s", got, inHash)
	}
}
