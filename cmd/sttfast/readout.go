package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// readout prints a live one-line status: rewritten in place on a terminal, one line per update
// otherwise (so logs stay readable).
type readout struct {
	w     io.Writer
	quiet bool
	tty   bool
	last  int
}

// newReadout returns a readout on w; quiet silences it.
func newReadout(w io.Writer, quiet bool) *readout {
	return &readout{w: w, quiet: quiet, tty: isTerminal(w)}
}

// line shows s as the current status.
func (r *readout) line(s string) {
	if r.quiet {
		return
	}
	if r.tty {
		pad := ""
		if n := r.last - len(s); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		fmt.Fprintf(r.w, "\r%s%s", s, pad)
		r.last = len(s)
		return
	}
	fmt.Fprintln(r.w, s)
}

// done ends the in-place line so that later output starts on a fresh line.
func (r *readout) done() {
	if !r.quiet && r.tty && r.last > 0 {
		fmt.Fprintln(r.w)
		r.last = 0
	}
}

// isTerminal reports whether w is a terminal, which decides in-place updates and progress.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// parseSize reads "1200", "64KiB", "1MiB", "2GB" (binary units, K/M/G meaning KiB/MiB/GiB).
func parseSize(s string) (int, error) {
	s = strings.TrimSpace(s)
	mult := 1
	for _, u := range []struct {
		suf string
		m   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000000}, {"GB", 1000000000}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(s, u.suf) {
			mult = u.m
			s = strings.TrimSpace(strings.TrimSuffix(s, u.suf))
			break
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("size out of range")
	}
	return n * mult, nil
}

// humanBytes formats a byte count for people (binary units).
func humanBytes(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

// humanRate formats bytes per second for people.
func humanRate(bps float64) string {
	if bps < 0 {
		bps = 0
	}
	return humanBytes(uint64(bps)) + "/s"
}
