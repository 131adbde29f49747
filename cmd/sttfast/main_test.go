package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// guard bounds every wait of the process tests: it only turns a hang into a failure and is
// never what a test measures (the machine may be loaded).
const guard = 120 * time.Second

// binPath is the sttfast binary TestMain builds once for the process tests.
var binPath string

// TestMain builds the binary (with -race when the tests run under it) and runs the tests.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sttfast-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "sttfast")
	args := []string{"build", "-o", binPath}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running sttfast process: stdout goes to a file, stderr is collected by lines.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	out    string // stdout file
	mu     sync.Mutex
	lines  []string
	more   chan struct{} // signalled on each new stderr line, and at exit
	done   chan struct{}
	status int
}

// startProc starts the binary with args; stdin may be nil, a file or a pipe's read end.
func startProc(t *testing.T, name string, stdin *os.File, env []string, args ...string) *proc {
	t.Helper()
	return startProcOut(t, name, stdin, nil, env, args...)
}

// startProcOut is startProc with stdout going to out (say a pipe's write end) instead of a file
// (outSize and outHash then see nothing).
func startProcOut(t *testing.T, name string, stdin, out *os.File, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, out: filepath.Join(t.TempDir(), name+".out"),
		more: make(chan struct{}, 1), done: make(chan struct{})}
	stdout := out
	if stdout == nil {
		f, err := os.Create(p.out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		stdout = f
	}
	p.cmd = exec.Command(binPath, args...)
	p.cmd.Env = append(cleanEnv(), env...)
	if stdin != nil {
		p.cmd.Stdin = stdin
	}
	p.cmd.Stdout = stdout
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.collect(errPipe)
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", p.name, strings.Join(p.stderr(), "\n"))
		}
	})
	return p
}

// cleanEnv is the test's environment without STT_SEED, so the host cannot change a test.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, seedEnv+"=") {
			env = append(env, kv)
		}
	}
	return env
}

// collect reads stderr lines until EOF, then reaps the process.
func (p *proc) collect(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		p.mu.Lock()
		p.lines = append(p.lines, sc.Text())
		p.mu.Unlock()
		p.notify()
	}
	err := p.cmd.Wait()
	p.status = 0
	if ee, ok := err.(*exec.ExitError); ok {
		p.status = ee.ExitCode()
	} else if err != nil {
		p.status = -1
	}
	close(p.done)
	p.notify()
}

// notify wakes a waitLine without blocking.
func (p *proc) notify() {
	select {
	case p.more <- struct{}{}:
	default:
	}
}

// stderr returns the lines collected so far.
func (p *proc) stderr() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// waitLine waits for a stderr line matching re and returns its first submatch (or the line).
func (p *proc) waitLine(re string) string {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.NewTimer(guard)
	defer deadline.Stop()
	for {
		for _, l := range p.stderr() {
			if m := rx.FindStringSubmatch(l); m != nil {
				if len(m) > 1 {
					return m[1]
				}
				return l
			}
		}
		select {
		case <-p.more:
		case <-p.done:
			// One last look: the line may have come with the exit.
			for _, l := range p.stderr() {
				if m := rx.FindStringSubmatch(l); m != nil {
					if len(m) > 1 {
						return m[1]
					}
					return l
				}
			}
			p.t.Fatalf("%s exited (status %d) before printing a line matching %q", p.name, p.status, re)
		case <-deadline.C:
			p.t.Fatalf("%s printed no line matching %q within %v", p.name, re, guard)
		}
	}
}

// listenAddr waits for "listening on udp://..." and returns the address.
func (p *proc) listenAddr() string {
	p.t.Helper()
	return p.waitLine(`^listening on (udp://\S+)$`)
}

// wait waits for the process to exit and returns its status.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.status
	case <-time.After(guard):
		p.t.Fatalf("%s did not exit within %v", p.name, guard)
		return -1
	}
}

// expectExit waits for the exit and checks the status.
func (p *proc) expectExit(want int) {
	p.t.Helper()
	if got := p.wait(); got != want {
		p.t.Fatalf("%s exited with status %d, want %d; stderr:\n%s", p.name, got, want, strings.Join(p.stderr(), "\n"))
	}
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %s: %v", p.name, err)
	}
}

// outSize is how many bytes the process has written to stdout so far.
func (p *proc) outSize() int64 {
	fi, err := os.Stat(p.out)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// waitOutput polls until stdout holds at least n bytes (bounded by guard; fails if the process
// exits first with less).
func (p *proc) waitOutput(n int64) {
	p.t.Helper()
	deadline := time.Now().Add(guard)
	for p.outSize() < n {
		select {
		case <-p.done:
			if p.outSize() >= n {
				return
			}
			p.t.Fatalf("%s exited (status %d) after writing %d of %d bytes", p.name, p.status, p.outSize(), n)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s wrote %d of %d bytes within %v", p.name, p.outSize(), n, guard)
		}
		time.Sleep(5 * time.Millisecond) // polling interval of a bounded wait, not synchronisation
	}
}

// outHash is the sha256 of what the process wrote to stdout.
func (p *proc) outHash() string {
	p.t.Helper()
	return fileHash(p.t, p.out)
}

// fileHash returns the hex sha256 of a file.
func fileHash(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// randomFile writes n pseudo-random bytes (seeded, so failures reproduce) and returns its path
// and sha256.
func randomFile(t *testing.T, n int, seed uint64) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("in-%d.bin", seed))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var key [32]byte
	key[0] = byte(seed)
	rng := mrand.NewChaCha8(key)
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for left := n; left > 0; left -= len(buf) {
		b := buf[:min(left, len(buf))]
		rng.Read(b)
		h.Write(b)
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	return path, hex.EncodeToString(h.Sum(nil))
}

// openFile opens path for a process's stdin.
func openFile(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// writeSeed writes a fresh seed file with "seed new" and returns its path.
func writeSeed(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	c, _, stderr := testCLI(nil)
	if code := run([]string{"seed", "new", "-o", path}, c); code != 0 {
		t.Fatalf("seed new: status %d: %s", code, stderr)
	}
	return path
}
