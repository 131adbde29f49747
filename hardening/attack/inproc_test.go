package attack

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/stc"
)

// guard bounds every wait of these tests: it turns a hang into a failure and is never what a
// test measures (the machine may be loaded).
const guard = 60 * time.Second

// testSeed is the seed of the in-process tests.
func testSeed(t testing.TB) *stc.Seed {
	t.Helper()
	s, err := stc.NewSeed(bytes.Repeat([]byte{0x5a}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// echoNode starts an in-process listener that echoes every stream like sttfast serve.
func echoNode(t testing.TB, seed *stc.Seed) *ctrl.Node {
	t.Helper()
	return echoNodeConfig(t, ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0"})
}

// echoNodeConfig starts an in-process listener configured by cfg that echoes every stream.
func echoNodeConfig(t testing.TB, cfg ctrl.Config) *ctrl.Node {
	t.Helper()
	n, err := ctrl.Listen(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	go func() {
		for {
			s, err := n.Accept(context.Background())
			if err != nil {
				return
			}
			go func() {
				for {
					st, err := s.AcceptStream(context.Background())
					if err != nil {
						return
					}
					go func() {
						var buf []byte
						for {
							buf, err = st.ReadMessage(buf[:0])
							if errors.Is(err, io.EOF) {
								st.Close()
								return
							}
							if err != nil || st.WriteMessage(buf) != nil {
								return
							}
						}
					}()
				}
			}()
		}
	}()
	return n
}

// udpSocket opens a plain loopback UDP socket.
func udpSocket(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testCtx is a context bounded by guard.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond (bounded by guard); for counters another goroutine moves.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, guard)
		}
		time.Sleep(time.Millisecond) // polling interval of a bounded wait
	}
}
