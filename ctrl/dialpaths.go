package ctrl

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/sttfast/sttfast/batchio"
	"github.com/sttfast/sttfast/batchio/wspath"
	"github.com/sttfast/sttfast/dataplane"
)

// DialPaths establishes a session with the node reachable at every one of addrs (its addresses
// in order of preference: udp:// first, then ws:// or wss://), as DialAny does, and keeps that
// one session across all of them (docs/PROTOCOL.md §10): when the path it is on goes silent
// (nothing heard for about three PTOs while data is in flight) it moves to the next address, UDP
// to WebSocket, without losing a byte; when a preferred address answers again it moves back.
// Session.Paths lists the addresses (a WebSocket one tagged, see dataplane.TagAddr),
// Session.ActivePath says which is in use, Session.Migrate moves by hand, and each move is an
// EventPathMigrated (Config.OnEvent) whose Reason says from where to where and why.
//
// The paths of one session must share an engine, whose TX loop alone owns the session's send
// keys, so DialPaths opens them for this session: a UDP socket of its own (on the wildcard of
// the first UDP address's family, with Config.WrapConn applied) and a WebSocket connection per
// ws:// address, united in a dataplane.MultiConn under an engine of their own on the node's
// table. The peer must listen on all of them with one node whose UDP and WebSocket listeners
// share an engine (uniteListeners does that for any node listening on both). An address whose
// WebSocket connection cannot be opened is left out (it fails only when none is left); a
// WebSocket connection that ends later is dropped from the paths. The engine and its
// connections end with the session, when the dial fails, and when the node closes.
func (n *Node) DialPaths(ctx context.Context, addrs ...string) (*Session, error) {
	s, _, err := n.DialPathsIndex(ctx, addrs...)
	return s, err
}

// DialPathsIndex is DialPaths that also returns the index in addrs of the address the
// handshake completed over, where the session starts (the handshake goes to the addresses in
// the manner of Happy Eyeballs, as DialAny's; -1 with an error).
func (n *Node) DialPathsIndex(ctx context.Context, addrs ...string) (*Session, int, error) {
	if len(addrs) == 0 {
		return nil, -1, fmt.Errorf("%w: no address to dial", ErrBadAddress)
	}
	if n.isClosed() {
		return nil, -1, ErrNodeClosed
	}
	mc, paths, err := n.openPaths(ctx, addrs)
	if err != nil {
		return nil, -1, err
	}
	p, err := n.startMultiEngine(mc)
	if err != nil {
		return nil, -1, err
	}
	timeout := n.cfg.HandshakeTimeout
	s, i, err := n.race(ctx, addrs, func(ctx context.Context, i int) (*Session, error) {
		if paths[i].err != nil {
			return nil, paths[i].err
		}
		n.stats.dials.Add(1)
		d := n.newDial(p.e, mc.LocalAddr(), paths[i].peer, timeout)
		s, err := d.handshake(ctx)
		if err != nil {
			n.stats.dialsFailed.Add(1)
			return nil, &DialError{Addr: addrs[i], Err: err}
		}
		n.stats.dialsOK.Add(1)
		return s, nil
	})
	if err != nil {
		n.stopPathEngine(p)
		return nil, -1, err
	}
	var known []netip.AddrPort
	for _, ph := range paths {
		if ph.err == nil {
			known = append(known, ph.peer)
		}
	}
	s.SetPaths(known...)
	p.sess <- s
	return s, i, nil
}

// dialPath is one address of a DialPaths: the peer as the session's engine names it (a
// WebSocket path's address tagged), or why it cannot be used.
type dialPath struct {
	peer netip.AddrPort
	err  error
}

