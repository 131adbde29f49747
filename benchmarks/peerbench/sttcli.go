package peerbench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sttCLIContender is the command's own path (issue 15): a file piped through `sttfast dial` into
// `sttfast listen --once` into a file, two processes of the real built binary, timed from the
// dial's start to both exits, the output's SHA-256 checked against the input's. It runs the bulk
// workload only, beside sttfast's bulk row (the library with the same defaults and no stdin,
// stdout or chunking), so the difference is what the command adds.
//
// The receiver child runs the whole transfer (it starts both processes, so one clock times
// both); the sender child only follows the window marks. The binary and the input file are made
// once per run by the orchestrator (prepare) and passed to the children in the environment.
type sttCLIContender struct{}

// Environment the orchestrator hands the children after prepare.
const (
	cliBinEnv  = "PEERBENCH_STTFAST_BIN" // the sttfast binary; set by hand, the run builds none
	cliFileEnv = "PEERBENCH_CLI_INPUT"   // the input file
	cliSumEnv  = "PEERBENCH_CLI_SHA256"  // its SHA-256, hex
)

// cliRate sizes the input file from the bulk budget: the transfer should last about as long as
// sttfast's warm-up plus window, at a rate near what the command moves on a 2-core loopback
// (256 MiB/s, 2.1 Gbit/s), so that its start-up (two processes, a handshake) weighs about as
// much in the time as the bulk row's warm-up does.
const cliRate = 256 << 20

// cliMinSize keeps a transfer long enough to time even under a tiny test budget.
const cliMinSize = 16 << 20

// cliExitTimeout bounds the wait for both processes to exit once the transfer ends.
const cliExitTimeout = 30 * time.Second

func (c *sttCLIContender) Name() string { return "sttfast-cli" }

func (c *sttCLIContender) Class() Class { return classVariant }

func (c *sttCLIContender) Describe() string {
	return "the sttfast command built from this repository: `sttfast listen --addr udp://127.0.0.1:0 --once --quiet > out` and `sttfast dial --addr udp://... --quiet < in` (defaults otherwise: 64 KiB chunks, the library's default Config), the seed in STT_SEED; one file of the pattern (sized to last about the bulk warm-up plus window) written once per run, on /dev/shm when it is a tmpfs with room; the output file filled with zeros before each sample and opened without truncation, so the command writes over pages the file already has; timed from the dial's start to both exits, CPU of both processes from their rusage; a sample counts only when both exit 0 and the output's SHA-256 equals the input's"
}

func (c *sttCLIContender) Supports(w Workload) bool { return w.Name == "bulk" }

// Available needs the sttfast binary (PEERBENCH_STTFAST_BIN) or the repository and a go
// toolchain to build it.
func (c *sttCLIContender) Available() error {
	if os.Getenv(cliBinEnv) != "" {
		return nil
	}
	if _, err := findRepoRoot(); err != nil {
		return err
	}
	if _, err := exec.LookPath("go"); err != nil {
		return errors.New("no go toolchain on PATH to build the sttfast command (or set " + cliBinEnv + ")")
	}
	return nil
}

func (c *sttCLIContender) Custom(w Workload) bool { return true }

// selfTimer is a custom contender that marks its measuring side's window itself. The generic
// warm-up clock (Env.measure) must not run beside it: started by the first Add, which
// sttfast-cli makes only once the transfer is over, it would mark a new start after the
// contender's end whenever STOP came later than the warm-up (a loaded machine, the race
// detector's short budget), leaving a negative window ("empty measurement window").
type selfTimer interface {
	timesItself(w Workload) bool
}

// timesItself reports whether c marks its own window in workload w.
func timesItself(c Contender, w Workload) bool {
	st, ok := c.(selfTimer)
	return ok && st.timesItself(w)
}

func (c *sttCLIContender) timesItself(w Workload) bool { return true }

// preparer is a contender that needs files made once per run before any of its runs (a binary
// to build, an input file). prepare makes them in dir, which the orchestrator removes at the end
// of the run, and returns the environment entries that tell the children where they are.
type preparer interface {
	prepare(dir string, b budget, total int64, log io.Writer) (env []string, err error)
	// scratch is how many bytes of files the contender's prepare and runs keep at once.
	scratch(b budget, total int64) int64
}

