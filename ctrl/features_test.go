package ctrl

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

func TestSendToAll(t *testing.T) {
	for _, l := range append([]link{{name: "clean"}}, lossyLinks[1]) {
		t.Run(l.name, func(t *testing.T) { testSendToAll(t, l, 50) })
	}
}

func testSendToAll(t *testing.T, l link, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	hub := testNode(t, Config{WrapConn: l.wrap(1)})
	const msgs = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	ready := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		sub := testNode(t, Config{WrapConn: l.wrap(uint64(10 + i))})
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := sub.Dial(ctx, hub.Addr().String())
			if err != nil {
				errs <- err
				return
			}
			ready <- struct{}{}
			st, err := s.AcceptStream(ctx)
			if err != nil {
				errs <- err
				return
			}
			for k := 0; k < msgs; k++ {
				got, err := st.ReadMessage(nil)
				if err != nil {
					errs <- err
					return
				}
				if want := broadcastMsg(k); !bytes.Equal(got, want) {
					errs <- errors.New("broadcast message out of order or corrupted")
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		select {
		case <-ready:
		case err := <-errs:
			t.Fatal(err)
		}
	}
	// Every dial returned, but the hub may still be finishing the last handshake's bookkeeping.
	for hub.NumSessions() < n {
		if _, err := hub.Accept(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for k := 0; k < msgs; k++ {
		sent, err := hub.SendToAll(broadcastMsg(k))
		if err != nil || sent != n {
			t.Fatalf("SendToAll: sent to %d of %d: %v", sent, n, err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func broadcastMsg(k int) []byte { return bytes.Repeat([]byte{byte(k)}, 100+k*50) }

func TestSendToSessions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	hub := testNode(t, Config{})
	var subs []*Session
	for i := 0; i < 3; i++ {
		cli := testNode(t, Config{})
		s, err := cli.Dial(ctx, hub.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	// Only sessions 0 and 2 are addressed; an unknown id is skipped.
	ids := [][8]byte{subs[0].ID(), subs[2].ID(), {1, 2, 3}}
	sent, err := hub.SendToSessions(ids, []byte("hello"))
	if err != nil || sent != 2 {
		t.Fatalf("SendToSessions = %d, %v; want 2", sent, err)
	}
	for _, i := range []int{0, 2} {
		st, err := subs[i].AcceptStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.ReadMessage(nil)
		if err != nil || string(got) != "hello" {
			t.Fatalf("session %d got %q, %v", i, got, err)
		}
	}
	short, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel2()
	if st, err := subs[1].AcceptStream(short); err == nil {
		t.Fatalf("session 1 was not addressed but got stream %d", st.ID())
	}
}

func TestApplicationFrames(t *testing.T) {
	for _, l := range []link{{name: "clean"}, lossyLinks[2]} {
		t.Run(l.name, func(t *testing.T) {
			srv, _, s := pair(t, l, Config{}, Config{})
			const typ = frame.Type(0xA7)
			const count = 200
			got := make(chan []byte, count)
			if err := srv.HandleFrame(typ, func(_ *Session, ft frame.Type, data []byte) {
				if ft == typ {
					got <- append([]byte(nil), data...)
				}
			}); err != nil {
				t.Fatal(err)
			}
			if err := srv.HandleFrame(0x10, func(*Session, frame.Type, []byte) {}); err == nil {
				t.Fatal("HandleFrame accepted a transport frame type")
			}
			for i := 0; i < count; i++ {
				if err := s.SendFrame(typ, []byte{byte(i), byte(i >> 8), 0xEE}); err != nil {
					t.Fatal(err)
				}
			}
			// Application frames are reliable but unordered: every one arrives exactly once.
			seen := make(map[int]bool)
			timeout := time.After(testTimeout)
			for len(seen) < count {
				select {
				case d := <-got:
					if len(d) != 3 || d[2] != 0xEE {
						t.Fatalf("corrupted frame %x", d)
					}
					k := int(d[0]) | int(d[1])<<8
					if seen[k] {
						t.Fatalf("frame %d delivered twice", k)
					}
					seen[k] = true
				case <-timeout:
					t.Fatalf("got %d of %d application frames", len(seen), count)
				}
			}
		})
	}
}

func TestWrongSeedRefused(t *testing.T) {
	other, err := stc.NewSeed(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	srv := testNode(t, Config{})
	cli := testNode(t, Config{Seed: other, HandshakeTimeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s, err := cli.Dial(ctx, srv.Addr().String())
	if !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("Dial with the wrong seed = %v, %v; want ErrNoAnswer", s, err)
	}
	st := srv.Stats()
	if st.Refused[RefusedMAC] == 0 {
		t.Fatalf("listener did not count the refusal: %+v", st.Refused)
	}
	if srv.NumSessions() != 0 || cli.NumSessions() != 0 {
		t.Fatalf("a session exists after a refused handshake")
	}
	// The listener still serves a peer with the right seed.
	good := testNode(t, Config{})
	if _, err := good.Dial(ctx, srv.Addr().String()); err != nil {
		t.Fatalf("dial after a refusal: %v", err)
	}
}

func TestSessionCloseSeenByPeer(t *testing.T) {
	for _, l := range []link{{name: "clean"}, lossyLinks[1]} {
		t.Run(l.name, func(t *testing.T) {
			srv, _, s := pair(t, l, Config{}, Config{})
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			peer, err := srv.Accept(ctx)
			if err != nil {
				t.Fatal(err)
			}
			st, err := s.OpenStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pst, err := peer.AcceptStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			const code = 0x1234
			s.CloseWithError(code, "done here")
			select {
			case <-peer.Done():
			case <-ctx.Done():
				t.Fatal("peer did not see the session close")
			}
			var ce *dataplane.CloseError
			if err := peer.Err(); !errors.As(err, &ce) || ce.Code != code || !ce.Remote || ce.Reason != "done here" {
				t.Fatalf("peer's close error = %v", peer.Err())
			}
			if _, err := pst.ReadMessage(nil); !errors.Is(err, ErrSessionClosed) {
				t.Fatalf("read on a closed session = %v", err)
			}
			if err := st.WriteMessage([]byte("x")); !errors.Is(err, ErrSessionClosed) {
				t.Fatalf("write after close = %v", err)
			}
		})
	}
}

// A peer that writes, closes its stream and then closes the session gracefully must have its
// last bytes readable on the other side even if the reader only starts after the session ended.
func TestGracefulCloseKeepsUnreadData(t *testing.T) {
	srv, _, s := pair(t, link{name: "clean"}, Config{}, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	peer, err := srv.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte("sttfast"), 512<<10/7)
	if err := st.WriteMessage(payload); err != nil {
		t.Fatal(err)
	}
	st.CloseWrite()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-peer.Done():
	case <-ctx.Done():
		t.Fatal("peer did not see the close")
	}
	pst, err := peer.AcceptStream(ctx)
	if err != nil {
		t.Fatalf("stream opened before the close is not acceptable after it: %v", err)
	}
	got, err := pst.ReadMessage(nil)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("read after close: %d of %d bytes, %v", len(got), len(payload), err)
	}
	if _, err := pst.ReadMessage(nil); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last message: %v, want io.EOF", err)
	}
}
