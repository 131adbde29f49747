package peerbench

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestWindowProfiles: with PEERBENCH_PROFILE_DIR set, the window marks write a CPU profile of the
// window and a heap profile at its end; without it, nothing is written, and the window's heap
// allocation count is recorded either way.
func TestWindowProfiles(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(profileEnv, dir)
	w, err := workloadByName("open")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(roleRecv, &Options{}, w, &aesCeiling{}, io.Discard)
	e.markStart()
	sink := make([][]byte, 0, 100)
	for i := 0; i < 100; i++ {
		sink = append(sink, make([]byte, 4096))
	}
	e.markEnd()
	_ = sink
	for _, kind := range []string{"cpu", "heap"} {
		fi, err := os.Stat(filepath.Join(dir, "open-aes-ceiling-recv."+kind+".pprof"))
		if err != nil || fi.Size() == 0 {
			t.Errorf("%s profile missing or empty: %v", kind, err)
		}
	}
	// runtime/metrics counts an allocation when its span leaves the P's cache, so the count
	// lags by at most the last span of each size class (two 4 KiB objects here).
	if n := e.end.allocs - e.start.allocs; n < 95 {
		t.Errorf("the window counted %d heap allocations, want about the 100 made in it", n)
	}

	t.Setenv(profileEnv, "")
	before, _ := os.ReadDir(dir)
	if len(before) != 2 {
		t.Errorf("%d files written without %s, want the two profiles", len(before), traceEnv)
	}
	e2 := newEnv(roleSend, &Options{}, w, &aesCeiling{}, io.Discard)
	e2.markStart()
	e2.markEnd()
	if after, _ := os.ReadDir(dir); len(after) != len(before) || e2.profile != nil {
		t.Errorf("a profile was started without %s", profileEnv)
	}
}

// TestWindowTrace: with PEERBENCH_TRACE_DIR set, the window marks write an execution trace of
// the window, whether or not profiles are written too.
func TestWindowTrace(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(traceEnv, dir)
	t.Setenv(profileEnv, "")
	w, err := workloadByName("open")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(roleSend, &Options{}, w, &aesCeiling{}, io.Discard)
	e.markStart()
	done := make(chan struct{})
	go func() { close(done) }()
	<-done
	e.markEnd()
	fi, err := os.Stat(filepath.Join(dir, "open-aes-ceiling-send.trace"))
	if err != nil || fi.Size() == 0 {
		t.Fatalf("trace missing or empty: %v", err)
	}
	if e.trace != nil {
		t.Error("the trace file is still open after the end mark")
	}
}
