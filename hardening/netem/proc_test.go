package netem

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stdoutMode says what a proc does with its child's stdout.
type stdoutMode int

const (
	stdoutEvents stdoutMode = iota // JSON lines (sttpeer): parsed into events
	stdoutHash                     // a byte stream (sttfast listen): counted and hashed
)

// proc is a child process: stderr is collected by lines, stdout either parsed as JSON events or
// hashed. Its Cleanup kills it if it is still running when the test ends.
type proc struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string         // stderr
	evs   []map[string]any // stdout events
	more  chan struct{}    // signalled on each new line or event, and at exit
	done  chan struct{}    // closed once the process has exited and both pipes are drained
	code  int              // exit status (-1 killed by a signal)

	outBytes int64
	outHash  string
}

// startProc starts argv (argv[0] is a path or a name on $PATH) with stdin (nil: none).
func startProc(t *testing.T, name string, mode stdoutMode, stdin io.Reader, argv ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, more: make(chan struct{}, 1), done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdin = stdin
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	outPipe, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	var pipes sync.WaitGroup
	pipes.Add(2)
	go func() { defer pipes.Done(); p.readStderr(errPipe) }()
	go func() {
		defer pipes.Done()
		if mode == stdoutHash {
			p.hashStdout(outPipe)
		} else {
			p.readEvents(outPipe)
		}
	}()
	go func() {
		pipes.Wait() // Wait closes the pipes: read them to the end first
		err := p.cmd.Wait()
		p.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		close(p.done)
		p.notify()
	}()
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

// readStderr collects stderr lines.
func (p *proc) readStderr(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		p.mu.Lock()
		p.lines = append(p.lines, sc.Text())
		p.mu.Unlock()
		p.notify()
	}
}

// readEvents parses stdout JSON lines; a line that is not JSON is kept as {"event":"text"}.
func (p *proc) readEvents(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		ev := map[string]any{}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			ev = map[string]any{"event": "text", "text": sc.Text()}
		}
		p.mu.Lock()
		p.evs = append(p.evs, ev)
		p.mu.Unlock()
		p.notify()
	}
}

// hashStdout counts and hashes stdout.
func (p *proc) hashStdout(r io.Reader) {
	h := sha256.New()
	buf := make([]byte, 256<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			p.mu.Lock()
			p.outBytes += int64(n)
			p.mu.Unlock()
		}
		if err != nil {
			break
		}
	}
	p.mu.Lock()
	p.outHash = hex.EncodeToString(h.Sum(nil))
	p.mu.Unlock()
}

// notify wakes a waiter without blocking.
func (p *proc) notify() {
	select {
	case p.more <- struct{}{}:
	default:
	}
}

// stderr returns the stderr lines so far.
func (p *proc) stderr() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// await polls cond (under no lock) on every new line or event until it returns true, failing
// the test if the process exits first or guard passes.
func (p *proc) await(what string, guard time.Duration, cond func() bool) {
	p.t.Helper()
	deadline := time.NewTimer(guard)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-p.more:
		case <-p.done:
			if cond() {
				return
			}
			p.t.Fatalf("%s exited (status %d) before %s; stderr:\n%s", p.name, p.code, what, strings.Join(p.stderr(), "\n"))
		case <-deadline.C:
			p.t.Fatalf("%s: no %s within %v", p.name, what, guard)
		}
	}
}

// waitLine waits for a stderr line matching re and returns its first submatch (or the line).
func (p *proc) waitLine(re string, guard time.Duration) string {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	var got string
	p.await("line matching "+re, guard, func() bool {
		for _, l := range p.stderr() {
			if m := rx.FindStringSubmatch(l); m != nil {
				got = m[len(m)-1]
				return true
			}
		}
		return false
	})
	return got
}

// waitEvent waits for the first stdout event named name and returns it.
func (p *proc) waitEvent(name string, guard time.Duration) map[string]any {
	p.t.Helper()
	return p.waitEventN(name, 1, guard)
}

// waitEventN waits for the n-th (from 1) stdout event named name and returns it.
func (p *proc) waitEventN(name string, n int, guard time.Duration) map[string]any {
	p.t.Helper()
	var got map[string]any
	p.await(fmt.Sprintf("event %s #%d", name, n), guard, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		k := 0
		for _, ev := range p.evs {
			if ev["event"] == name {
				if k++; k == n {
					got = ev
					return true
				}
			}
		}
		return false
	})
	return got
}

// events returns the stdout events so far.
func (p *proc) events() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.evs...)
}

// wait waits for the exit (bounded by guard) and returns the status.
func (p *proc) wait(guard time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(guard):
		p.t.Fatalf("%s did not exit within %v; stderr:\n%s", p.name, guard, strings.Join(p.stderr(), "\n"))
		return -1
	}
}

// expectExit waits for the exit and checks the status.
func (p *proc) expectExit(want int, guard time.Duration) {
	p.t.Helper()
	if got := p.wait(guard); got != want {
		p.t.Fatalf("%s exited with status %d, want %d; stderr:\n%s", p.name, got, want, strings.Join(p.stderr(), "\n"))
	}
}

// signal sends sig; the returned time is taken just before the kill(2).
func (p *proc) signal(sig syscall.Signal) time.Time {
	p.t.Helper()
	at := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %s: %v", p.name, err)
	}
	return at
}

// output returns the byte count and sha256 of stdout (stdoutHash mode, after exit).
func (p *proc) output() (int64, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.outBytes, p.outHash
}

// outSize is how many stdout bytes have arrived so far (stdoutHash mode).
func (p *proc) outSize() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.outBytes
}

// pid is the child's process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// decode re-marshals an event into v (a struct with json tags).
func decode(t *testing.T, ev map[string]any, v any) {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// listenAddr waits for "listening on udp://..." and returns the address.
func (p *proc) listenAddr() string {
	p.t.Helper()
	return p.waitLine(`^listening on (udp://\S+)$`, procGuard)
}

// awaitOutput polls until p (stdoutHash) has written at least n bytes, bounded by procGuard.
func awaitOutput(t *testing.T, p *proc, n int64) {
	t.Helper()
	deadline := time.Now().Add(procGuard)
	for p.outSize() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s wrote %d of %d bytes within %v", p.name, p.outSize(), n, procGuard)
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited (status %d) after writing %d bytes", p.name, p.code, p.outSize())
		case <-time.After(5 * time.Millisecond): // polling interval of a bounded wait
		}
	}
}
