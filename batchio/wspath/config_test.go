package wspath

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestConfigAndListenErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Path: "stt"},
		{MaxMessage: -1},
		{MaxMessage: 1 << 20, OutboundBudget: 1 << 10},
		{ReadQueueBytes: 100},
	} {
		if _, err := Listen("127.0.0.1:0", cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("Listen with %+v: %v, want ErrConfig", cfg, err)
		}
	}
	srv := listenT(t, Config{})
	if c, err := Listen(srv.LocalAddr().String(), Config{}); err == nil {
		c.Close()
		t.Fatalf("a second Listen on %v succeeded", srv.LocalAddr())
	}
}

// A Listener on every interface (":0") finds its wakers over loopback and serves IPv4 clients.
func TestListenAnyAddress(t *testing.T) {
	srv, err := Listen(":0", Config{Path: "/stt"})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	go echo(srv)
	cli, err := Dial(context.Background(), fmt.Sprintf("ws://127.0.0.1:%d/stt", srv.LocalAddr().Port()), Config{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	watchdog(t, 10*time.Second, srv, cli)
	roundTripOne(t, cli, []byte("any address"))
	if cli.Peer().Addr().String() != "127.0.0.1" {
		t.Fatalf("peer %v, want 127.0.0.1 unmapped", cli.Peer())
	}
}
