package peerbench

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
)

// profileEnv names a directory where each child writes a CPU profile of its measurement window
// (from the start mark to the end mark, so that setup such as dialing a thousand sessions is not
// in it) and its heap profile at the end mark: WORKLOAD-CONTENDER-ROLE.cpu.pprof and .heap.pprof.
// It is how a missed goal is traced to where the time goes, across processes.
const profileEnv = "PEERBENCH_PROFILE_DIR"

// profileStart starts the window's CPU profile when profileEnv is set; errors are reported on
// stderr and leave the run unprofiled.
func (e *Env) profileStart() {
	dir := os.Getenv(profileEnv)
	if dir == "" {
		return
	}
	e.profileMu.Lock()
	defer e.profileMu.Unlock()
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
