package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestUsage: no command, an unknown command and missing required flags are usage errors (2)
// that say what is wrong; --help is not an error.
func TestUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		say  string
	}{
		{nil, 2, "Usage: sttattack"},
		{[]string{"nuke"}, 2, `unknown command "nuke"`},
		{[]string{"hostile"}, 2, "--target, --admin and --seed are required"},
		{[]string{"flood", "--target", "nonsense", "--admin", "http://x", "--seed", "f"}, 2, "--target nonsense"},
		{[]string{"replay", "--help"}, 0, "-count"},
		{[]string{"help"}, 0, "Usage: sttattack"},
	} {
		var out, errb bytes.Buffer
		if code := run(c.args, &out, &errb); code != c.code || !strings.Contains(errb.String(), c.say) {
			t.Errorf("sttattack %q: status %d, stderr %q; want %d and %q", c.args, code, errb.String(), c.code, c.say)
		}
	}
}
