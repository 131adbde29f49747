package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

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

func newReadout(w io.Writer, quiet bool, _ time.Duration) *readout {
	return &readout{w: w, quiet: quiet, tty: isTerminal(w)}
}

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

func (r *readout) done() {
	if !r.quiet && r.tty && r.last > 0 {
		fmt.Fprintln(r.w)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// parseSize reads "1200", "64KiB", "1MiB", "2GB".
func parseSize(s string) (int, error) {
	s = strings.TrimSpace(s)
	mult := 1
	for _, u := range []struct {
		suf string
		m   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000000}, {"GB", 1000000000}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if strings.HasSuffix(s, u.suf) {
			mult = u.m
			s = strings.TrimSuffix(s, u.suf)
			break
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, err
	}
	return n * mult, nil
}

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
