package peerbench

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
)

// profileEnv names a directory where each child writes a CPU profile of its measurement window
// (from the start mark to the end mark, so that setup such as dialing a thousand sessions is not
// in it) and its heap profile at the end mark: WORKLOAD-CONTENDER-ROLE.cpu.pprof and .heap.pprof.
// It is how a missed goal is traced to where the time goes, across processes.
const profileEnv = "PEERBENCH_PROFILE_DIR"

// traceEnv names a directory where each child writes a runtime execution trace of its
// measurement window (WORKLOAD-CONTENDER-ROLE.trace): which goroutine ran on which thread, when
// each was woken and by whom, each system call. It is what took a round trip apart wake-up by
// wake-up (profiles/README.md, "Round trip, piece by piece"); read it with
// `go tool trace -d=parsed FILE`. Separate from profileEnv because tracing slows every event.
const traceEnv = "PEERBENCH_TRACE_DIR"

// allocsEnv names a directory where each child writes every heap allocation it made up to the
// window's start and up to its end (WORKLOAD-CONTENDER-ROLE.allocs-start.pprof and
// .allocs-end.pprof): `go tool pprof -sample_index=alloc_objects -base START END` lists what the
// window allocated, by call stack. It is how a heap allocation or GC cycle in a bulk window is
// traced to its source. It records every allocation (runtime.MemProfileRate 1) and collects
// garbage at both marks (a heap profile is published by a GC cycle), so a run made with it
// measures nothing else: its GC counts, heap counts and speeds are not the workload's.
const allocsEnv = "PEERBENCH_ALLOCS_DIR"

// allocsInit makes the runtime record every allocation when allocsEnv is set; it must run before
// the child allocates what it measures.
func allocsInit() {
	if os.Getenv(allocsEnv) != "" {
		runtime.MemProfileRate = 1
	}
}

// allocsWrite writes the allocations so far as the profile named kind when allocsEnv is set.
func (e *Env) allocsWrite(kind string) {
	dir := os.Getenv(allocsEnv)
	if dir == "" {
		return
	}
	runtime.GC()
	f, err := os.Create(e.profilePath(dir, kind))
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		f.Close()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "peerbench: allocs profile: %v\n", err)
	}
}

// profileStart starts the window's CPU profile when profileEnv is set; errors are reported on
// stderr and leave the run unprofiled.
func (e *Env) profileStart() {
	e.profileMu.Lock()
	defer e.profileMu.Unlock()
	e.allocsWrite("allocs-start")
	e.traceStart()
	dir := os.Getenv(profileEnv)
	if dir == "" {
		return
	}
	f, err := os.Create(e.profilePath(dir, "cpu"))
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "peerbench: cpu profile: %v\n", err)
		return
	}
	e.profile = f
}

// profileEnd stops the CPU profile and writes the heap profile.
func (e *Env) profileEnd() {
	e.profileMu.Lock()
	defer e.profileMu.Unlock()
	e.traceEnd()
	e.allocsWrite("allocs-end")
	if e.profile == nil {
		return
	}
	pprof.StopCPUProfile()
	e.profile.Close()
	e.profile = nil
	f, err := os.Create(e.profilePath(os.Getenv(profileEnv), "heap"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "peerbench: heap profile: %v\n", err)
		return
	}
	defer f.Close()
	pprof.Lookup("heap").WriteTo(f, 0)
}

func (e *Env) profilePath(dir, kind string) string {
	return filepath.Join(dir, fmt.Sprintf("%s-%s-%s.%s.pprof", e.W.Name, e.C.Name(), e.Role, kind))
}

// traceStart starts the window's execution trace when traceEnv is set; errors are reported on
// stderr and leave the run untraced. profileMu held.
func (e *Env) traceStart() {
	dir := os.Getenv(traceEnv)
	if dir == "" {
		return
	}
	name := filepath.Join(dir, fmt.Sprintf("%s-%s-%s.trace", e.W.Name, e.C.Name(), e.Role))
	f, err := os.Create(name)
	if err == nil {
		if err = trace.Start(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "peerbench: trace: %v\n", err)
		return
	}
	e.trace = f
}

// traceEnd stops the execution trace. profileMu held.
func (e *Env) traceEnd() {
	if e.trace == nil {
		return
	}
	trace.Stop()
	e.trace.Close()
	e.trace = nil
}
