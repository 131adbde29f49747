package wspath

import (
	"bytes"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/sttfast/sttfast/batchio"
)

// Many packets of seeded random sizes go client → server and are echoed back, in windows small
// enough that no budget or queue drops them; every byte is checked both ways.
func TestRoundTrip(t *testing.T) {
	srv := listenT(t, Config{})
	cli := dialT(t, srv, Config{})
	watchdog(t, 30*time.Second, srv, cli)
	rng := rand.New(rand.NewPCG(12, 6455))
	const total = 3000
	go echo(srv)
	send := batchio.NewSlab(32, DefaultMaxMessage).Messages()
	recv := batchio.NewSlab(32, DefaultMaxMessage).Messages()
	sent := 0
	for sent < total {
		// One window: up to 32 packets and 256 KiB.
		k, bytesInWindow := 0, 0
		for k < len(send) && sent+k < total && bytesInWindow < 256<<10 {
			size := 1 + rng.IntN(1400)
			if rng.IntN(50) == 0 {
				size = DefaultMaxMessage - rng.IntN(100)
			}
			m := &send[k]
			m.N, m.Addr, m.Seg = size, cli.Peer(), 0
			fill(m.Buf[:size], sent+k)
			bytesInWindow += size
			k++
		}
		if n, err := cli.WriteBatch(send[:k]); err != nil || n != k {
			t.Fatalf("client WriteBatch: %d, %v", n, err)
		}
		for got := 0; got < k; {
			n, err := cli.ReadBatch(recv[:k-got])
			if err != nil {
				t.Fatalf("client ReadBatch after %d packets: %v (stats %+v / %+v)", sent+got, err, cli.Stats(), srv.Stats())
			}
			for i := range n {
				m := &recv[i]
				want := send[got+i].Buf[:send[got+i].N]
				if !bytes.Equal(m.Buf[:m.N], want) || m.Addr != cli.Peer() {
					t.Fatalf("packet %d: %d bytes from %v, want %d from %v", sent+got+i, m.N, m.Addr, len(want), cli.Peer())
				}
			}
			got += n
		}
		sent += k
	}
	for _, st := range []Stats{cli.Stats(), srv.Stats()} {
		if st.DropBudget+st.DropQueue+st.DropNoPeer+st.DropOversize != 0 {
			t.Fatalf("drops: %+v", st)
		}
	}
	if st := srv.Stats(); st.Conns != 1 || st.Upgrades != 1 {
		t.Fatalf("server stats %+v", st)
	}
}

// A GSO-style Message (several segments) leaves as one WebSocket message per segment.
func TestSegmentsAreMessages(t *testing.T) {
	srv := listenT(t, Config{})
	cli := dialT(t, srv, Config{})
	watchdog(t, 10*time.Second, srv, cli)
	buf := make([]byte, 1000)
	fill(buf, 7)
	m := []batchio.Message{{Buf: buf, N: 1000, Seg: 300, Addr: cli.Peer()}}
	if _, err := cli.WriteBatch(m); err != nil {
		t.Fatal(err)
	}
	rb := make([]byte, 2000)
	for i, want := range []int{300, 300, 300, 100} {
		got := readOne(t, srv, rb)
		if got.N != want || !bytes.Equal(rb[:got.N], buf[i*300:i*300+want]) {
			t.Fatalf("segment %d: %d bytes, want %d", i, got.N, want)
		}
	}
}

// Close unblocks ReadBatch with net.ErrClosed and a second Close says the same, as batchio.Conn.
func TestCloseUnblocksRead(t *testing.T) {
	for _, side := range []string{"listener", "dialer"} {
		t.Run(side, func(t *testing.T) {
			srv := listenT(t, Config{})
			c := srv
			if side == "dialer" {
				c = dialT(t, srv, Config{})
			}
			errc := make(chan error, 1)
			go func() {
				_, err := c.ReadBatch(batchio.NewSlab(1, 100).Messages())
				errc <- err
			}()
			if err := c.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := <-errc; err != net.ErrClosed {
				t.Fatalf("ReadBatch after Close: %v", err)
			}
			if err := c.Close(); err != net.ErrClosed {
				t.Fatalf("second Close: %v", err)
			}
			if _, err := c.WriteBatch(nil); err != net.ErrClosed {
				t.Fatalf("WriteBatch after Close: %v", err)
			}
		})
	}
}

// echo sends every packet the server reads back to where it came from, until it is closed.
func echo(c *Conn) {
	msgs := batchio.NewSlab(32, DefaultMaxMessage).Messages()
	for {
		n, err := c.ReadBatch(msgs)
		if err != nil {
			return
		}
		if _, err := c.WriteBatch(msgs[:n]); err != nil {
			return
		}
	}
}

// fill writes a pattern derived from seed into b.
func fill(b []byte, seed int) {
	for i := range b {
		b[i] = byte(seed*31 + i*7)
	}
}

// With several event loops, each loop gets its waker and every client's packets come back.
func TestSeveralLoopsAndClients(t *testing.T) {
	srv := listenT(t, Config{EventLoops: 2})
	srv.srv.mu.Lock()
	loops := len(srv.srv.byLoop)
	srv.srv.mu.Unlock()
	if loops != 2 {
		t.Fatalf("%d loops have a waker, want 2", loops)
	}
	go echo(srv)
	clients := make([]*Conn, 6)
	for i := range clients {
		clients[i] = dialT(t, srv, Config{})
	}
	watchdog(t, 20*time.Second, append(clients, srv)...)
	for round := range 50 {
		for i, c := range clients {
			p := make([]byte, 200+round)
			fill(p, round*len(clients)+i)
			roundTripOne(t, c, p)
		}
	}
	if st := srv.Stats(); st.Conns != len(clients) {
		t.Fatalf("stats %+v, want %d conns", st, len(clients))
	}
}
