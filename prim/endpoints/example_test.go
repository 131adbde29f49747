package endpoints_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/prim/endpoints"
	"github.com/sttfast/sttfast/stc"
)

// Name a session as it is accepted and send to it by name; the peer reads the message from
// the stream it arrives on.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seed, _ := stc.NewSeed(bytes.Repeat([]byte{0x5e}, 32))
	srv, err := ctrl.Listen(ctx, ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	cli, err := ctrl.Listen(ctx, ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	sensor, err := cli.Dial(ctx, "udp://"+srv.Addr().String())
	if err != nil {
		log.Fatal(err)
	}

	names := endpoints.New(srv)
	accepted, err := srv.Accept(ctx)
	if err != nil {
		log.Fatal(err)
	}
	names.Register("sensor-7", accepted)
	if err := names.Send("sensor-7", []byte("report now")); err != nil {
		log.Fatal(err)
	}

	st, err := sensor.AcceptStream(ctx)
	if err != nil {
		log.Fatal(err)
	}
	msg, _ := st.ReadMessage(nil)
	fmt.Println(names.Names(), string(msg))
	// Output:
	// [sensor-7] report now
}
