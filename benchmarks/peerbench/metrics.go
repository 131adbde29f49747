package peerbench

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process-level probes. They are read at the window marks only, never per message.

var gcSample = []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/allocs:objects"}}

// gcCounters are the completed GC cycles and the heap objects allocated so far by this process
// (runtime/metrics: no stop-the-world, unlike ReadMemStats). The allocation count is what issue
// 15's "0 allocations per packet" row is judged on, across processes, where
// testing.AllocsPerRun cannot look.
func gcCounters() (cycles, allocs uint64) {
	metrics.Read(gcSample)
	if gcSample[0].Value.Kind() == metrics.KindUint64 {
		cycles = gcSample[0].Value.Uint64()
	}
	if gcSample[1].Value.Kind() == metrics.KindUint64 {
		allocs = gcSample[1].Value.Uint64()
	}
	return cycles, allocs
}

// cpuSeconds is the user+system CPU time of this process.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return tv(ru.Utime) + tv(ru.Stime)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times; 100 on every Linux ABI Go runs on.
const clockTicks = 100

// procCPUSeconds reads the CPU time of another process (SRT's helper processes) from
// /proc/<pid>/stat; 0 when it is gone.
func procCPUSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may contain spaces: fields are counted after its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 { // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'
		return 0
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	s, _ := strconv.ParseUint(f[12], 10, 64)
	return float64(u+s) / clockTicks
}

// rssBytes is the resident set size of this process (/proc/self/statm).
func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// memSnapshot is the heap and RSS after a full collection with freed spans returned to the OS,
// so that two snapshots differ by what is live, not by what the collector has not reclaimed yet.
type memSnapshot struct {
	HeapInuse, RSS uint64
	Goroutines     int
}

func takeMemSnapshot() memSnapshot {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSnapshot{HeapInuse: ms.HeapInuse, RSS: rssBytes(), Goroutines: runtime.NumGoroutine()}
}

// probe is what both sides sample at each window mark.
type probe struct {
	t          time.Time
	bytes      uint64
	msgs       uint64
	lost, late uint64
	gc         uint64
	allocs     uint64 // heap objects allocated (runtime/metrics)
	cpu        float64
	helpers    float64 // CPU time of helper processes
}
