package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSendObjectToStore sends a file with dial --send-object to listen --store --once: both
// print the file's SHA-256, both exit 0, and the store holds the file under that name, once
// even when sent twice.
func TestSendObjectToStore(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	in, sum := randomFile(t, 3<<20, 14)
	dir := t.TempDir()
	l := startProc(t, "listen", nil, nil, "listen", "--addr", "udp://127.0.0.1:0", "--seed", seed, "--store", dir)
	addr := l.listenAddr()
	for i := range 2 {
		d := startProc(t, "dial", nil, nil, "dial", "--addr", addr, "--seed", seed, "--send-object", in)
		d.expectExit(0)
		if got := readOut(t, d); got != sum+"\n" {
			t.Fatalf("send %d: dial printed %q, want the file's SHA-256 %s", i, got, sum)
		}
	}
	l.waitOutput(int64(2 * (len(sum) + 1)))
	if got := readOut(t, l); got != sum+"\n"+sum+"\n" {
		t.Fatalf("listen printed %q, want the key twice", got)
	}
	if got := fileHash(t, filepath.Join(dir, sum)); got != sum {
		t.Fatalf("the stored file hashes to %s, want %s", got, sum)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("the store holds %d files, want 1", len(entries))
	}
}

// TestSendObjectUsage refuses --send-object beside flags that promise a byte stream.
func TestSendObjectUsage(t *testing.T) {
	c, _, stderr := testCLI(nil)
	if code := run([]string{"dial", "--addr", "udp://127.0.0.1:9", "--send-object", "f", "--recv"}, c); code != exitUsage ||
		!strings.Contains(stderr.String(), "--send-object") {
		t.Fatalf("status %d, stderr %q", code, stderr.String())
	}
}

// readOut returns what p wrote to stdout.
func readOut(t *testing.T, p *proc) string {
	t.Helper()
	b, err := os.ReadFile(p.out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
