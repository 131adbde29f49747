package endpoints

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/stc"
)

// star starts a server node and n client nodes dialed to it, and returns the server node, the
// server's ends of the sessions and the clients' ends, in the same order.
func star(t *testing.T, ctx context.Context, n int) (*ctrl.Node, []*ctrl.Session, []*ctrl.Session) {
	t.Helper()
	seed, err := stc.NewSeed(bytes.Repeat([]byte{0x14}, 32))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ctrl.Listen(ctx, ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	var serverEnds, clientEnds []*ctrl.Session
	for range n {
		cli, err := ctrl.Listen(ctx, ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		c, err := cli.Dial(ctx, "udp://"+srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := srv.Accept(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.ID() != c.ID() {
			t.Fatal("accepted another session than the one dialed")
		}
		serverEnds, clientEnds = append(serverEnds, s), append(clientEnds, c)
	}
	return srv, serverEnds, clientEnds
}

// broadcastStream returns the stream a client's broadcast messages arrive on.
func broadcastStream(t *testing.T, ctx context.Context, c *ctrl.Session) *ctrl.Stream {
	t.Helper()
	st, err := c.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// next reads the next message of st.
func next(t *testing.T, st *ctrl.Stream) string {
	t.Helper()
	msg, err := st.ReadMessage(nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(msg)
}

func TestNamesSendAndDrop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, sessions, clients := star(t, ctx, 3)
	m := New(srv)
	for i, name := range []string{"alice", "bob", "carol"} {
		if err := m.Register(name, sessions[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Register("alice", sessions[1]); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("second holder of a name: %v", err)
	}
	m.Register("bob-alias", sessions[1]) // a session may hold several names

	if err := m.Send("bob", []byte("to bob")); err != nil {
		t.Fatal(err)
	}
	bob := broadcastStream(t, ctx, clients[1])
	if got := next(t, bob); got != "to bob" {
		t.Fatalf("bob got %q", got)
	}
	// bob named twice still gets the message once: the next message he reads is the next one sent.
	if n, err := m.SendMany([]string{"alice", "bob", "bob-alias", "nobody"}, []byte("to many")); n != 2 || err != nil {
		t.Fatalf("SendMany = %d, %v; want 2 sessions", n, err)
	}
	if got := next(t, broadcastStream(t, ctx, clients[0])); got != "to many" {
		t.Fatalf("alice got %q", got)
	}
	m.Send("bob", []byte("last"))
	if a, b := next(t, bob), next(t, bob); a != "to many" || b != "last" {
		t.Fatalf("bob read %q then %q, want the message to his two names once", a, b)
	}
	if err := m.Send("nobody", nil); !errors.Is(err, ErrUnknownName) {
		t.Fatalf("Send to an unknown name: %v", err)
	}

	sessions[2].CloseWithError(1, "carol leaves")
	<-sessions[2].Done()
	if m.Lookup("carol") != nil || slices.Contains(m.Names(), "carol") {
		t.Fatal("carol's name outlived her session")
	}
	if err := m.Send("carol", []byte("x")); !errors.Is(err, ErrUnknownName) {
		t.Fatalf("Send to an ended session's name: %v", err)
	}
	if err := m.Register("carol", sessions[2]); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("naming an ended session: %v", err)
	}
	if err := m.Register("carol", sessions[0]); err != nil { // the name is free again
		t.Fatal(err)
	}
	m.Unregister("bob-alias")
	if want := []string{"alice", "bob", "carol"}; !slices.Equal(m.Names(), want) {
		t.Fatalf("Names = %v, want %v", m.Names(), want)
	}
}
