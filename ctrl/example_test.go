package ctrl_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

// exampleSeed stands for the seed both peers hold. A real program reads it with
// stc.LoadSeedFile (what "sttfast seed new" writes) or makes one with stc.GenerateSeed.
func exampleSeed() *stc.Seed {
	seed, err := stc.NewSeed(bytes.Repeat([]byte{0x5e}, 32))
	if err != nil {
		log.Fatal(err)
	}
	return seed
}

// examplePair starts a listening node and a dialing node on loopback and returns the two ends
// of one session between them. The nodes close when ctx is done.
func examplePair(ctx context.Context, cfg ctrl.Config) (server, client *ctrl.Session) {
	cfg.Seed = exampleSeed()
	cfg.Addr = "udp://127.0.0.1:0"
	srv, err := ctrl.Listen(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	cli, err := ctrl.Listen(ctx, ctrl.Config{Seed: cfg.Seed, Addr: "udp://127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	go func() { <-ctx.Done(); cli.Close(); srv.Close() }()
	client, err = cli.Dial(ctx, "udp://"+srv.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	if server, err = srv.Accept(ctx); err != nil {
		log.Fatal(err)
	}
	return server, client
}

// Listen on one node, dial it from another, and exchange one message on a stream. Every node can
// both listen and dial; Dial takes the peer's address as a string ("udp://HOST:PORT"), Addr
// returns the node's own as a netip.AddrPort.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seed := exampleSeed()

	srv, err := ctrl.Listen(ctx, ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	go func() { // the server echoes the first message of each stream
		for {
			s, err := srv.Accept(ctx)
			if err != nil {
				return
			}
			st, err := s.AcceptStream(ctx)
			if err != nil {
				return
			}
			msg, _ := st.ReadMessage(nil)
			st.WriteMessage(msg)
			st.Close()
		}
	}()

	cli, err := ctrl.Listen(ctx, ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	s, err := cli.Dial(ctx, "udp://"+srv.Addr().String())
	if err != nil {
		log.Fatal(err) // errors.Is(err, ctrl.ErrAuthFailed): another seed, or no node there
	}
	st, err := s.OpenStream(ctx)
	if err != nil {
		log.Fatal(err)
	}
	st.WriteMessage([]byte("hello"))
	reply, err := st.ReadMessage(nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", reply)
	// Output: hello
}

// A Stream is an io.ReadWriteCloser: io.Copy moves a byte stream through it, and Close (after
// the last Write) is the end of the data the reader sees as io.EOF.
func ExampleStream_ioCopy() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	server, client := examplePair(ctx, ctrl.Config{})

	data := bytes.Repeat([]byte("sensor frame "), 10000) // 130 000 bytes
	go func() {
		st, err := client.OpenStream(ctx)
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(st, bytes.NewReader(data))
		st.Close()
	}()
	st, err := server.AcceptStream(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var got bytes.Buffer
	n, err := io.Copy(&got, st)
	fmt.Println(n, err, bytes.Equal(got.Bytes(), data))
	// Output: 130000 <nil> true
}

// Messages keep their boundaries: each WriteMessage is one ReadMessage at the other end, and
// ReadMessage(buf[:0]) reuses buf, so a reader allocates nothing once buf is large enough.
func ExampleStream_ReadMessage() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	server, client := examplePair(ctx, ctrl.Config{})

	out, err := client.OpenStream(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range []string{"temperature 21.5", "humidity 40", "pressure 1013"} {
		out.WriteMessage([]byte(m))
	}
	out.Close()

	in, err := server.AcceptStream(ctx)
	if err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 0, 64)
	for {
		msg, err := in.ReadMessage(buf[:0])
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%q\n", msg)
	}
	// Output:
	// "temperature 21.5"
	// "humidity 40"
	// "pressure 1013"
}

// SendToAll sends one message to every session of a node, on a stream of its own per session;
// SendToSessions does the same for the sessions named.
func ExampleNode_SendToAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seed := exampleSeed()
	opened := make(chan struct{}, 3)
	hub, err := ctrl.Listen(ctx, ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0", DiscardAccepted: true,
		OnEvent: func(e ctrl.Event) {
			if e.Kind == ctrl.EventSessionOpened {
				opened <- struct{}{}
			}
		}})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()

	var subscribers []*ctrl.Session
	for i := 0; i < 3; i++ {
		n, err := ctrl.Listen(ctx, ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0"})
		if err != nil {
			log.Fatal(err)
		}
		defer n.Close()
		s, err := n.Dial(ctx, "udp://"+hub.Addr().String())
		if err != nil {
			log.Fatal(err)
		}
		subscribers = append(subscribers, s)
	}
	for range subscribers { // the hub's side of each session is installed once its event says so
		<-opened
	}
	sent, err := hub.SendToAll([]byte("tick"))
	fmt.Println("sent to", sent, err)
	for _, s := range subscribers {
		st, err := s.AcceptStream(ctx)
		if err != nil {
			log.Fatal(err)
		}
		msg, err := st.ReadMessage(nil)
		fmt.Printf("%s %v\n", msg, err)
	}
	// Output:
	// sent to 3 <nil>
	// tick <nil>
	// tick <nil>
	// tick <nil>
}

// Application frames (types 0x80-0xFF) are single datagram-sized messages outside any stream,
// delivered reliably to the handler registered for their type. The handler runs on the data
// plane's receive loop: it must copy what it keeps and must not block.
func ExampleNode_HandleFrame() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seed := exampleSeed()
	srv, err := ctrl.Listen(ctx, ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	got := make(chan string, 1)
	const telemetry frame.Type = 0x90
	err = srv.HandleFrame(telemetry, func(s *ctrl.Session, t frame.Type, data []byte) {
		got <- fmt.Sprintf("frame %#x: % x", uint8(t), data) // copies data before returning
	})
	if err != nil {
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
	if err := s.SendFrame(telemetry, []byte{1, 2, 3}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-got)
	// Output: frame 0x90: 01 02 03
}

// OnEvent receives sessions and streams opening and closing, key rotations and refused
// handshakes, on the node's event goroutine, never on the data path.
func ExampleConfig_onEvent() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events := make(chan ctrl.Event, 16)
	server, client := examplePair(ctx, ctrl.Config{OnEvent: func(e ctrl.Event) { events <- e }})

	client.Close(ctx) // a graceful close: the server's session ends with code 0, told by the peer
	<-server.Done()
	for e := range events {
		if e.Kind == ctrl.EventSessionClosed {
			fmt.Println(e.Kind, "code", e.Code, "remote", e.Remote)
			break
		}
	}
	// Output: session_closed code 0 remote true
}

// Close waits until the peer has acknowledged everything written on every stream, then ends
// the session with code 0; ctx bounds the wait. CloseWithError ends it at once with a code
// the peer reads from Err.
func ExampleSession_Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	server, client := examplePair(ctx, ctrl.Config{})

	st, err := client.OpenStream(ctx)
	if err != nil {
		log.Fatal(err)
	}
	st.Write(bytes.Repeat([]byte{7}, 1<<20))
	st.Close()
	fmt.Println("close:", client.Close(ctx)) // returns once the 1 MiB is acknowledged

	in, err := server.AcceptStream(ctx)
	if err != nil {
		log.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, in) // data received before the close stays readable
	<-server.Done()
	fmt.Println("received", n, "then:", server.Err())
	// Output:
	// close: <nil>
	// received 1048576 then: sttfast: session closed by peer: no error (code 0)
}
