package events_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/prim/events"
	"github.com/sttfast/sttfast/stc"
)

// Subscribe to a node's session events as typed values: the emitter is the node's OnEvent.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seed, _ := stc.NewSeed(bytes.Repeat([]byte{0x5e}, 32))
	em := events.NewEmitter(0)
	defer em.Close()
	opened := make(chan events.SessionOpened, 1)
	closed := make(chan events.SessionClosed, 1)
	events.On(em, func(e events.SessionOpened) { opened <- e })
	events.On(em, func(e events.SessionClosed) { closed <- e })

	srv, err := ctrl.Listen(ctx, ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0", OnEvent: em.Emit})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	cli, err := ctrl.Listen(ctx, ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	s, err := cli.Dial(ctx, "udp://"+srv.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	e := <-opened
	fmt.Println("opened:", e.Session.ID() == s.ID())
	s.CloseWithError(42, "done here")
	c := <-closed
	fmt.Println("closed:", c.Code, c.Reason, "by the peer:", c.Remote)
	// Output:
	// opened: true
	// closed: 42 done here by the peer: true
}
