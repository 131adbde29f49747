package wspath

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A WebSocket implementation that is not ours, the npm "ws" package under node, completes the
// upgrade, gets a pong for its ping and its binary message back, and closes cleanly. Skipped
// when node or the package is missing (npm install ws, and NODE_PATH pointing at its
// node_modules when it is not installed next to the test).
func TestInteropNodeWS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("platform: node is not installed (.ci/setup-node installs it, with the npm ws package, on Debian as root)")
	}
	if err := exec.Command(node, "-e", "require('ws')").Run(); err != nil {
		t.Skip("platform: the npm ws package is not installed (.ci/setup-node installs it on Debian as root; or npm install ws and set NODE_PATH)")
	}
	srv := listenT(t, Config{AllowedOrigins: []string{"https://ok.example"}})
	go echo(srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "testdata/interop.js", "ws://"+srv.LocalAddr().String()+"/stt").CombinedOutput()
	want := "open\npong hi\necho binary 010203fa\nclose 1000\n"
	if err != nil || string(out) != want {
		t.Fatalf("node ws client: %v\n%s\nwant:\n%s", err, out, want)
	}
	if st := srv.Stats(); st.Upgrades != 1 || !strings.Contains(string(out), "close 1000") {
		t.Fatalf("stats %+v", st)
	}
}