// prepareContenders runs every selected contender's prepare in one temporary directory and
// returns the children's extra environment and the cleanup that removes the directory.
func prepareContenders(cs []Contender, budgets map[string]budget, total int64, log io.Writer) ([]string, func(), error) {
	var env []string
	dir := ""
	var need int64
	for _, c := range cs {
		if p, ok := c.(preparer); ok {
			b, _ := budgetForPrepare(c, budgets)
			need += p.scratch(b, total)
		}
	}
	base := scratchBase(need, log)
	cleanup := func() {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	for _, c := range cs {
		p, ok := c.(preparer)
		if !ok {
			continue
		}
		if dir == "" {
			d, err := os.MkdirTemp(base, "peerbench-prep-*")
			if err != nil {
				return nil, cleanup, err
			}
			dir = d
		}
		b, _ := budgetForPrepare(c, budgets)
		e, err := p.prepare(dir, b, total, log)
		if err != nil {
			return nil, cleanup, fmt.Errorf("%s: %w", c.Name(), err)
		}
		env = append(env, e...)
	}
	return env, cleanup, nil
}

// budgetForPrepare is the budget of the first selected workload c supports.
func budgetForPrepare(c Contender, budgets map[string]budget) (budget, bool) {
	for _, w := range workloads {
		if b, ok := budgets[w.Name]; ok && c.Supports(w) {
			return b, true
		}
	}
	return budget{}, false
}

// prepare builds the command (unless PEERBENCH_STTFAST_BIN names one) and writes the input file.
func (c *sttCLIContender) prepare(dir string, b budget, total int64, log io.Writer) ([]string, error) {
	bin := os.Getenv(cliBinEnv)
	if bin == "" {
		root, err := findRepoRoot()
		if err != nil {
			return nil, err
		}
		bin = filepath.Join(dir, "sttfast")
		t0 := time.Now()
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/sttfast")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build the sttfast command: %v: %s", err, bytes.TrimSpace(out))
		}
		fmt.Fprintf(log, "sttfast-cli: built %s from %s in %.1fs\n", bin, root, time.Since(t0).Seconds())
	}
	size := cliSize(b, total)
	in := filepath.Join(dir, "cli-input")
	sum, err := writePatternFile(in, size)
	if err != nil {
		return nil, fmt.Errorf("write the input file: %w", err)
	}
	fmt.Fprintf(log, "sttfast-cli: input %d bytes (%s), sha256 %s\n", size, in, sum[:16])
	return []string{cliBinEnv + "=" + bin, cliFileEnv + "=" + in, cliSumEnv + "=" + sum}, nil
}

// cliSize is the input file's size: total when given, else what lasts the warm-up and window.
func cliSize(b budget, total int64) int64 {
	if total > 0 {
		return total
	}
	return max(int64((b.Warmup+b.Duration).Seconds()*cliRate), cliMinSize)
}

// scratch is the input file and one transfer's output of the same size.
func (c *sttCLIContender) scratch(b budget, total int64) int64 { return 2 * cliSize(b, total) }

// memFS is where scratchBase puts the prepared files when it can: a tmpfs, whose pages are
// memory, so a file written there has no writeback to a disk behind it.
const memFS = "/dev/shm"

// tmpfsMagic is statfs's f_type of a tmpfs (linux/magic.h TMPFS_MAGIC).
const tmpfsMagic = 0x01021994

// scratchHeadroom is what scratchBase leaves free on the memory filesystem beside the files.
const scratchHeadroom = 1 << 30