// openPaths opens what DialPaths sends over: a UDP socket when some address is udp://, and a
// WebSocket connection per ws:// or wss:// address, united in a MultiConn whose primary path is
// the UDP socket (or the first WebSocket connection when there is none). Only a bad address, or
// no usable path at all, is an error.
func (n *Node) openPaths(ctx context.Context, addrs []string) (*dataplane.MultiConn, []dialPath, error) {
	paths := make([]dialPath, len(addrs))
	parsed := make([]Address, len(addrs))
	var udpPeer netip.AddrPort
	for i, addr := range addrs {
		a, err := ParseAddress(addr)
		if err != nil {
			return nil, nil, err
		}
		parsed[i] = a
		if a.Transport == "ws" || a.Transport == "wss" {
			continue
		}
		if paths[i].peer, err = resolve(ctx, addr); err != nil {
			return nil, nil, err
		}
		if !udpPeer.IsValid() {
			udpPeer = paths[i].peer
		}
	}
	var mc *dataplane.MultiConn
	if udpPeer.IsValid() {
		pc, err := n.pathSocket(udpPeer)
		if err != nil {
			return nil, nil, &DialError{Addr: addrs[0], Err: fmt.Errorf("%w: %v", ErrSendFailed, err)}
		}
		mc = dataplane.NewMultiConn(pc)
	}
	usable := udpPeer.IsValid()
	for i, a := range parsed {
		if a.Transport != "ws" && a.Transport != "wss" {
			continue
		}
		c, err := n.openWS(ctx, a)
		if err != nil {
			paths[i].err = &DialError{Addr: addrs[i], Err: err}
			continue
		}
		if mc == nil {
			mc = dataplane.NewMultiConn(c)
			paths[i].peer = c.Peer()
		} else {
			tag := fmt.Sprintf("ws%d", i)
			mc.AddPath(c, tag) // tags are distinct: it cannot fail
			paths[i].peer = dataplane.TagAddr(c.Peer(), tag)
		}
		usable = true
	}
	if !usable {
		errs := make([]error, 0, len(paths))
		for _, p := range paths {
			errs = append(errs, p.err)
		}
		return nil, nil, &dialAnyError{errs: errs}
	}
	return mc, paths, nil
}

// pathSocket opens the UDP socket of a DialPaths session: the wildcard of peer's family, a free
// port, the node's socket options and Config.WrapConn.
func (n *Node) pathSocket(peer netip.AddrPort) (dataplane.PacketConn, error) {
	network, wildcard := "udp4", "0.0.0.0:0"
	if !peer.Addr().Is4() {
		network, wildcard = "udp6", "[::]:0"
	}
	cfg := &n.cfg
	c, err := batchio.Listen(network, wildcard, batchio.Options{
		RecvBuffer: cfg.RecvBuffer,
		SendBuffer: cfg.SendBuffer,
		DisableGSO: cfg.DisableGSO,
		DisableGRO: cfg.DisableGRO,
		BatchSize:  cfg.Transport.BatchSize,
	})
	if err != nil {
		return nil, err
	}
	if err := c.SetPeerErrorHandler(n.onPeerError); err != nil {
		cfg.Logger.Warn("sttfast: ICMP errors will not reach dials", "err", err)
	}
	var pc dataplane.PacketConn = c
	if cfg.WrapConn != nil {
		pc = cfg.WrapConn(pc)
	}
	return pc, nil
}

// openWS opens the WebSocket connection of one DialPaths address, within the handshake
// timeout, with dialWS's errors.
func (n *Node) openWS(ctx context.Context, a Address) (*wspath.Conn, error) {
	wc := n.cfg.WebSocket
	if wc.UpgradeTimeout == 0 {
		wc.UpgradeTimeout = n.cfg.HandshakeTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, n.cfg.HandshakeTimeout)
	defer cancel()
	c, err := wspath.Dial(dctx, a.String(), wc)
	if err != nil {
		return nil, wsDialError(ctx, err)
	}
	return c, nil
}

// startMultiEngine starts an engine over mc on the node's table, as startPathEngine does for one
// WebSocket connection; on a closed node it closes mc.
func (n *Node) startMultiEngine(mc *dataplane.MultiConn) (*pathEngine, error) {
	p := &pathEngine{sess: make(chan *Session, 1)}
	p.e = dataplane.NewEngine(mc, n.cfg.Transport, n.table)
	if err := n.runPathEngine(p, func() { mc.Close() }); err != nil {
		return nil, err
	}
	return p, nil
}
