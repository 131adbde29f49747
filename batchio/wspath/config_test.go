package wspath

import (
	"errors"
	"testing"
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