// scratchBase is the directory under which the prepared files go: memFS when it is a tmpfs with
// room for need bytes and scratchHeadroom more, else the system's temporary directory (""). The
// command's row measures the command: on a disk-backed file system its output's dirty pages are
// written back to the disk during later runs, a cost of the disk and not of the path.
func scratchBase(need int64, log io.Writer) string {
	if need == 0 {
		return ""
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(memFS, &st); err != nil || st.Type != tmpfsMagic {
		return ""
	}
	if free := int64(st.Bavail) * st.Bsize; free < need+scratchHeadroom {
		fmt.Fprintf(log, "scratch files: %s has %d MiB free, %d MiB needed; using %s\n", memFS, free>>20, (need+scratchHeadroom)>>20, os.TempDir())
		return ""
	}
	return memFS
}

// writePatternFile writes size bytes of the pattern (every byte written: no sparse holes for the
// kernel to read as zeros for free), syncs them to disk and returns their SHA-256 in hex.
func writePatternFile(path string, size int64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	p := NewPattern()
	w := bufio.NewWriterSize(f, 1<<20)
	for off := int64(0); off < size; {
		b := p.At(uint64(off), int(min(patternSize, size-off)))
		h.Write(b)
		if _, err := w.Write(b); err != nil {
			return "", err
		}
		off += int64(len(b))
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	// On disk before the first run: left dirty, the file's writeback would start about 30 s
	// later (vm.dirty_expire_centisecs) in whichever run was then timed, and its 1 GiB of dirty
	// pages beside a transfer's output would take the total past the background writeback
	// threshold of a machine with about 20 GiB free (10%); neither is the command's cost.
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// findRepoRoot finds the repository (the directory holding cmd/sttfast and the core go.mod)
// above the working directory or the executable.
func findRepoRoot() (string, error) {
	isRepo := func(d string) bool {
		st, err := os.Stat(filepath.Join(d, "cmd", "sttfast"))
		return err == nil && st.IsDir() && fileExists(filepath.Join(d, "go.mod"))
	}
	if d, ok := searchUp(isRepo); ok {
		return d, nil
	}
	return "", errors.New("the sttfast repository (cmd/sttfast) is not above the working directory or the executable (run from the repository, or set " + cliBinEnv + ")")
}

// RunSend has nothing to do: the receiver starts both processes. It follows the marks (the
// control loop applies them) until STOP, then reports the input file's size as its total, as
// the dial it stands for was given (the receiver verified the same bytes by their SHA-256).
func (c *sttCLIContender) RunSend(ctx context.Context, e *Env) error {
	e.WaitStop()
	if st, err := os.Stat(os.Getenv(cliFileEnv)); err == nil {
		e.M.Add(int(st.Size()), 0)
	}
	return nil
}

// RunRecv runs one transfer: listen --once to a file, then dial from the input file, the window
// from the dial's start to both exits; then the output is checked.
func (c *sttCLIContender) RunRecv(ctx context.Context, e *Env) error {
	bin, in, want := os.Getenv(cliBinEnv), os.Getenv(cliFileEnv), os.Getenv(cliSumEnv)
	if bin == "" || in == "" || want == "" {
		return errors.New("sttfast-cli needs the orchestrator's prepare (" + cliBinEnv + ", " + cliFileEnv + ", " + cliSumEnv + ")")
	}
	st, err := os.Stat(in)
	if err != nil {
		return err
	}
	outPath := in + ".out." + strconv.Itoa(os.Getpid())
	defer os.Remove(outPath)
	seedEnv := "STT_SEED=" + hex.EncodeToString(e.O.Secret)
	e.Ready(nil)
	listen, addr, err := startCLIListen(bin, seedEnv, e.O.bindIP(), outPath, st.Size())
	if err != nil {
		return err
	}
	defer listen.kill()
	dial := exec.Command(bin, "dial", "--addr", addr, "--quiet")
	dial.Env = append(os.Environ(), seedEnv)
	var dialErr bytes.Buffer
	dial.Stderr = &dialErr
	stdin, err := os.Open(in)
	if err != nil {
		return err
	}
	defer stdin.Close()
	dial.Stdin = stdin
	e.markStart()
	e.emit("%s %s", lineMark, markStart)
	if err := dial.Start(); err != nil {
		return fmt.Errorf("start dial: %w", err)
	}
	dialDone := make(chan error, 1)
	go func() { dialDone <- dial.Wait() }()
	if err := waitCLI(e, dialDone, "dial", &dialErr); err != nil {
		dial.Process.Kill()
		return err
	}
	if err := waitCLI(e, listen.done, "listen --once", &listen.stderr); err != nil {
		return err
	}
	e.M.Add(int(st.Size()), 0)
	e.markEnd()
	e.addExitedCPU(dial.ProcessState, listen.cmd.ProcessState)
	e.emit("%s %s", lineMark, markEnd)
	if got, err := fileSHA256(outPath); err != nil {
		return fmt.Errorf("read the output: %w", err)
	} else if got != want {
		return fmt.Errorf("%w: output sha256 %s, input %s", errVerify, got, want)
	}
	e.Info("sha256", want)
	e.Info("bytes", strconv.FormatInt(st.Size(), 10))
	e.WaitStop()
	return nil
}

// cliListen is a running `sttfast listen --once`.
type cliListen struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer // what it said after "listening on"
	done   chan error
}

// kill ends the process if it still runs (after it exited, Kill only returns an error).
func (l *cliListen) kill() { l.cmd.Process.Kill() }

// startCLIListen starts listen --once with stdout to outPath (size bytes of zeros written first,
// see residentOutput) and returns once it says where it listens.
func startCLIListen(bin, seedEnv, ip, outPath string, size int64) (*cliListen, string, error) {
	out, err := residentOutput(outPath, size)
	if err != nil {
		return nil, "", fmt.Errorf("make the output file: %w", err)
	}
	defer out.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, "listen", "--addr", "udp://"+ip+":0", "--once", "--quiet")
	cmd.Env = append(os.Environ(), seedEnv)
	cmd.Stdout = out
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, "", err
	}
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, "", fmt.Errorf("start listen: %w", err)
	}
	pw.Close()
	l := &cliListen{cmd: cmd, done: make(chan error, 1)}
	addrC := make(chan string, 1)
	go func() { // the first "listening on" line, then the rest into l.stderr; exits with listen
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, "listening on "); ok && !sent {
				addrC <- a
				sent = true
				continue
			}
			l.stderr.WriteString(line + "\n")
		}
		pr.Close()
		err := cmd.Wait()
		if !sent {
			close(addrC)
		}
		l.done <- err
	}()
	t := time.NewTimer(firstDataTimeout)
	defer t.Stop()
	select {
	case a, ok := <-addrC:
		if !ok {
			return l, "", fmt.Errorf("listen exited before listening: %s", strings.TrimSpace(l.stderr.String()))
		}
		return l, a, nil
	case <-t.C:
		return l, "", fmt.Errorf("listen did not say where it listens within %v", firstDataTimeout)
	}
}

