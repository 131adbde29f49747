package attack

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sttfast/sttfast/stc"
)

// long reports whether the long versions run (STT_HARD_LONG=1, "make test-hard").
func long() bool { return os.Getenv("STT_HARD_LONG") == "1" }

// pick returns fast, or long in the long run.
func pick[T any](fast, long_ T) T {
	if long() {
		return long_
	}
	return fast
}

// listener is a running "sttfast serve --admin" process.
type listener struct {
	t     *testing.T
	cmd   *exec.Cmd
	addr  netip.AddrPort
	admin string
	seed  string // seed file
	lines chan string
	done  chan struct{}
	err   error
	log   bytes.Buffer
}

// startListener starts bin as "serve" on an ephemeral loopback port with the admin endpoint
// and waits until it listens.
func startListener(t *testing.T, bin *string) *listener {
	t.Helper()
	needBinaries(t)
	seed, err := stc.GenerateSeed()
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{t: t, seed: filepath.Join(t.TempDir(), "stt.seed"), lines: make(chan string, 16), done: make(chan struct{})}
	if err := os.WriteFile(l.seed, []byte(seed.Hex()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l.cmd = exec.Command(*bin, "serve", "--addr", "udp://127.0.0.1:0", "--seed", l.seed, "--admin", "127.0.0.1:0", "--quiet")
	stderr, err := l.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			l.log.WriteString(sc.Text() + "\n")
			select {
			case l.lines <- sc.Text():
			default:
			}
		}
		l.err = l.cmd.Wait()
		close(l.done)
	}()
	t.Cleanup(func() {
		if l.running() {
			l.cmd.Process.Kill()
			<-l.done
		}
		if t.Failed() {
			t.Logf("listener stderr:\n%s", l.log.String())
		}
	})
	adminRe := regexp.MustCompile(`^admin on (http://\S+)$`)
	listenRe := regexp.MustCompile(`^listening on udp://(\S+)$`)
	deadline := time.After(guard)
	for l.admin == "" || !l.addr.IsValid() {
		select {
		case line := <-l.lines:
			if m := adminRe.FindStringSubmatch(line); m != nil {
				l.admin = m[1]
			}
			if m := listenRe.FindStringSubmatch(line); m != nil {
				if l.addr, err = netip.ParseAddrPort(m[1]); err != nil {
					t.Fatal(err)
				}
			}
		case <-l.done:
			t.Fatalf("listener exited: %v\n%s", l.err, l.log.String())
		case <-deadline:
			t.Fatalf("listener not ready within %v", guard)
		}
	}
	return l
}

// pid is the listener's process id.
func (l *listener) pid() int { return l.cmd.Process.Pid }

// running reports whether the process has not exited.
func (l *listener) running() bool {
	select {
	case <-l.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and expects a clean exit (status 0) within guard.
func (l *listener) stop() {
	l.t.Helper()
	if !l.running() {
		l.t.Fatalf("listener already exited: %v", l.err)
	}
	l.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-l.done:
		if l.err != nil {
			l.t.Fatalf("listener exit after SIGTERM: %v", l.err)
		}
	case <-time.After(guard):
		l.t.Fatalf("listener did not exit within %v of SIGTERM", guard)
	}
}

// attack runs sttattack cmd against l with extra flags and decodes its JSON report into rep.
func (l *listener) attack(cmd string, rep any, flags ...string) {
	l.t.Helper()
	args := append([]string{cmd, "--target", "udp://" + l.addr.String(), "--admin", l.admin,
		"--pid", strconv.Itoa(l.pid()), "--seed", l.seed}, flags...)
	ctx, cancel := context.WithTimeout(context.Background(), pick(2*time.Minute, 30*time.Minute))
	defer cancel()
	c := exec.CommandContext(ctx, binAttack, args...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	l.t.Logf("sttattack %s:\n%s", strings.Join(args, " "), stderr.String())
	if err != nil {
		l.t.Fatalf("sttattack %s: %v\nreport: %s", cmd, err, stdout.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), rep); err != nil {
		l.t.Fatalf("sttattack %s: report: %v\n%s", cmd, err, stdout.String())
	}
}

// metricsAnswer checks that the admin endpoint still answers.
func (l *listener) metricsAnswer() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := NewAdmin(l.admin).Counters(ctx)
	return err == nil
}

// mib formats bytes as MiB.
func mib(b uint64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB" }
