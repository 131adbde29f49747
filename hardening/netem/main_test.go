package netem

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sttfast/sttfast/hardening/netem/internal/bytesize"
	"github.com/sttfast/sttfast/stc"
)

// Paths of the binaries TestMain builds once: the sttfast command, the sttpeer driver and the
// README's library example. They are built without the race detector even under "go test
// -race": these tests measure the network behaviour of the real binaries (the command's own
// tests run it under -race).
var (
	sttfastBin string
	sttpeerBin string
	readmeBin  string // the README's library example (./readme)
	binDir     string
)

// TestMain builds the binaries into a temporary directory and runs the tests.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sttfast-netem-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	sttfastBin = filepath.Join(dir, "sttfast")
	sttpeerBin = filepath.Join(dir, "sttpeer")
	readmeBin = filepath.Join(dir, "readme")
	for _, b := range []struct{ out, pkg string }{
		{sttfastBin, "github.com/sttfast/sttfast/cmd/sttfast"},
		{sttpeerBin, "github.com/sttfast/sttfast/hardening/netem/sttpeer"},
		{readmeBin, "github.com/sttfast/sttfast/hardening/netem/readme"},
	} {
		if out, err := exec.Command("go", "build", "-o", b.out, b.pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", b.pkg, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// writeSeed writes a fresh seed file into the test's temporary directory (readable by the
// children, which may run in another network namespace but share the file system).
func writeSeed(t *testing.T) string {
	t.Helper()
	seed, err := stc.GenerateSeed()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "stt.seed")
	if err := os.WriteFile(path, []byte(seed.Hex()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// envSize reads a byte count (e.g. 256MiB) from the environment, or def.
func envSize(t testing.TB, name string, def int64) int64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := bytesize.Parse(v)
	if err != nil || n == 0 {
		t.Fatalf("%s=%q: want a byte count such as 16MiB", name, v)
	}
	return n
}

// envDuration reads a duration (e.g. 1h) from the environment, or def.
func envDuration(t testing.TB, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a duration such as 1h", name, v)
	}
	return d
}

// envInt reads a positive integer from the environment, or def.
func envInt(t testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}
