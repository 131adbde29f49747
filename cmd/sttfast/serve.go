package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
)

// serveUsage is serve's --help text.
const serveUsage = `Usage: sttfast serve --addr udp://HOST:PORT [--addr ...] (--seed FILE | --passphrase-file FILE | STT_SEED) [--admin HOST:PORT]

A long-running node. It accepts sessions and, on every stream a peer opens:
  - a first message "sttfast-bench/1 ..." starts the bench protocol: serve is the target of
    "sttfast bench --addr" (see "sttfast bench --help"), it verifies the data and reports;
  - anything else is echoed back message for message, and its half of the stream is ended
    when the peer's is (so "sttfast dial" to a serve completes; the echo is discarded there).
--addr may be given more than once: serve takes sessions on every address, into one session
table. An address is udp://HOST:PORT or ws://HOST:PORT/PATH (WebSocket over TCP, path /stt by
default). Prints "listening on udp://HOST:PORT" (or ws://HOST:PORT/PATH) on stderr once ready, one line per --addr in the
order given (the host as given, the port bound), and one line per session opened and closed and one about refused handshakes (another seed, a
clock off) at most every 10 s unless --quiet. SIGINT/SIGTERM close every session
(SESSION_CLOSE code 8) and exit 0.

` + adminHelp + `

` + seedHelp + `

Examples:
  sttfast serve --addr udp://0.0.0.0:9000 --seed stt.seed --admin :9090
  sttfast serve --addr udp4://0.0.0.0:9000 --addr udp6://[::]:9001 --seed stt.seed
  curl -s localhost:9090/sessions; curl -s localhost:9090/metrics`

// runServe is the serve command.
func runServe(c *cli, args []string) error {
	fs := newFlags(c, "serve", serveUsage)
	var nf listenFlags
	nf.register(fs)
	admin := fs.String("admin", "", "serve the admin HTTP endpoint on `HOST:PORT` (a bare :PORT binds 127.0.0.1)")
	quiet := fs.Bool("quiet", false, "no session lines on stderr")
	sockets := fs.Int("sockets", 1, "UDP sockets sharing the port (SO_REUSEPORT), each with its own loops")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	adminAt := ""
	if *admin != "" {
		at, err := adminAddr(*admin)
		if err != nil {
			return err
		}
		adminAt = at
	}
	if *sockets < 1 {
		return usagef("--sockets must be at least 1")
	}
	addrs, seed, err := nf.load(c)
	if err != nil {
		return err
	}
	ctx, stop := withSignals(c.stderr)
	defer stop()
	cfg := nf.config(seed)
	cfg.ResumeWindow, cfg.Sockets = noResume, *sockets
	node, err := startListening(c, "serve", cfg, addrs, *quiet)
	if err != nil {
		return err
	}
	defer node.Close()
	book := newSessionBook()
	if adminAt != "" {
		srv, at, err := startAdmin(adminAt, adminHandler(node, book))
		if err != nil {
			return failf(err, "serve: admin endpoint %s", adminAt)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
		}()
		fmt.Fprintf(c.stderr, "admin on http://%s\n", at)
	}
	printListening(c.stderr, node, addrs)
	log := sessionLogger(c.stderr, *quiet)
	go func() {
		for {
			s, err := node.Accept(ctx)
			if err != nil {
				return
			}
			book.add(s)
			go serveSession(s, book, log)
		}
	}()
	<-ctx.Done()
	stopNode(node)
	return nil
}

// serveSession handles every stream of s, then books its final numbers.
func serveSession(s *ctrl.Session, book *sessionBook, log func(string, ...any)) {
	eachStream(s, log, func(st *ctrl.Stream) { go serveStream(st) })
	book.remove(s)
}

// serveStream runs the bench protocol or echoes, depending on the stream's first message.
func serveStream(st *ctrl.Stream) {
	first, err := st.ReadMessage(nil)
	if err != nil {
		if errors.Is(err, io.EOF) {
			st.Close() // an empty stream: end ours too
		}
		return
	}
	if isBenchHeader(first) {
		serveBench(st, first)
		return
	}
	echo(st, first)
}

// echo writes back msg and every following message, then ends our half after the peer's.
func echo(st *ctrl.Stream, msg []byte) {
	buf := msg
	for {
		if err := st.WriteMessage(buf); err != nil {
			st.CloseWithError(dataplane.CodeApplicationMin)
			return
		}
		var err error
		buf, err = st.ReadMessage(buf[:0])
		if errors.Is(err, io.EOF) {
			st.Close()
			return
		}
		if err != nil {
			return
		}
	}
}
