package main

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sttfast/sttfast/ctrl"
)

// checkAddr validates an address URL given with flag and returns it in canonical form:
// "udp://HOST:PORT" (for a bare HOST:PORT too) or "ws://HOST:PORT/PATH" (the path /stt when none
// is given; wss:// likewise, for dialing). Every problem is a usage error (exit 2).
func checkAddr(flag, s string) (string, error) {
	if s == "" {
		return "", usagef("%s is required (udp://HOST:PORT or ws://HOST:PORT/PATH)", flag)
	}
	a, err := ctrl.ParseAddress(s)
	if err != nil {
		return "", usagef("%s %s: %s", flag, s, addrProblem(s, err))
	}
	network := "udp"
	if a.Path != "" {
		network = "tcp"
	}
	_, port, _ := net.SplitHostPort(a.HostPort)
	if n, err := strconv.Atoi(port); err == nil {
		if n < 0 || n > 65535 {
			return "", usagef("%s %s: port %d is out of range (0-65535)", flag, s, n)
		}
	} else if _, err := net.LookupPort(network, port); err != nil {
		return "", usagef("%s %s: unknown port %q (want a number, 0-65535)", flag, s, port)
	}
	return a.String(), nil
}

// checkListenAddr is checkAddr for an address to listen on: wss:// is refused, since a node
// serves plain ws:// and TLS is terminated in front of it.
func checkListenAddr(flag, s string) (string, error) {
	a, err := checkAddr(flag, s)
	if err == nil && strings.HasPrefix(a, "wss://") {
		return "", usagef("%s %s: a node does not listen with TLS: listen on ws://%s and terminate TLS in front of it (a reverse proxy); wss:// is for dial", flag, s, strings.TrimPrefix(a, "wss://"))
	}
	return a, err
}

// addrProblem says what is wrong with address s, which ctrl.ParseAddr refused with err, once:
// the flag and the address already start the line, so neither is repeated.
func addrProblem(s string, err error) string {
	rest := s
	if i := strings.Index(s, "://"); i >= 0 {
		rest = s[i+3:]
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 && strings.HasPrefix(strings.ToLower(s), "ws") {
		rest = rest[:i] // a WebSocket address's path is not HOST:PORT's problem
	}
	if _, _, serr := net.SplitHostPort(rest); serr != nil && !strings.ContainsAny(rest, "/?#") {
		var ae *net.AddrError
		if errors.As(serr, &ae) {
			if strings.HasPrefix(strings.ToLower(s), "ws") {
				return ae.Err + " (want ws://HOST:PORT/PATH)"
			}
			return ae.Err + " (want udp://HOST:PORT)"
		}
	}
	why := strings.TrimPrefix(stripPrefixes(err.Error()), "bad address: ")
	return strings.TrimPrefix(why, strconv.Quote(rest)+": ")
}

// shownAddr is the address a listening command prints: the host as the user gave it (not the
// socket's "[::]" for 0.0.0.0) with the port actually bound (port 0 picks one), and a ws
// address's path.
func shownAddr(addr string, bound netip.AddrPort) string {
	a, err := ctrl.ParseAddress(addr)
	if err != nil {
		return "udp://" + bound.String()
	}
	host, _, _ := net.SplitHostPort(a.HostPort)
	a.HostPort = net.JoinHostPort(host, strconv.Itoa(int(bound.Port())))
	return a.String()
}

// checkTransport validates a --transport name and returns it lower-cased: udp or ws.
func checkTransport(name string) (string, error) {
	switch t := strings.ToLower(name); t {
	case "udp", "ws":
		return t, nil
	case "wss":
		return "", usagef("--transport wss: the in-process bench has no TLS; use ws (or --addr wss://... against a serve behind a TLS proxy)")
	}
	return "", usagef("--transport %s: unknown transport; use udp or ws", name)
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
