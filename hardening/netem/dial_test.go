package netem

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The tests of this file dial from one host to another (issue 11, bugs 1 and 2): the README's
// library example, and every way a dial can fail, each of which must say what happened, at once
// when the network or the host already knows.

// atOnce bounds a dial failure that must not wait for the handshake timeout (10 s, the
// command's default): a round trip here is well under a millisecond.
const atOnce = 3 * time.Second

// readmeBlock returns the Go code of the README's "Use it as a library" section.
func readmeBlock(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "## Use it as a library")
	if i < 0 {
		t.Fatal("README.md has no \"Use it as a library\" section")
	}
	s = s[i:]
	start := strings.Index(s, "```go\n")
	end := strings.Index(s[start+6:], "```")
	if start < 0 || end < 0 {
		t.Fatal("no Go block in README's library section")
	}
	return s[start+6 : start+6+end]
}

// TestReadmeExampleIsVerbatim: the program TestReadmeLibraryExample runs (./readme) holds the
// README's library example unchanged, so that what runs is what a reader copies.
func TestReadmeExampleIsVerbatim(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "readme", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	const begin, end = "\t// README begin\n", "\t// README end\n"
	i, j := strings.Index(src, begin), strings.Index(src, end)
	if i < 0 || j < i {
		t.Fatal("readme/main.go has no README markers")
	}
	var got strings.Builder
	for _, l := range strings.SplitAfter(src[i+len(begin):j], "\n") {
		got.WriteString(strings.TrimPrefix(l, "\t")) // the function body's indentation
	}
	if want := readmeBlock(t); got.String() != want {
		t.Fatalf("readme/main.go differs from README.md's library example:\n--- README\n%s\n--- readme/main.go\n%s", want, got.String())
	}
}

// hostsFile makes host (e.g. "server.example") resolve to addr inside both namespaces: ip netns
// exec mounts /etc/netns/NAME/hosts over /etc/hosts for what it runs.
func (tp *topo) hostsFile(host, addr string) {
	tp.t.Helper()
	for _, side := range []string{"a", "b"} {
		dir := filepath.Join("/etc/netns", tp.id+"-"+side)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tp.t.Fatal(err)
		}
		tp.t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte("127.0.0.1 localhost\n"+addr+" "+host+"\n"), 0o644); err != nil {
			tp.t.Fatal(err)
		}
	}
}

// TestReadmeLibraryExample runs the README's library example on two hosts: on b it serves (and
// dials itself), then on a it dials b by name with a node made with the default Config, and must
// get its echo. A node that binds loopback by default sends nothing another host receives: this
// dial would wait for the timeout and blame the seed.
func TestReadmeLibraryExample(t *testing.T) {
	tp := newTopo(t, "100mbit")
	tp.hostsFile("server.example", addrB)
	dir := t.TempDir()
	seed := writeSeed(t)
	if err := os.Rename(seed, filepath.Join(dir, "stt.seed")); err != nil {
		t.Fatal(err)
	}
	run := func(side string, args ...string) []string {
		return tp.in(side, "/bin/sh", "-c", `cd "$0" && exec "$@"`, dir, readmeBin, strings.Join(args, " "))
	}
	b := startProc(t, "readme on b", stdoutEvents, nil, run("b", "--serve")...)
	b.waitEvent("reply", procGuard) // b's own dial answered: its server is up
	start := time.Now()
	a := startProc(t, "readme on a", stdoutEvents, nil, run("a", "--serve=false")...)
	a.expectExit(0, procGuard)
	took := time.Since(start)
	ev := a.waitEvent("reply", procGuard)
	if ev["text"] != "hello" {
		t.Fatalf("host a's dial read %v, want the echo of \"hello\"", ev)
	}
	t.Logf("the README's example on host a reached host b by name and read its echo in %v", took.Round(time.Millisecond))
	if took > atOnce {
		t.Errorf("the example took %v", took)
	}
}

// dialFails runs sttfast dial inside a with args and checks that it exits 1, within limit, with
// exactly one stderr line matching want.
func (tp *topo) dialFails(t *testing.T, name string, limit time.Duration, want string, args ...string) {
	t.Helper()
	start := time.Now()
	d := startProc(t, name, stdoutHash, nil, tp.in("a", append([]string{sttfastBin, "dial"}, args...)...)...)
	d.expectExit(1, procGuard)
	took := time.Since(start)
	lines := d.stderr()
	if len(lines) != 1 || !regexp.MustCompile(want).MatchString(lines[0]) {
		t.Fatalf("%s: stderr %q; want one line matching %q", name, lines, want)
	}
	t.Logf("%s: %q after %v", name, lines[0], took.Round(time.Millisecond))
	if took > limit {
		t.Fatalf("%s: took %v, want at most %v", name, took, limit)
	}
}

// TestDialFailuresAcrossHosts: each way a dial from a to b fails says what happened: a node bound
// to loopback, a destination without a route and a port where nothing listens fail at once; a
// wrong seed waits for the timeout and says "no answer", and the listener logs the refusal.
func TestDialFailuresAcrossHosts(t *testing.T) {
	tp := newTopo(t, "100mbit")
	seed, other := writeSeed(t), writeSeed(t)
	l := startProc(t, "listen", stdoutHash, nil, tp.in("b", sttfastBin, "listen", "--addr", "udp://"+addrB+":"+listenPort, "--seed", seed)...)
	target := "udp://" + addrB + ":" + listenPort
	l.listenAddr()

	tp.dialFails(t, "bound to loopback", atOnce,
		`^sttfast: dial `+regexp.QuoteMeta(target)+`: cannot send to the peer from 127\.0\.0\.1:\d+: a node bound to a loopback address reaches only this host \(invalid argument\)$`,
		"--addr", target, "--seed", seed, "--bind", "udp://127.0.0.1:0")
	tp.dialFails(t, "no route", atOnce,
		`^sttfast: dial udp://203\.0\.113\.7:9000: cannot send to the peer: network is unreachable$`,
		"--addr", "udp://203.0.113.7:9000", "--seed", seed)
	tp.dialFails(t, "nothing listening", atOnce,
		`^sttfast: dial udp://`+regexp.QuoteMeta(addrB)+`:9: nothing listens there \(its host answered: port unreachable\)$`,
		"--addr", "udp://"+addrB+":9", "--seed", seed)
	tp.dialFails(t, "wrong seed", 2*time.Second+atOnce,
		`^sttfast: dial `+regexp.QuoteMeta(target)+`: no answer \(no node there, a firewall, or a different seed\)$`,
		"--addr", target, "--seed", other, "--timeout", "2s")
	l.waitLine(`^refused a HELLO from `+regexp.QuoteMeta(addrA)+`:\d+: its MAC does not match our seed \(a peer with another seed\?\)$`, procGuard)
}
