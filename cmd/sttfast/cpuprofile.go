package main

import (
	"flag"
	"os"
	"runtime/pprof"
)

// cpuProfileFlag is --cpuprofile of dial and listen: a CPU profile of the whole command, so that
// the command's own path (stdin, chunks, the ordered writer, stdout) can be profiled as a user
// runs it, beside the library's in-process profiles (make profile).
type cpuProfileFlag struct{ path string }

// register adds --cpuprofile to fs.
func (f *cpuProfileFlag) register(fs *flag.FlagSet) {
	fs.StringVar(&f.path, "cpuprofile", "", "write a CPU profile of the command to `FILE` (go tool pprof)")
}

// start begins profiling when asked and returns what stops it and writes the file; what is the
// command's name for the failure line.
func (f *cpuProfileFlag) start(what string) (stop func(), err error) {
	if f.path == "" {
		return func() {}, nil
	}
	file, err := os.Create(f.path)
	if err != nil {
		return nil, failf(err, "%s: --cpuprofile", what)
	}
	if err := pprof.StartCPUProfile(file); err != nil {
		file.Close()
		return nil, failf(err, "%s: --cpuprofile", what)
	}
	return func() {
		pprof.StopCPUProfile()
		file.Close()
	}, nil
}
