package wspath

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/sttfast/sttfast/batchio"
)

// Dial opens a WebSocket connection to rawURL (ws://host:port/path, or wss:// with cfg.TLS) and
// returns it as a Conn with exactly one peer: the server, whose address is Peer. The handshake is
// bounded by ctx and cfg.UpgradeTimeout.
func Dial(ctx context.Context, rawURL string, cfg Config) (*Conn, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, fmt.Errorf("wspath: dial %q: %w", rawURL, ErrBadURL)
	}
	d := ws.Dialer{Timeout: cfg.UpgradeTimeout, TLSConfig: cfg.TLS}
	nc, br, _, err := d.Dial(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("wspath: dial %s: %w", rawURL, err)
	}
	c := newConn(cfg)
	cl := &client{
		c:     c,
		nc:    nc,
		peer:  addrPortOf(nc.RemoteAddr()),
		out:   newOutbox(cfg.OutboundBudget, true, &c.dropBudget),
		kickc: make(chan struct{}, 1),
		ended: make(chan struct{}),
		rbuf:  make([]byte, 2*(cfg.MaxMessage+maxFrameHeader)),
	}
	cl.parser = frameParser{max: cfg.MaxMessage}
	c.cli = cl
	c.local = addrPortOf(nc.LocalAddr())
	// The Dialer's reader may already hold the first frames, sent with the 101: take them over
	// before reading from the connection directly.
	if br != nil {
		n := br.Buffered()
		if n > len(cl.rbuf) {
			nc.Close()
			return nil, fmt.Errorf("wspath: dial %s: %d bytes after the handshake: %w", rawURL, n, ErrMessageTooBig)
		}
		cl.rn, _ = br.Read(cl.rbuf[:n])
		ws.PutReader(br)
	}
	cl.wg.Add(2)
	go cl.readLoop()
	go cl.writeLoop()
	return c, nil
}

// Peer returns the address of a dialed Conn's server (the TCP peer), the Addr its packets carry
// and the one WriteBatch accepts; the zero AddrPort on a Listener's Conn.
func (c *Conn) Peer() netip.AddrPort {
	if c.cli == nil {
		return netip.AddrPort{}
	}
	return c.cli.peer
}

// client is a dialed connection: a reader goroutine parses frames into the Conn's queue, a writer
// goroutine sends what WriteBatch framed.
type client struct {
	c      *Conn
	nc     net.Conn
	peer   netip.AddrPort
	out    *outbox
	parser frameParser
	rbuf   []byte
	rn     int           // bytes in rbuf
	kickc  chan struct{} // the writer has frames to send
	ended  chan struct{} // closed once the connection is over, with why in endErr
	once   sync.Once
	endMu  sync.Mutex
	endErr error
	wg     sync.WaitGroup
}

// finish ends the connection once, recording why; the writer flushes what is queued (a close
// frame) and closes the socket.
func (cl *client) finish(err error) {
	cl.once.Do(func() {
		cl.endMu.Lock()
		cl.endErr = err
		cl.endMu.Unlock()
		close(cl.ended)
		// A writer blocked on a server that stopped reading gets a second to finish, then its
		// write fails and it closes the socket, so ending never hangs.
		_ = cl.nc.SetWriteDeadline(time.Now().Add(time.Second))
	})
}

func (cl *client) err() error {
	cl.endMu.Lock()
	defer cl.endMu.Unlock()
	return cl.endErr
}

func (cl *client) kick() {
	select {
	case cl.kickc <- struct{}{}:
	default:
	}
}

// send frames each datagram of it, masked, to the server (Conn.WriteBatch); other addresses have
// no connection here.
func (cl *client) send(addr netip.AddrPort, it *batchio.DatagramIter) {
	for d, ok := it.Next(); ok; d, ok = it.Next() {
		switch {
		case len(d) > cl.c.cfg.MaxMessage:
			cl.c.dropOversize.Add(1)
		case addr != cl.peer:
			cl.c.dropNoPeer.Add(1)
		default:
			if _, kick := cl.out.frame(ws.OpBinary, d, false); kick {
				cl.kick()
			}
		}
	}
}

// readLoop reads and parses frames until the connection ends.
func (cl *client) readLoop() {
	defer cl.wg.Done()
	for {
		used, err := cl.parser.parse(cl.rbuf[:cl.rn], cl)
		cl.rn = copy(cl.rbuf, cl.rbuf[used:cl.rn])
		if err != nil {
			var ce *closeError
			if errors.As(err, &ce) {
				cl.c.countClose(ce.code)
				cl.sendClose(ce.code)
			}
			cl.finish(fmt.Errorf("wspath: from %s: %w", cl.peer, err))
			return
		}
		select {
		case <-cl.ended:
			return
		default:
		}
		n, err := cl.nc.Read(cl.rbuf[cl.rn:])
		cl.rn += n
		if err != nil && n == 0 {
			cl.finish(fmt.Errorf("wspath: read from %s: %w", cl.peer, errors.Join(ErrPeerClosed, err)))
			return
		}
	}
}

// writeLoop sends queued frames; once the connection has ended it sends what is left (a close
// frame) within the write deadline finish set, and closes the socket.
func (cl *client) writeLoop() {
	defer cl.wg.Done()
	for {
		select {
		case <-cl.kickc:
			if !cl.flush() {
				cl.finish(fmt.Errorf("wspath: write to %s: %w", cl.peer, ErrPeerClosed))
			}
		case <-cl.ended:
			cl.flush() // the close frame, within the deadline finish set

			cl.out.shut()
			_ = cl.nc.Close()
			return
		}
	}
}

// flush writes the pending frames; false on a write error.
func (cl *client) flush() bool {
	b := cl.out.take()
	if b == nil {
		cl.out.giveBack(nil, 0)
		return true
	}
	_, err := cl.nc.Write(b) // take counted b as held until giveBack
	cl.out.giveBack(b, 0)
	return err == nil
}

// message delivers one received packet to the read queue (frameSink).
func (cl *client) message(p []byte) { cl.c.q.push(cl.peer, p) }

// ping answers with a pong (frameSink).
func (cl *client) ping(p []byte) {
	queued, kick := cl.out.pong(p)
	if !queued {
		cl.c.dropPong.Add(1)
	}
	if kick {
		cl.kick()
	}
}

// peerClose answers the server's close frame and ends the connection (frameSink).
func (cl *client) peerClose(body []byte) {
	code := closeCode(body)
	cl.sendClose(code)
	cl.c.peerCloses.Add(1)
	cl.finish(fmt.Errorf("wspath: %s closed the connection (code %d): %w", cl.peer, code, ErrPeerClosed))
}

// sendClose queues a close frame with code (none for 1005, no status).
func (cl *client) sendClose(code ws.StatusCode) { cl.out.closeFrame(code) }

// stop sends a normal close frame and waits for both goroutines (Conn.Close).
func (cl *client) stop() error {
	cl.sendClose(ws.StatusNormalClosure)
	cl.finish(net.ErrClosed)
	cl.wg.Wait()
	return nil
}
