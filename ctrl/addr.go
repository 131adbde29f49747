package ctrl

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ParseAddr splits an sttfast address URL into its transport and the rest, for the caller to
// dispatch on the transport. It accepts "udp://HOST:PORT" (also udp4://, udp6://) and a bare
// "HOST:PORT" (meaning UDP), for which the rest is HOST:PORT. "ws://" and "wss://" are reserved
// for the WebSocket path and refused until it exists; each transport's own rules live in its
// own function below, so a new transport is one more case.
func ParseAddr(s string) (transport, hostport string, err error) {
	transport, rest := splitScheme(s)
	switch transport {
	case "udp", "udp4", "udp6":
		hostport, err = parseUDPAddr(rest)
	case "ws", "wss":
		err = fmt.Errorf("%w: %q: the %s:// (WebSocket) transport is reserved and not supported yet; use udp://HOST:PORT", ErrBadAddress, rest, transport)
	default:
		err = fmt.Errorf("%w: %q: unknown transport %q; use udp://HOST:PORT", ErrBadAddress, rest, transport)
	}
	if err != nil {
		return "", "", err
	}
	return transport, hostport, nil
}

// splitScheme splits "scheme://rest" into the lower-cased scheme and rest; an address without a
// scheme is UDP.
func splitScheme(s string) (transport, rest string) {
	if i := strings.Index(s, "://"); i >= 0 {
		return strings.ToLower(s[:i]), s[i+3:]
	}
	return "udp", s
}

// parseUDPAddr checks the HOST:PORT of a UDP address: no path, and a port.
func parseUDPAddr(s string) (string, error) {
	if strings.ContainsAny(s, "/?#") {
		return "", fmt.Errorf("%w: %q: a udp address has no path", ErrBadAddress, s)
	}
	if _, port, err := net.SplitHostPort(s); err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrBadAddress, s, err)
	} else if port == "" {
		return "", fmt.Errorf("%w: %q: missing port", ErrBadAddress, s)
	}
	return s, nil
}

// resolve turns an address URL into a UDP address, looking the host up when it is a name.
func resolve(ctx context.Context, s string) (netip.AddrPort, error) {
	network, hp, err := ParseAddr(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if ap, err := netip.ParseAddrPort(hp); err == nil {
		return unmap(ap), nil
	}
	host, port, _ := net.SplitHostPort(hp)
	pn, err := net.DefaultResolver.LookupPort(ctx, network, port)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: %q: %v", ErrBadAddress, s, err)
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: %q: cannot resolve %q: %v", ErrBadAddress, s, host, err)
	}
	ip := ips[0]
	for _, c := range ips {
		if c.Is4() || c.Is4In6() {
			ip = c
			break
		}
	}
	return unmap(netip.AddrPortFrom(ip, uint16(pn))), nil
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
