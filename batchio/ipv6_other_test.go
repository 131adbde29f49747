//go:build !linux || batchio_portable

package batchio

import "testing"

// ipv6Here reports whether the calling test can use the IPv6 loopback. Only Linux builds can
// make a network namespace that has one (ipv6_linux_test.go).
func ipv6Here(t *testing.T) bool {
	t.Helper()
	if !haveIPv6() {
		t.Skip("platform: this host's loopback has no IPv6, and only the Linux build can make a network namespace with one")
	}
	return true
}
