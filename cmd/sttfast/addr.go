package main

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
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
		return "", usagef("%s %s: %s", flag, s, addrProblem(s, err))
	}
	_, port, _ := net.SplitHostPort(hostport)
	if n, err := strconv.Atoi(port); err == nil {
		if n < 0 || n > 65535 {
			return "", usagef("%s %s: port %d is out of range (0-65535)", flag, s, n)
		}
	} else if _, err := net.LookupPort("udp", port); err != nil {
		return "", usagef("%s %s: unknown port %q (want a number, 0-65535)", flag, s, port)
	}
	return transport + "://" + hostport, nil
}

// addrProblem says what is wrong with address s, which ctrl.ParseAddr refused with err, once:
// the flag and the address already start the line, so neither is repeated.
func addrProblem(s string, err error) string {
	rest := s
	if i := strings.Index(s, "://"); i >= 0 {
		rest = s[i+3:]
	}
	if _, _, serr := net.SplitHostPort(rest); serr != nil && !strings.ContainsAny(rest, "/?#") {
		var ae *net.AddrError
		if errors.As(serr, &ae) {
			return ae.Err + " (want udp://HOST:PORT)"
		}
	}
	why := strings.TrimPrefix(stripPrefixes(err.Error()), "bad address: ")
	return strings.TrimPrefix(why, strconv.Quote(rest)+": ")
}

// shownAddr is the address a listening command prints: the host as the user gave it (not the
// socket's "[::]" for 0.0.0.0) with the port actually bound (port 0 picks one).
func shownAddr(addr string, bound netip.AddrPort) string {
	transport, hostport, err := ctrl.ParseAddr(addr)
	if err != nil {
		return "udp://" + bound.String()
	}
	host, _, _ := net.SplitHostPort(hostport)
	return transport + "://" + net.JoinHostPort(host, strconv.Itoa(int(bound.Port())))
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
