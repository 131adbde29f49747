package dispatch_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/prim/dispatch"
	"github.com/sttfast/sttfast/stc"
)

// Route a node's application frames by type: a handler for 0x81 (chat), a fallback for the
// rest. Handlers run on the RX loop, so they copy the data and hand it off.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seed, _ := stc.NewSeed(bytes.Repeat([]byte{0x5e}, 32))
	srv, err := ctrl.Listen(ctx, ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	got := make(chan string, 2)
	frames := dispatch.New()
	frames.Handle(0x81, func(_ *ctrl.Session, _ frame.Type, data []byte) {
		got <- "chat: " + string(data)
	})
	frames.Fallback(func(_ *ctrl.Session, t frame.Type, data []byte) {
		got <- fmt.Sprintf("other 0x%x: %s", byte(t), data)
	})
	if err := frames.Attach(srv); err != nil {
		log.Fatal(err)
	}

	cli, err := ctrl.Listen(ctx, ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	s, err := cli.Dial(ctx, "udp://"+srv.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	s.SendFrame(0x81, []byte("hello"))
	fmt.Println(<-got) // frames are unordered: wait for each before the next
	s.SendFrame(0xC0, []byte("telemetry"))
	fmt.Println(<-got)
	// Output:
	// chat: hello
	// other 0xc0: telemetry
}
