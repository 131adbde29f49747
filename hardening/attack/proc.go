package attack

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100 on every Linux
// architecture Go supports (the kernel exports it to user space as a constant).
const clockTicks = 100

// ProcSample is one reading of a process's memory and CPU from /proc.
type ProcSample struct {
	RSS uint64        // VmRSS, bytes
	HWM uint64        // VmHWM (peak RSS since start), bytes
	CPU time.Duration // utime + stime
}

// ReadProc reads pid's RSS, peak RSS and CPU time.
func ReadProc(pid int) (ProcSample, error) {
	var s ProcSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "VmRSS":
			s.RSS, err = parseKB(v)
		case "VmHWM":
			s.HWM, err = parseKB(v)
		}
		if err != nil {
			return s, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	s.CPU, err = parseStatCPU(string(stat))
	return s, err
}

// parseKB reads "  1234 kB" as bytes.
func parseKB(v string) (uint64, error) {
	f := strings.Fields(v)
	if len(f) != 2 || f[1] != "kB" {
		return 0, fmt.Errorf("unexpected %q", v)
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	return n << 10, err
}

// parseStatCPU returns utime+stime of a /proc/PID/stat line. The command name (field 2) may hold
// spaces and parentheses, so fields are counted after its last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no ')' in %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the command", len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat: utime %q stime %q", f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// SocketDrops sums the kernel's drop counter (sk_drops: datagrams discarded because the
// receive buffer was full, or by a filter) over the UDP sockets bound to port, as pid sees them
// in /proc/PID/net/udp and udp6. found is false when no such socket exists.
func SocketDrops(pid int, port uint16) (drops uint64, found bool, err error) {
	want := fmt.Sprintf(":%04X", port)
	for _, name := range []string{"udp", "udp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, name))
		if err != nil {
			return 0, false, err
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 13 || !strings.HasSuffix(fs[1], want) {
				continue
			}
			d, err := strconv.ParseUint(fs[len(fs)-1], 10, 64)
			if err != nil {
				f.Close()
				return 0, false, fmt.Errorf("/proc/%d/net/%s drops %q: %w", pid, name, fs[len(fs)-1], err)
			}
			drops += d
			found = true
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return 0, false, err
		}
	}
	return drops, found, nil
}
