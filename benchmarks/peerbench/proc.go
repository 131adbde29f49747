package peerbench

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
)

// child is one role process started by the orchestrator. It runs in its own process group so
// that killing it also kills what it started (srt-live-transmit), and it gets SIGKILL if the
// orchestrator dies.
type child struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tail
	exited chan struct{}
	// waitErr is the exit status, set before exited is closed.
	waitErr error
}

// childLine is one stdout line of a child, or its end (eof).
type childLine struct {
	from *child
	line string
	eof  bool
}

func startChild(name, exe string, env, args []string, lines chan<- childLine, verbose io.Writer) (*child, error) {
	cmd := exec.Command(exe, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	c := &child{name: name, cmd: cmd, stderr: &tail{max: 16 << 10}, exited: make(chan struct{})}
	if verbose != nil {
		cmd.Stderr = io.MultiWriter(c.stderr, &prefixWriter{w: verbose, prefix: "    [" + name + "] "})
	} else {
		cmd.Stderr = c.stderr
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c.stdin = stdin
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			lines <- childLine{from: c, line: sc.Text()}
		}
		c.waitErr = cmd.Wait()
		close(c.exited)
		lines <- childLine{from: c, eof: true}
	}()
	return c, nil
}

// send writes one control line; a child that is gone is not an error here (its exit is seen on
// its stdout).
func (c *child) send(line string) {
	if c == nil {
		return
	}
	io.WriteString(c.stdin, line+"\n")
}

// kill ends the child's whole process group.
func (c *child) kill() {
	if c == nil || c.cmd.Process == nil {
		return
	}
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
}

// tail keeps the last max bytes written, for error reports.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// lastLines returns up to n last lines, joined with " | ".
func (t *tail) lastLines(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	ls := strings.Split(strings.TrimSpace(string(t.b)), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, " | ")
}

// prefixWriter prefixes every line (verbose mode shows the children's stderr).
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	mid    bool
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue
		}
		if !p.mid {
			io.WriteString(p.w, p.prefix)
		}
		io.WriteString(p.w, line)
		p.mid = !strings.HasSuffix(line, "\n")
	}
	return len(b), nil
}
