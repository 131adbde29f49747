package netem

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The third host of TestResumeFromAnotherHost (netns.sh third): ID-c, and ID-b's address on
// the link to it.
const (
	addrC  = "198.18.0.5"
	addrBC = "198.18.0.6"
)

// TestResumeFromAnotherHost (root; issue 13): sttfast dial --state on host a sends a 64 MiB file
// to listen --once on host b and is killed with SIGKILL at half of it; dial --resume on host c,
// another namespace on another link (it reaches b at another of b's addresses), given the same
// file, finishes the session; the listener's output has the input's sha256, and its session
// log shows the one session opened from a and closed from c. Resuming the same state again
// afterwards is refused with one "sttfast: resume:" line.
func TestResumeFromAnotherHost(t *testing.T) {
	tp := newTopo(t, "1gbit")
	if _, err := runScript(t, "third", tp.id); err != nil {
		t.Fatal(err)
	}
	size := int(envSize(t, "STT_RESUME_SIZE", 64<<20))
	seed := writeSeed(t)
	in, sum := randomFile(t, size)
	dir := t.TempDir()
	state, stale := filepath.Join(dir, "dial.state"), filepath.Join(dir, "stale.state")

	l := startProc(t, "listen", stdoutHash, nil, tp.in("b", sttfastBin, "listen", "--addr", "udp://0.0.0.0:"+listenPort,
		"--seed", seed, "--once")...)
	l.listenAddr()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	d := startProc(t, "dial --state (a)", stdoutHash, pr, tp.in("a", sttfastBin, "dial", "--addr", "udp://"+addrB+":"+listenPort,
		"--seed", seed, "--state", state, "--quiet")...)
	pr.Close()
	src, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := io.CopyN(pw, src, int64(size/2)); err != nil {
		t.Fatal(err)
	}
	awaitOutput(t, l, int64(size/2))
	waitReplaced(t, state, 2) // a state written after the listener had the first half
	killed := d.signal(syscall.SIGKILL)
	d.wait(procGuard)
	copyFile(t, state, stale)

	full, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	r := startProc(t, "dial --resume (c)", stdoutHash, full, tp.in("c", sttfastBin, "dial", "--resume", state, "--seed", seed,
		"--addr", "udp://"+addrBC+":"+listenPort)...)
	had := r.waitLine(`^resumed session [0-9a-f]{16} with udp://`+regexp.QuoteMeta(addrBC)+`:\d+: the peer has the first (\d+) bytes$`, procGuard)
	resumedAt := time.Now()
	r.expectExit(0, guardFor(int64(size)))
	took := time.Since(resumedAt)
	l.expectExit(0, procGuard)
	if n, got := l.output(); n != int64(size) || got != sum {
		t.Fatalf("listener output %d bytes sha256 %s, input %d bytes %s", n, got, size, sum)
	}
	id := regexp.MustCompile(`^resumed session ([0-9a-f]{16})`).FindStringSubmatch(r.stderr()[0])[1]
	l.waitLine(`^session `+id+` from `+regexp.QuoteMeta(addrA)+`:\d+ opened$`, procGuard)
	l.waitLine(`^session `+id+` from `+regexp.QuoteMeta(addrC)+`:\d+ closed: the peer closed the session \(code 0, done\)$`, procGuard)
	hadN, _ := strconv.Atoi(had)
	rest := size - hadN
	t.Logf("killed on a at %d of %d bytes (state: the listener had %d); resumed from c %v after the kill; "+
		"the rest (%d bytes) in %v: %.0f Mbit/s", size/2, size, hadN, resumedAt.Sub(killed).Round(time.Millisecond),
		rest, took.Round(time.Millisecond), float64(rest)*8/took.Seconds()/1e6)

	s := startProc(t, "dial --resume (stale)", stdoutHash, nil, tp.in("c", sttfastBin, "dial", "--resume", stale, "--seed", seed,
		"--addr", "udp://"+addrBC+":"+listenPort, "--timeout", "1s", "--quiet")...)
	s.expectExit(1, procGuard)
	lines := s.stderr()
	if len(lines) != 1 || !regexp.MustCompile(`^sttfast: resume: `).MatchString(lines[0]) {
		t.Fatalf("stale resume stderr %q, want one sttfast: resume: line", lines)
	}
	t.Logf("stale state after the end: %s", lines[0])
}

// waitReplaced waits until the file at path has been replaced n times (a new inode each time:
// written elsewhere and renamed over it).
func waitReplaced(t *testing.T, path string, n int) {
	t.Helper()
	inode := func() uint64 {
		fi, err := os.Stat(path)
		if err != nil {
			return 0
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	deadline := time.Now().Add(procGuard)
	for last, seen := inode(), 0; seen < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%s not replaced %d times within %v", path, n, procGuard)
		}
		time.Sleep(10 * time.Millisecond) // polling a file another process replaces
		if ino := inode(); ino != last {
			last, seen = ino, seen+1
		}
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
