//go:build !batchio_portable

package batchio

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// ipv6NetnsEnv marks a test binary that ipv6Here started in a network namespace of its own.
const ipv6NetnsEnv = "STT_BATCHIO_IPV6_NETNS"

// ipv6Here reports whether the calling test can use the IPv6 loopback in this process. On a host
// whose loopback has no ::1 (IPv6 disabled for the host's namespace, as some containers do), the
// test runs again in a child process placed in a new network namespace, whose loopback has ::1
// once it is up; the child's verdict becomes this test's, and ipv6Here returns false so the
// caller returns at once.
func ipv6Here(t *testing.T) bool {
	t.Helper()
	if haveIPv6() {
		return true
	}
	if os.Getenv(ipv6NetnsEnv) != "" {
		if err := setLoopback(65536); err != nil {
			t.Fatalf("bringing up the loopback of the test's network namespace: %v", err)
		}
		if !haveIPv6() {
			t.Fatal("no IPv6 loopback even in a network namespace of its own: the kernel has no IPv6")
		}
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), ipv6NetnsEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		t.Logf("no IPv6 loopback on this host: ran in a network namespace of its own\n%s", out)
	case errors.As(err, &exit):
		t.Fatalf("in a network namespace of its own (this host's loopback has no IPv6):\n%s", out)
	default:
		t.Skipf("platform: this host's loopback has no IPv6 and a network namespace with one cannot be made here (needs root): %v", err)
	}
	return false
}
