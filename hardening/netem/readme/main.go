// Command readme is the README's "Use it as a library" example, verbatim between the README
// markers (TestReadmeLibraryExample checks that it is), wrapped in what it needs to run: run it in
// a directory holding stt.seed, on two hosts where server.example names the second one.
//
// On each host it starts the example's server (udp://0.0.0.0:9000), dials server.example with a
// node made with the default Config, sends "hello" and reads the echo, which it prints as
// {"event":"reply","text":...} on stdout. With --serve it then keeps serving until SIGINT or
// SIGTERM, so that another host can run the example against it; otherwise it exits 0.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

func main() {
	serve := flag.Bool("serve", false, "keep serving after the example's own dial")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var reply []byte
	if err := example(ctx, &reply); err != nil {
		fmt.Fprintln(os.Stderr, "readme:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]string{"event": "reply", "text": string(reply)})
	if *serve {
		<-ctx.Done()
	}
}

// example runs the README's code and stores the reply its dial read in out.
func example(ctx context.Context, out *[]byte) error {
	// README begin
	seed, _ := stc.LoadSeedFile("stt.seed") // 64 hex characters, see "sttfast seed new"

	// Server mode.
	srv, _ := ctrl.Listen(ctx, ctrl.Config{Seed: seed, Addr: "udp://0.0.0.0:9000"})
	go func() {
		for {
			s, err := srv.Accept(ctx)
			if err != nil {
				return
			}
			go func() {
				st, _ := s.AcceptStream(ctx)
				msg, _ := st.ReadMessage(nil) // one whole message
				st.WriteMessage(msg)          // echo it
				st.Close()
			}()
		}
	}()

	// Manual connection by address, from any node (every node can listen and dial; with no Addr a
	// node listens on every interface, on a free port, so that it can reach any host).
	cli, _ := ctrl.Listen(ctx, ctrl.Config{Seed: seed})
	s, err := cli.Dial(ctx, "udp://server.example:9000")
	if err != nil {
		// errors.Is says why. At once: ctrl.ErrNothingListening (the host answered that nothing
		// listens on that port), ctrl.ErrSendFailed (this host cannot send there). After the
		// handshake timeout: ctrl.ErrNoAnswer (no node there, a firewall, or a different seed),
		// ctrl.ErrClockSkew (the peer holds our seed but not our time).
		return err
	}
	st, _ := s.OpenStream(ctx)
	st.WriteMessage([]byte("hello"))
	reply, _ := st.ReadMessage(nil)

	// One message to every session, or to chosen ones; application frames 0x80-0xFF.
	srv.SendToAll([]byte("tick"))
	srv.HandleFrame(0x90, func(s *ctrl.Session, t frame.Type, data []byte) { /* ... */ })
	s.SendFrame(0x90, []byte{1, 2, 3})
	// README end
	*out = reply
	return nil
}
