package ctrl

import (
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/batchio/wspath"
	"github.com/sttfast/sttfast/dataplane"
)

// BoundAddr is one address a node listens on, as bound: its transport and the socket's local
// address with the port resolved (port 0 picks a free one).
type BoundAddr struct {
	// Transport is the path kind: "udp" (for udp4:// and udp6:// addresses too) or "ws".
	Transport string
	// Addr is the socket's local address: "[::]" for a wildcard bind that takes IPv4 and IPv6.
	Addr netip.AddrPort
	// Path is a ws listener's request path ("/stt"); empty for udp.
	Path string
}

// String is the address as a URL that ParseAddr accepts, such as "udp://127.0.0.1:9000" or
// "ws://127.0.0.1:9080/stt".
func (b BoundAddr) String() string { return b.Transport + "://" + b.Addr.String() + b.Path }

// ListenError is Listen's error when one of the addresses could not be bound: it names that
// address, and errors.Is sees through it to the system's reason (syscall.EADDRINUSE...).
type ListenError struct {
	// Addr is the address as configured (Config.Addr or an entry of Config.Addrs).
	Addr string
	// Err is why it could not be bound.
	Err error
}

// Error is "sttfast: listen ADDR: why".
func (e *ListenError) Error() string { return "sttfast: listen " + e.Addr + ": " + e.Err.Error() }

// Unwrap returns why the address could not be bound.
func (e *ListenError) Unwrap() error { return e.Err }

// listener is one listening address of the node and the engines that serve it, all on the node's
// one session table: for udp, Config.Sockets UDP sockets sharing its port, each with its own
// engine; for ws, one WebSocket listener (wspath, gnet's event loops) and one engine over it.
type listener struct {
	bound   BoundAddr
	network string // "udp", "udp4" or "udp6": whether a wildcard IPv6 bind also reaches IPv4
	conns   []*batchio.Conn
	ws      *wspath.Conn // the ws listener; nil for udp
	// tag is a ws listener's path tag on the MultiConn of the UDP engine it joined
	// (uniteListeners), "" while it has an engine of its own.
	tag     string
	pcs     []dataplane.PacketConn // udp: what each engine runs over (conns, wrapped)
	engines []*dataplane.Engine
	rr      atomic.Uint32 // spreads dials over engines
	// multi is the union the first engine runs over when ws listeners joined it
	// (uniteListeners): its tagged paths' traffic is the node's WebSocket traffic.
	multi *dataplane.MultiConn
}

// listenAddrs is every address the node listens on: Addr first, then Addrs, in order.
func (c *Config) listenAddrs() []string {
	return append([]string{c.Addr}, c.Addrs...)
}

// bind opens the sockets of every listening address and makes (without starting) one engine per
// socket. The transport each address names chooses how it is bound: the one place a new
// transport plugs in. On error every socket opened so far is closed.
func (n *Node) bind() error {
	for _, addr := range n.cfg.listenAddrs() {
		a, err := ParseAddress(addr)
		if err != nil {
			n.closeConns()
			return err
		}
		var l *listener
		switch a.Transport {
		case "udp", "udp4", "udp6":
			l, err = n.bindUDP(a.Transport, a.HostPort)
		case "ws":
			l, err = n.bindWS(a.HostPort, a.Path)
		case "wss":
			err = fmt.Errorf("%w: a node does not listen with TLS: listen on ws://%s%s and terminate TLS in front of it (a reverse proxy); wss:// is for dialing", ErrBadAddress, a.HostPort, a.Path)
		default:
			err = fmt.Errorf("%w: no listener for the %s transport", ErrBadAddress, a.Transport)
		}
		if err != nil {
			n.closeConns()
			return &ListenError{Addr: addr, Err: err}
		}
		n.listeners = append(n.listeners, l)
	}
	n.uniteListeners()
	for _, l := range n.listeners {
		n.engines = append(n.engines, l.engines...)
	}
	n.addr = n.listeners[0].bound.Addr
	return nil
}

// uniteListeners makes the node's WebSocket listeners paths of its first UDP engine, so that a
// session can move between UDP and WebSocket (a dialer's failover and return, docs/
// ARCHITECTURE.md "Sessions that move"): that engine's conn becomes a dataplane.MultiConn of its
// UDP socket and every ws listener (tagged "ws", "ws2"...), and the ws listeners get no engine
// of their own. Without a UDP address nothing changes. With Config.Sockets > 1 only sessions of
// the first socket's engine can move to WebSocket (the kernel spreads UDP peers over the
// sockets), and a session of another socket stays where it is. The union costs no copy per
// packet: the engine's RX loop reads the MultiConn with LendBatch.
func (n *Node) uniteListeners() {
	var udp *listener
	var ws []*listener
	for _, l := range n.listeners {
		switch {
		case l.ws != nil:
			ws = append(ws, l)
		case udp == nil:
			udp = l
		}
	}
	if udp == nil || len(ws) == 0 {
		return
	}
	mc := dataplane.NewMultiConn(udp.pcs[0])
	for i, l := range ws {
		l.tag = "ws"
		if i > 0 {
			l.tag = fmt.Sprintf("ws%d", i+1)
		}
		mc.AddPath(l.ws, l.tag) // tags are distinct: it cannot fail
		l.engines = nil
	}
	udp.engines[0] = dataplane.NewEngine(mc, n.cfg.Transport, n.table)
	udp.multi = mc
}

