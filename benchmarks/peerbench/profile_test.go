package peerbench

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// windowEnv sets the window diagnostics' directories for the test (profileEnv, traceEnv,
// allocsEnv; absent means off) and returns a child's Env of the "open" workload in role.
func windowEnv(t *testing.T, role string, diag map[string]string) *Env {
	t.Helper()
	for _, k := range []string{profileEnv, traceEnv, allocsEnv} {
		t.Setenv(k, diag[k])
	}
	w, err := workloadByName("open")
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(role, &Options{}, w, &aesCeiling{}, io.Discard)
}

// TestWindowProfiles: with PEERBENCH_PROFILE_DIR set, the window marks write a CPU profile of the
// window and a heap profile at its end; without it, nothing is written, and the window's heap
// allocation count is recorded either way.
func TestWindowProfiles(t *testing.T) {
	dir := t.TempDir()
	e := windowEnv(t, roleRecv, map[string]string{profileEnv: dir})
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

	before, _ := os.ReadDir(dir)
	if len(before) != 2 {
		t.Errorf("%d files written without %s, want the two profiles", len(before), traceEnv)
	}
	e2 := windowEnv(t, roleSend, nil)
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
	e := windowEnv(t, roleSend, map[string]string{traceEnv: dir})
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

// allocateInWindow is what TestWindowAllocs looks for in the window's allocation profile.
//
//go:noinline
func allocateInWindow(n int) [][]byte {
	sink := make([][]byte, 0, n)
	for range n {
		sink = append(sink, make([]byte, 4096))
	}
	return sink
}

// TestWindowAllocs: with PEERBENCH_ALLOCS_DIR set, every allocation is recorded and the marks
// write the allocations up to the window's start and up to its end; what the window allocated
// is in the end profile and not in the start one.
func TestWindowAllocs(t *testing.T) {
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	dir := t.TempDir()
	e := windowEnv(t, roleRecv, map[string]string{allocsEnv: dir})
	if runtime.MemProfileRate != 1 {
		t.Fatalf("MemProfileRate %d with %s set, want 1 (every allocation)", runtime.MemProfileRate, allocsEnv)
	}
	e.markStart()
	sink := allocateInWindow(10)
	e.markEnd()
	_ = sink
	const fn = "peerbench.allocateInWindow"
	for kind, want := range map[string]bool{"allocs-start": false, "allocs-end": true} {
		text := profileStrings(t, filepath.Join(dir, "open-aes-ceiling-recv."+kind+".pprof"))
		if got := strings.Contains(text, fn); got != want {
			t.Errorf("%s profile names %s: %v, want %v", kind, fn, got, want)
		}
	}
}

// profileStrings returns a pprof file's decompressed bytes as text: its string table (function
// names among them) is in it verbatim.
func profileStrings(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(b)
}

// TestOnMarkHooks: a contender's mark hooks run at the start mark with start true and at the
// end mark with false, in the order they were added, and what they record lands in the result.
func TestOnMarkHooks(t *testing.T) {
	e := windowEnv(t, roleSend, nil)
	var calls []string
	for _, name := range []string{"a", "b"} {
		e.OnMark(func(start bool) {
			calls = append(calls, fmt.Sprintf("%s:%v", name, start))
			e.Info(name, strconv.FormatBool(start))
		})
	}
	gcBefore, _ := gcCounters()
	e.markStart()
	if !e.inWindow.Load() {
		t.Fatal("not in the window after the start mark")
	}
	if e.start.gc <= gcBefore {
		t.Fatalf("GC cycles %d at the start mark, %d before it: the window must open on a collected heap", e.start.gc, gcBefore)
	}
	e.markEnd()
	if got := strings.Join(calls, " "); got != "a:true b:true a:false b:false" {
		t.Fatalf("hooks ran as %q", got)
	}
	if e.res.Info["a"] != "false" || e.res.Info["b"] != "false" {
		t.Fatalf("info %v, want each hook's end-mark value", e.res.Info)
	}
}

// TestMeterBatch: a meterBatch counts its first message at once (the warm-up clock starts on
// the first unit of work), then adds to the Meter only once a batch is full, and flush adds the
// rest: the Meter's total is exact, only later.
func TestMeterBatch(t *testing.T) {
	var m Meter
	m.first = make(chan struct{})
	b := meterBatch{m: &m}
	b.add(64)
	select {
	case <-m.first:
	default:
		t.Fatal("the first message did not start the warm-up clock")
	}
	if got := m.bytes.Load(); got != 64 {
		t.Fatalf("after the first message the meter holds %d bytes, want 64", got)
	}
	for range meterBatchBytes/64 - 1 {
		b.add(64)
	}
	if got := m.bytes.Load(); got != 64 {
		t.Fatalf("a batch short of %d bytes reached the meter early: %d", meterBatchBytes, got)
	}
	b.add(64)
	if got := m.bytes.Load(); got != 64+meterBatchBytes {
		t.Fatalf("a full batch: meter holds %d bytes, want %d", got, 64+meterBatchBytes)
	}
	b.add(100)
	b.flush()
	if got := m.bytes.Load(); got != 164+meterBatchBytes {
		t.Fatalf("after flush: %d bytes, want %d", got, 164+meterBatchBytes)
	}
}
