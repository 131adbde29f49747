package main

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
)

// moveNotices prints one stderr line per move of a dial's session between the addresses it was
// given ("sttfast: moved to ws://H:9080/stt: failover", "sttfast: moved back to
// udp://H:9000: udp answers again"), naming each path by its --addr as the operator wrote it.
// The node's event hook calls it for every event; it speaks only once track named the paths of
// the dialed session, and never under --quiet (the caller then does not make one).
type moveNotices struct {
	stderr io.Writer
	mu     sync.Mutex
	sess   *ctrl.Session
	names  map[netip.AddrPort]string // the session's paths, as the engine names them, by --addr
}

// track names the paths of s, dialed over addrs and started on addrs[start]: a WebSocket path
// carries the index of its --addr in its tag (ctrl.DialPaths tags them "wsN"); an untagged one
// is the session's UDP socket's (or, without any udp:// address, the first WebSocket's).
func (m *moveNotices) track(s *ctrl.Session, addrs []string, start int) {
	names := pathNames(s.ActivePath(), s.Paths(), addrs, start)
	m.mu.Lock()
	m.sess, m.names = s, names
	m.mu.Unlock()
}

// pathNames maps the session's paths, as its engine names them, to the --addr each came from.
func pathNames(active netip.AddrPort, paths []netip.AddrPort, addrs []string, start int) map[netip.AddrPort]string {
	names := map[netip.AddrPort]string{active: addrs[start]}
	var udp, ws []string
	for _, a := range addrs {
		if strings.HasPrefix(a, "ws://") || strings.HasPrefix(a, "wss://") {
			ws = append(ws, a)
		} else {
			udp = append(udp, a)
		}
	}
	for _, p := range paths {
		if _, ok := names[p]; ok {
			continue
		}
		tag := dataplane.AddrTag(p)
		if i, err := strconv.Atoi(strings.TrimPrefix(tag, "ws")); err == nil && strings.HasPrefix(tag, "ws") && i < len(addrs) {
			names[p] = addrs[i]
			continue
		}
		switch {
		case tag == "" && len(udp) == 1:
			names[p] = udp[0]
		case tag == "" && len(udp) == 0 && len(ws) > 0:
			names[p] = ws[0]
		default:
			names[p] = "udp://" + dataplane.UntagAddr(p).String()
		}
	}
	return names
}

// onEvent prints the line of a move of the tracked session. The event's Reason begins with why
// it moved ("failover: udp A -> ws B", dataplane's move names).
func (m *moveNotices) onEvent(ev ctrl.Event) {
	if ev.Kind != ctrl.EventPathMigrated || ev.Session == nil {
		return
	}
	m.mu.Lock()
	tracked := ev.Session == m.sess
	m.mu.Unlock()
	if !tracked {
		return
	}
	to := ev.Session.ActivePath()
	m.mu.Lock()
	name, ok := m.names[to]
	m.mu.Unlock()
	if !ok {
		name = dataplane.UntagAddr(to).String()
	}
	fmt.Fprintln(m.stderr, moveLine(name, ev.Reason))
}

// moveLine is the line of a move to the path named name, given the event's Reason.
func moveLine(name, reason string) string {
	why, _, _ := strings.Cut(reason, ":")
	if why == "return" {
		scheme, _, _ := strings.Cut(name, "://")
		return "sttfast: moved back to " + name + ": " + scheme + " answers again"
	}
	return "sttfast: moved to " + name + ": " + why
}
