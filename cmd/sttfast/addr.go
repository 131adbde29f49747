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
	transport, hostport, err := ctrl.ParseAddr(s)
	if err != nil {
		return "", usagef("%s %s: %s", flag, s, strings.TrimPrefix(stripPrefixes(err.Error()), "bad address: "))
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
