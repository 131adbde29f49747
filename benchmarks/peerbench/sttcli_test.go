package peerbench

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestResidentOutput checks that the command's output file starts as size zero bytes, open at
// offset 0, so that what the listener writes lands over them and a short write leaves zeros
// that fail the SHA-256 check.
func TestResidentOutput(t *testing.T) {
	const size = 3<<20 + 123 // not a multiple of the 1 MiB block
	path := filepath.Join(t.TempDir(), "out")
	f, err := residentOutput(path, size)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("written by the listener")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != size {
		t.Fatalf("%d bytes, want %d", len(got), size)
	}
	if !bytes.HasPrefix(got, []byte("written by the listener")) {
		t.Fatalf("the write did not land at offset 0: %q", got[:32])
	}
	if i := bytes.IndexFunc(got[23:], func(r rune) bool { return r != 0 }); i >= 0 {
		t.Fatalf("byte %d after the write is not zero", 23+i)
	}
}

// TestScratchBase checks where the prepared files go: nowhere special without files, the
// system's temporary directory when the memory file system lacks the room, and the memory file
// system when it is a tmpfs with room.
func TestScratchBase(t *testing.T) {
	if got := scratchBase(0, io.Discard); got != "" {
		t.Errorf("no files: %q, want the temporary directory", got)
	}
	if got := scratchBase(1<<62, io.Discard); got != "" {
		t.Errorf("4 EiB of files: %q, want the temporary directory", got)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(memFS, &st); err != nil || st.Type != tmpfsMagic || int64(st.Bavail)*st.Bsize < 2*scratchHeadroom {
		t.Skipf("platform: %s is not a tmpfs with %d MiB free", memFS, 2*scratchHeadroom>>20)
	}
	if got := scratchBase(1<<20, io.Discard); got != memFS {
		t.Errorf("1 MiB of files: %q, want %s", got, memFS)
	}
}
