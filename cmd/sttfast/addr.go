package main

import (
	"net"
	"strings"

	"github.com/sttfast/sttfast/ctrl"
)

// checkAddr validates an address URL given with flag and returns it in canonical
// "udp://HOST:PORT" form. udp:// (and a bare HOST:PORT) is the only transport today; ws:// is
// reserved for the WebSocket transport and refused as "not supported yet". Every problem is a
// usage error (exit 2).
func checkAddr(flag, s string) (string, error) {
	if s == "" {
		return "", usagef("%s is required (udp://HOST:PORT)", flag)
	}
	if i := strings.Index(s, "://"); i >= 0 {
		switch scheme := strings.ToLower(s[:i]); scheme {
		case "ws", "wss":
			return "", usagef("%s %s: the %s:// (WebSocket) transport is reserved and not supported yet; use udp://HOST:PORT", flag, s, scheme)
		case "udp", "udp4", "udp6":
		default:
			return "", usagef("%s %s: unknown transport %q; use udp://HOST:PORT", flag, s, scheme)
		}
	}
	transport, hostport, err := ctrl.ParseAddr(s)
	if err != nil {
		return "", usagef("%s %s: %s", flag, s, strings.TrimPrefix(stripPrefixes(err.Error()), "bad address: "))
	}
	if _, port, _ := net.SplitHostPort(hostport); port == "" {
		return "", usagef("%s %s: missing port", flag, s)
	}
	return transport + "://" + hostport, nil
}

// checkTransport validates a --transport name: udp now, ws reserved.
func checkTransport(name string) error {
	switch strings.ToLower(name) {
	case "udp":
		return nil
	case "ws", "wss":
		return usagef("--transport %s: the WebSocket transport is reserved and not supported yet; use udp", name)
	}
	return usagef("--transport %s: unknown transport; use udp", name)
}

// bindFor picks the local address a dialing node binds: every interface, an ephemeral port,
// in the address family of the peer (an IPv4 socket cannot reach an IPv6 peer and vice versa).
func bindFor(addr string) string {
	_, hostport, err := ctrl.ParseAddr(addr)
	if err != nil {
		return "udp://0.0.0.0:0"
	}
	host, _, _ := net.SplitHostPort(hostport)
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		return "udp://[::]:0"
	}
	if ua, err := net.ResolveUDPAddr("udp", hostport); err == nil && ua.IP.To4() == nil {
		return "udp://[::]:0"
	}
	return "udp://0.0.0.0:0"
}
