package ctrl

import (
	"errors"
	"testing"
)

// TestParseAddr holds the address rules where they live, so the command and embedders agree:
// the scheme is case-insensitive, a ws address needs a port too, and a port is required (an empty one
// would mean port 0).
func TestParseAddr(t *testing.T) {
	for in, want := range map[string]string{
		"udp://127.0.0.1:9000": "udp 127.0.0.1:9000",
		"UDP://127.0.0.1:9000": "udp 127.0.0.1:9000",
		"h:1":                  "udp h:1",
		"udp6://[::1]:2":       "udp6 [::1]:2",
	} {
		tr, hp, err := ParseAddr(in)
		if err != nil || tr+" "+hp != want {
			t.Errorf("ParseAddr(%q) = %q %q, %v; want %q", in, tr, hp, err, want)
		}
	}
	for _, in := range []string{"ws://h", "WSS://h:1?x", "http://h:1", "udp://h", "udp://h:", "h:", "udp://h:1/p"} {
		if _, _, err := ParseAddr(in); !errors.Is(err, ErrBadAddress) {
			t.Errorf("ParseAddr(%q) = %v; want ErrBadAddress", in, err)
		}
	}
}
