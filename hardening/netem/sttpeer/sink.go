package main

import (
	"context"
	"encoding/hex"
	"flag"
	"sync/atomic"
	"time"

	"github.com/sttfast/sttfast/ctrl"
)

// runSink listens on addr, accepts every session, reads and discards every stream, and reports
// each session's life as JSON lines: "opened", "receiving" (once --mark bytes arrived, so a test
// knows a transfer is in full flow) and "closed" (how it ended and when, in Unix nanoseconds).
// With --report-age it also reports "aged" when a session is still open that long after it
// opened (an idle session that keep-alives hold up). It prints "listening on udp://IP:PORT" on stderr once ready, like sttfast listen, and runs
// until SIGTERM or SIGINT.
func runSink(args []string) error {
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	var c common
	c.register(fs)
	mark := sizeValue{1 << 20}
	fs.Var(&mark, "mark", "report \"receiving\" once a session has delivered this many bytes")
	aged := fs.Duration("report-age", 0, "report \"aged\" when a session is still open this long after it opened")
	parse(fs, args)
	node, ctx, stop, err := c.listen()
	if err != nil {
		return err
	}
	defer stop()
	defer node.Close()
	for {
		s, err := node.Accept(ctx)
		if err != nil {
			return nil // signalled: node.Close sends SESSION_CLOSE (code 8) to every session
		}
		go sinkSession(s, mark.n, *aged)
	}
}

// sinkSession reads every stream of s and reports the session's events.
func sinkSession(s *ctrl.Session, mark int64, aged time.Duration) {
	id := s.ID()
	sid := hex.EncodeToString(id[:])
	endedAt := watchDone(s)
	emit(map[string]any{"event": "opened", "session": sid, "peer": s.Peer().String()})
	if aged > 0 {
		t := time.AfterFunc(aged, func() {
			select {
			case <-s.Done():
			default:
				emit(map[string]any{"event": "aged", "session": sid, "age_s": time.Since(s.Created()).Seconds()})
			}
		})
		defer t.Stop()
	}
	var got atomic.Int64
	var marked atomic.Bool
	for {
		st, err := s.AcceptStream(context.Background())
		if err != nil {
			break
		}
		go func() {
			buf := make([]byte, 64<<10)
			for {
				n, err := st.Read(buf)
				if got.Add(int64(n)) >= mark && !marked.Swap(true) {
					emit(map[string]any{"event": "receiving", "session": sid, "bytes": got.Load()})
				}
				if err != nil {
					st.Close()
					return
				}
			}
		}()
	}
	at := endedAt()
	emit(struct {
		Event   string `json:"event"`
		Session string `json:"session"`
		closeInfo
		ClosedUnixNs int64   `json:"closed_unix_ns"`
		Bytes        int64   `json:"bytes"`
		AgeSeconds   float64 `json:"age_s"`
	}{"closed", sid, closeOf(s.Err()), at, got.Load(), time.Since(s.Created()).Seconds()})
}
