package ctrl

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ParseAddr splits an sttfast address URL into its transport and host:port. It accepts
// "udp://HOST:PORT" and a bare "HOST:PORT" (meaning UDP). "ws://" is reserved for the WebSocket
// path and refused until it exists.
func ParseAddr(s string) (transport, hostport string, err error) {
	transport = "udp"
	if i := strings.Index(s, "://"); i >= 0 {
		transport, s = strings.ToLower(s[:i]), s[i+3:]
	}
	switch transport {
	case "udp", "udp4", "udp6":
	case "ws", "wss":
		return "", "", fmt.Errorf("%w: %q: the %s:// (WebSocket) transport is reserved and not supported yet; use udp://HOST:PORT", ErrBadAddress, s, transport)
	default:
		return "", "", fmt.Errorf("%w: %q: unknown transport %q; use udp://HOST:PORT", ErrBadAddress, s, transport)
	}
	if strings.ContainsAny(s, "/?#") {
		return "", "", fmt.Errorf("%w: %q: a udp address has no path", ErrBadAddress, s)
	}
	if _, port, err := net.SplitHostPort(s); err != nil {
		return "", "", fmt.Errorf("%w: %q: %v", ErrBadAddress, s, err)
	} else if port == "" {
		return "", "", fmt.Errorf("%w: %q: missing port", ErrBadAddress, s)
	}
	return transport, s, nil
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