// bindUDP opens Config.Sockets UDP sockets on hostport (all on the port the first one got) and
// their engines.
func (n *Node) bindUDP(network, hostport string) (*listener, error) {
	cfg := &n.cfg
	opts := batchio.Options{
		ReusePort:  cfg.Sockets > 1,
		RecvBuffer: cfg.RecvBuffer,
		SendBuffer: cfg.SendBuffer,
		DisableGSO: cfg.DisableGSO,
		DisableGRO: cfg.DisableGRO,
		BatchSize:  cfg.Transport.BatchSize,
	}
	l := &listener{network: network}
	for i := 0; i < cfg.Sockets; i++ {
		c, err := batchio.Listen(network, hostport, opts)
		if err != nil {
			for _, c := range l.conns {
				c.Close()
			}
			return nil, err
		}
		if i == 0 {
			l.bound = BoundAddr{Transport: "udp", Addr: c.LocalAddr()}
			hostport = l.bound.Addr.String() // later sockets join the same port
		}
		l.conns = append(l.conns, c)
		// What the network and this host say about our datagrams (an ICMP port unreachable,
		// a send refused) goes to the dial that sent them.
		if err := c.SetPeerErrorHandler(n.onPeerError); err != nil {
			// Dials still work; a port where nothing listens is then a silence.
			cfg.Logger.Warn("sttfast: ICMP errors will not reach dials", "err", err)
		}
	}
	n.conns = append(n.conns, l.conns...)
	for _, c := range l.conns {
		var pc dataplane.PacketConn = c
		if cfg.WrapConn != nil {
			pc = cfg.WrapConn(pc)
		}
		l.pcs = append(l.pcs, pc)
		l.engines = append(l.engines, dataplane.NewEngine(pc, cfg.Transport, n.table))
	}
	return l, nil
}

// bindWS starts a WebSocket listener on hostport that accepts upgrades to path, and one engine
// over it. Config.WrapConn is not applied: a wrapper would hide the path's reliability
// (dataplane.ReliableConn), and the engine would run loss timers over TCP.
func (n *Node) bindWS(hostport, path string) (*listener, error) {
	c, err := wspath.Listen(hostport, n.wsConfig(path))
	if err != nil {
		return nil, err
	}
	l := &listener{network: "tcp", ws: c, bound: BoundAddr{Transport: "ws", Addr: c.LocalAddr(), Path: path}}
	l.engines = []*dataplane.Engine{dataplane.NewEngine(c, n.cfg.Transport, n.table)}
	return l, nil
}

// wsConfig is Config.WebSocket for path: its event loops default to Config.Sockets.
func (n *Node) wsConfig(path string) wspath.Config {
	wc := n.cfg.WebSocket
	wc.Path = path
	if wc.EventLoops == 0 {
		wc.EventLoops = n.cfg.Sockets
	}
	return wc
}

// Addrs is every address the node listens on, as bound: Config.Addr's first (the one Addr
// returns), then Config.Addrs' in order.
func (n *Node) Addrs() []BoundAddr {
	out := make([]BoundAddr, len(n.listeners))
	for i, l := range n.listeners {
		out[i] = l.bound
	}
	return out
}

// engineFor picks the engine a UDP dial to peer goes out on, and its socket's local address: one
// of the UDP listening address that reaches peer best (reach), the engines of that address in
// turn; the first UDP address when none can (the send then fails and the dial says why); nil when
// the node listens on no UDP address.
func (n *Node) engineFor(peer netip.AddrPort) (*dataplane.Engine, netip.AddrPort) {
	var best *listener
	bestScore := 0
	for _, l := range n.listeners {
		if l.ws != nil {
			continue // a WebSocket listener cannot send UDP datagrams
		}
		if best == nil {
			best = l
		}
		if s := l.reach(peer.Addr()); s > bestScore {
			best, bestScore = l, s
		}
	}
	if best == nil {
		return nil, netip.AddrPort{}
	}
	i := best.rr.Add(1)
	return best.engines[int(i)%len(best.engines)], best.bound.Addr
}

// reach scores how well the listener's sockets can send to dst: 0 not at all (another address
// family, or a loopback bind toward another host), 1 a specific address of dst's family, 2 an
// IPv6 wildcard that also takes IPv4 (dual stack) for an IPv4 dst, 3 the wildcard of dst's own
// family. A wildcard is preferred: the kernel then picks the source address toward each peer.
func (l *listener) reach(dst netip.Addr) int {
	local := l.bound.Addr.Addr()
	switch {
	case local.IsUnspecified() && local.Is4():
		return score(dst.Is4(), 3)
	case local.IsUnspecified() && dst.Is6():
		return 3
	case local.IsUnspecified():
		return score(l.network != "udp6", 2) // an udp6 wildcard is IPv6-only
	case local.Is4() != dst.Is4():
		return 0
	case local.IsLoopback() && !dst.IsLoopback():
		return 0
	}
	return 1
}

func score(ok bool, s int) int {
	if ok {
		return s
	}
	return 0
}
