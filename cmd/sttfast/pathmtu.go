package main

import (
	"fmt"
	"io"

	"github.com/sttfast/sttfast/ctrl"
)

// pathNotices returns the node's event hook that prints, on stderr, the one line a session says
// when the route to its peer refused its packets as too large and they were shrunk to fit
// ("sttfast: session ID: path MTU 1100: packets shrunk to 1072 bytes"). It is printed even with
// --quiet: the transfer goes on, but slower than the operator may expect, and the cause (a
// tunnel or a link with a small MTU) is theirs to know. A session that cannot shrink enough ends
// with its own error ("the path carries at most N bytes"), which the commands print as any
// other.
func pathNotices(stderr io.Writer) func(ctrl.Event) {
	return func(ev ctrl.Event) {
		if ev.Kind != ctrl.EventPathMTU || ev.Session == nil {
			return
		}
		id := ev.Session.ID()
		fmt.Fprintf(stderr, "sttfast: session %x: %s\n", id[:], ev.Reason)
	}
}
