package ctrl

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// DefaultWSPath is the request path of a ws:// or wss:// address that names none: "ws://HOST:PORT"
// means "ws://HOST:PORT/stt", on both the listening and the dialing side, so that the two agree
// without saying it. A path given explicitly ("/" included) is used as given.
const DefaultWSPath = "/stt"

// Address is an sttfast address URL taken apart by ParseAddress.
type Address struct {
	// Transport is the scheme, lower-cased: "udp", "udp4", "udp6", "ws" or "wss".
	Transport string
	// HostPort is "HOST:PORT" as given (a name is not resolved).
	HostPort string
	// Path is the WebSocket request path ("/stt" when the address named none); empty for UDP.
	Path string
}

// String is the address in canonical form, which ParseAddress accepts: "udp://HOST:PORT" or
// "ws://HOST:PORT/PATH".
func (a Address) String() string { return a.Transport + "://" + a.HostPort + a.Path }

// ParseAddress takes an sttfast address URL apart, for the caller to dispatch on the transport.
// It accepts "udp://HOST:PORT" (also udp4://, udp6://) and a bare "HOST:PORT" (meaning UDP),
// which have no path; and "ws://HOST:PORT/PATH" and "wss://HOST:PORT/PATH", the WebSocket path
// (DefaultWSPath when no path is given), which have no query or fragment. A node listens on
// ws:// but not on wss://: TLS is terminated in front of it (a reverse proxy), so wss:// is for
// dialing a node behind one (Node.bind refuses it, saying so). Each transport's own rules live
// in its own function below, so a new transport is one more case.
func ParseAddress(s string) (Address, error) {
	transport, rest := splitScheme(s)
	var a Address
	var err error
	switch transport {
	case "udp", "udp4", "udp6":
		a.HostPort, err = parseUDPAddr(rest)
	case "ws", "wss":
		a.HostPort, a.Path, err = parseWSAddr(rest)
	default:
		err = fmt.Errorf("%w: %q: unknown transport %q; use udp://HOST:PORT or ws://HOST:PORT/PATH", ErrBadAddress, rest, transport)
	}
	if err != nil {
		return Address{}, err
	}
	a.Transport = transport
	return a, nil
}

// ParseAddr splits an sttfast address URL into its transport and HOST:PORT (ParseAddress without
// the WebSocket path).
func ParseAddr(s string) (transport, hostport string, err error) {
	a, err := ParseAddress(s)
	if err != nil {
		return "", "", err
	}
	return a.Transport, a.HostPort, nil
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

// parseWSAddr checks the HOST:PORT[/PATH] of a WebSocket address: a port, a path or none
// (DefaultWSPath), no query or fragment.
func parseWSAddr(s string) (hostport, path string, err error) {
	hostport, path = s, DefaultWSPath
	if i := strings.IndexByte(s, '/'); i >= 0 {
		hostport, path = s[:i], s[i:]
	}
	if strings.ContainsAny(s, "?#") {
		return "", "", fmt.Errorf("%w: %q: a ws address has no query or fragment", ErrBadAddress, s)
	}
	if strings.ContainsAny(path, " \t\r\n") {
		return "", "", fmt.Errorf("%w: %q: the path has white space", ErrBadAddress, s)
	}
	if _, err := parseUDPAddr(hostport); err != nil {
		return "", "", fmt.Errorf("%w: %q: %v", ErrBadAddress, s, strings.TrimPrefix(strings.TrimPrefix(err.Error(), ErrBadAddress.Error()+": "), fmt.Sprintf("%q: ", hostport)))
	}
	return hostport, path, nil
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
