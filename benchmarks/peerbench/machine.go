package peerbench

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
)

// Machine describes where a report was measured.
type Machine struct {
	CPU         string            `json:"cpu"`
	Cores       int               `json:"cores"`
	Kernel      string            `json:"kernel"`
	Go          string            `json:"go"`
	OSArch      string            `json:"os_arch"`
	LoopbackMTU string            `json:"loopback_mtu"`
	Versions    map[string]string `json:"versions"`
}

func probeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), OSArch: runtime.GOOS + "/" + runtime.GOARCH,
		Versions: map[string]string{}}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	m.Kernel = readTrim("/proc/sys/kernel/osrelease")
	m.LoopbackMTU = readTrim("/sys/class/net/lo/mtu")
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/quic-go/quic-go", "github.com/xtaci/kcp-go/v5":
				m.Versions[d.Path] = d.Version
			}
		}
	}
	m.Versions["github.com/sttfast/sttfast"] = sttRevision()
	m.Versions["srt"] = srtVersion()
	return m
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// sttRevision names the sttfast tree measured: the benchmarks module uses it through a replace
// directive, so the build info has no version; git does.
func sttRevision() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown (not a git checkout)"
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		rev += " (with uncommitted changes)"
	}
	return rev
}

var srtVersionRe = regexp.MustCompile(`SRT Library version: ([0-9][^\s,]*)`)

func srtVersion() string {
	out, err := exec.Command(srtBinary, "-version").CombinedOutput()
	if err != nil && len(out) == 0 {
		return "not installed"
	}
	if m := srtVersionRe.FindSubmatch(out); m != nil {
		return "srt-live-transmit, SRT library " + string(m[1])
	}
	return strings.TrimSpace(string(out))
}
