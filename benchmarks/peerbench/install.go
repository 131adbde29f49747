package peerbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// installer is a contender whose missing tool the orchestrator can install (issue 15: the SRT
// row must never be silently absent).
type installer interface {
	install(log io.Writer) error
}

// aptTimeout bounds one apt-get call, so that a stuck mirror cannot hang a benchmark run.
const aptTimeout = 5 * time.Minute

// available checks that c can run here and, when it cannot and the run may install tools
// (peerbench run and sweep, not the tests), installs what is missing; the error says why c
// still cannot run, the failed installation included.
func available(c Contender, mayInstall bool, log io.Writer) error {
	err := c.Available()
	in, ok := c.(installer)
	if err == nil || !ok || !mayInstall {
		return err
	}
	if ierr := in.install(log); ierr != nil {
		return fmt.Errorf("%v; %w", err, ierr)
	}
	return c.Available()
}

// install installs Debian's srt-tools with apt-get (as root only), retrying once after an
// apt-get update for a stale package list, as .ci/setup-srt does.
func (s *srtContender) install(log io.Writer) error {
	if os.Geteuid() != 0 {
		return errors.New("not root, so srt-tools was not installed")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return errors.New("no apt-get to install srt-tools with")
	}
	fmt.Fprintf(log, "note: %s is missing: installing srt-tools with apt-get\n", srtBinary)
	installSRT := func() error { return aptGet("install", "-y", "-qq", "srt-tools") }
	if err := installSRT(); err != nil {
		if uerr := aptGet("update", "-qq"); uerr != nil {
			return fmt.Errorf("installing srt-tools failed (%v), and so did apt-get update: %w", err, uerr)
		}
		if err := installSRT(); err != nil {
			return fmt.Errorf("installing srt-tools failed: %w", err)
		}
	}
	return nil
}

// aptGet runs apt-get noninteractively; its error carries the last line apt-get printed.
func aptGet(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), aptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		last := strings.TrimSpace(string(out))
		if i := bytes.LastIndexByte([]byte(last), '\n'); i >= 0 {
			last = last[i+1:]
		}
		return fmt.Errorf("apt-get %s: %v: %s", args[0], err, last)
	}
	return nil
}

// skippedRows writes a table row for every skipped contender that runs wl, saying why it did not
// run, so that a missing peer is visible where its number would be. cols is the table's width.
func skippedRows(w io.Writer, rep *runReport, wl Workload, cols int) {
	for _, c := range contenders() {
		why, ok := rep.Skipped[c.Name()]
		if !ok || !c.Supports(wl) {
			continue
		}
		fmt.Fprintf(w, "| %s | not run: %s |%s\n", c.Name(), strings.ReplaceAll(why, "|", "/"), strings.Repeat(" |", cols-2))
	}
}