// residentOutput creates path, writes size zero bytes into it and returns it open for writing at
// offset 0, so that the command writes over pages the file already has. On this VM a page the
// kernel takes from its free memory for the first time in a while costs about 9 us: the free
// pages have been reported back to the hypervisor (virtio-balloon free page reporting) and the
// first touch faults them in on the host. dd wrote a fresh 1 GiB file at 0.46-0.62 GB/s and the
// same file over its own pages at 5.4 GB/s, so into a new file the row measured how long ago
// the machine last freed memory (0.32x to 0.61x of bulk the same morning), not the command. The
// zeros also void a run whose listener wrote less than the input: the output's SHA-256 is checked.
func residentOutput(path string, size int64) (*os.File, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(zeros)) {
		if _, err := f.Write(zeros[:min(int64(len(zeros)), size-off)]); err != nil {
			f.Close()
			return nil, err
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// waitCLI waits for one process's exit (err from Wait) and turns a failure into an error that
// quotes its stderr; STOP or the watchdog's timeout end the wait.
func waitCLI(e *Env, done <-chan error, what string, stderr *bytes.Buffer) error {
	t := time.NewTimer(e.O.Watchdog)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s: %v: %s", what, err, strings.TrimSpace(stderr.String()))
		}
		return nil
	case <-e.Stop():
		return fmt.Errorf("%s: stopped before it exited", what)
	case <-t.C:
		return fmt.Errorf("%s did not exit within %v", what, e.O.Watchdog)
	}
}

// addExitedCPU adds the CPU time of exited helper processes (from their rusage) to the window
// that just closed: they are gone, so the marks could not sample them from /proc.
func (e *Env) addExitedCPU(ps ...*os.ProcessState) {
	var cpu float64
	for _, p := range ps {
		if p != nil {
			cpu += (p.UserTime() + p.SystemTime()).Seconds()
		}
	}
	e.mu.Lock()
	if e.end != nil {
		e.end.helpers += cpu
	}
	e.mu.Unlock()
}

// fileSHA256 returns the SHA-256 of a file's content, hex.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
