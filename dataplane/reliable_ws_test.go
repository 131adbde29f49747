package dataplane

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sttfast/sttfast/batchio/wspath"
)

// TestReliableOverWebSocket runs two started engines over real wspath connections on loopback,
// the server's with the smallest outbound budget wspath allows (one largest message and a bit),
// so that its sessions are held back by the budget all the time: data moves both ways
// byte-exact, the budget never drops a packet, and every packet declared lost is one a receive
// queue dropped (the only way an ordered path loses one).
func TestReliableOverWebSocket(t *testing.T) {
	down, up := 32<<20, 8<<20
	if testing.Short() || raceEnabled {
		down, up = 8<<20, 2<<20
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // a guard against hangs only
	defer cancel()
	srvConn, err := wspath.Listen("127.0.0.1:0", wspath.Config{Path: "/stt", OutboundBudget: 80 << 10})
	if err != nil {
		t.Fatal(err)
	}
	cliConn, err := wspath.Dial(ctx, "ws://"+srvConn.LocalAddr().String()+"/stt", wspath.Config{})
	if err != nil {
		srvConn.Close()
		t.Fatal(err)
	}
	srv, cli := NewEngine(srvConn, Config{}, nil), NewEngine(cliConn, Config{}, nil)
	srv.Start()
	cli.Start()
	defer cli.Close()
	defer srv.Close()
	if !srv.Reliable() || !cli.Reliable() {
		t.Fatal("engines over wspath are not reliable")
	}
	// The client's engine answers with FINAL, so the first packet goes from client to server and
	// the server writes to the client's connection only once it is registered.
	i2r, r2i := pairSecrets()
	ss, err := srv.Install(SessionParams{ID: pairID, Initiator: true, Peer: cliConn.LocalAddr(), Send: i2r, Recv: r2i})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := cli.Install(SessionParams{ID: pairID, Peer: cliConn.Peer(), Send: r2i, Recv: i2r, Final: true})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ss.EstablishedC():
	case <-ctx.Done():
		t.Fatal("session not established")
	}

	transfer := func(from, to *Session, data []byte) <-chan error {
		done := make(chan error, 2)
		go func() {
			st, err := from.OpenStream(ctx)
			if err == nil {
				err = st.WriteMessage(data)
			}
			done <- err
		}()
		go func() {
			st, err := to.AcceptStream(ctx)
			if err != nil {
				done <- err
				return
			}
			got, err := st.ReadMessage(nil)
			if err == nil && !bytes.Equal(got, data) {
				err = errDataDiffers
			}
			done <- err
		}()
		return done
	}
	d1 := transfer(ss, cs, randomBytes(down, 21))
	d2 := transfer(cs, ss, randomBytes(up, 22))
	for _, d := range []<-chan error{d1, d1, d2, d2} {
		if err := <-d; err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		s    *Session
		peer *wspath.Conn
		own  *wspath.Conn
	}{{"server", ss, cliConn, srvConn}, {"client", cs, srvConn, cliConn}} {
		st, ps := c.s.Stats(), c.own.Stats()
		if ps.DropBudget != 0 || ps.DropNoPeer != 0 || ps.DropOversize != 0 {
			t.Errorf("%s path dropped: budget %d, no peer %d, oversize %d; want none", c.name, ps.DropBudget, ps.DropNoPeer, ps.DropOversize)
		}
		if q := c.peer.Stats().DropQueue; st.PacketsLost > q {
			t.Errorf("%s declared %d packets lost, more than the %d its peer's read queue dropped", c.name, st.PacketsLost, q)
		}
		t.Logf("%s: %d packets sent, %d lost, %d bytes resent, %d PTOs, engine held by the path %d times",
			c.name, st.PacketsSent, st.PacketsLost, st.RetransmittedBytes, st.PTOs, c.s.e.Stats().PathHeld)
	}
}

var errDataDiffers = errors.New("received data differs from what was sent")
