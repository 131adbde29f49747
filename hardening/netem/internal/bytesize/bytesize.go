// Package bytesize parses the byte counts that the netem tests and sttpeer take from flags and
// the environment (1048576, 64KiB, 16MiB, 1GiB), so both read them the same way.
package bytesize

import (
	"fmt"
	"strconv"
	"strings"
)

// Parse reads a non-negative byte count with an optional KiB, MiB or GiB suffix.
func Parse(v string) (int64, error) {
	mult, num := int64(1), v
	for _, u := range []struct {
		suf string
		m   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(num, u.suf) {
			mult, num = u.m, strings.TrimSuffix(num, u.suf)
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q (want e.g. 1048576, 64KiB, 16MiB)", v)
	}
	return n * mult, nil
}
