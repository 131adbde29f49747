package ctrl

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/stc"
)

// lockedBuffer is a key log destination that the test reads while the node may still write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// keyLogOf parses a key log into secrets by (session, direction, generation), failing the test
// on a malformed line or a secret logged twice with different bytes.
type keyLogKey struct {
	id  [8]byte
	dir stc.Direction
	gen uint64
}

func parseKeyLog(t *testing.T, name string, log []byte) map[keyLogKey]stc.Secret {
	t.Helper()
	out := make(map[keyLogKey]stc.Secret)
	sc := bufio.NewScanner(bytes.NewReader(log))
	for sc.Scan() {
		e, err := stc.ParseKeyLogLine(sc.Bytes())
		if err != nil {
			t.Fatalf("%s: key log line %q: %v", name, sc.Text(), err)
		}
		k := keyLogKey{e.SessionID, e.Dir, e.Generation}
		if old, ok := out[k]; ok && old != e.Secret {
			t.Fatalf("%s: %v logged twice with different secrets", name, k)
		}
		out[k] = e.Secret
	}
	return out
}

// maxGen is the highest generation logged for one direction of one session, after checking that
// every generation from 0 up to it is there and follows from the one before by the key update
// derivation.
func maxGen(t *testing.T, name string, log map[keyLogKey]stc.Secret, id [8]byte, dir stc.Direction) uint64 {
	t.Helper()
	var g uint64
	for ; ; g++ {
		s, ok := log[keyLogKey{id, dir, g}]
		if !ok {
			break
		}
		if next, ok := log[keyLogKey{id, dir, g + 1}]; ok && stc.NextGeneration(&s) != next {
			t.Fatalf("%s: %v generation %d does not follow from generation %d", name, dir, g+1, g)
		}
	}
	if g == 0 {
		t.Fatalf("%s: no %v secret logged for session %x", name, dir, id)
	}
	for k := range log {
		if k.id == id && k.dir == dir && k.gen >= g {
			t.Fatalf("%s: %v generation %d logged but generation %d missing", name, dir, k.gen, g)
		}
	}
	return g - 1
}

func TestKeyLogRecordsEveryGeneration(t *testing.T) {
	var srvLog, cliLog lockedBuffer
	tr := dataplane.Config{KeyUpdatePackets: 50}
	srv, _, s := pair(t, link{name: "clean"}, Config{Transport: tr, KeyLog: &srvLog}, Config{Transport: tr, KeyLog: &cliLog})
	exchange(t, srv, s, 2, 1<<20, 16<<10)
	peer := acceptedOrLive(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s.Close(ctx)
	for _, x := range []*Session{s, peer} {
		select {
		case <-x.Done():
		case <-ctx.Done():
			t.Fatal("session did not close")
		}
	}
	cs, ps := s.Stats(), peer.Stats()
	if cs.KeyUpdates < 2 || ps.KeyUpdates < 2 {
		t.Fatalf("key updates: client %d, server %d: the test needs several", cs.KeyUpdates, ps.KeyUpdates)
	}
	id := s.ID()
	cli := parseKeyLog(t, "client", cliLog.Bytes())
	srvl := parseKeyLog(t, "server", srvLog.Bytes())
	// Every generation of both chains is logged by both sides: a side's KeyUpdates counts the
	// updates of its send chain and of its receive chain, and the session closed only after
	// every packet was acknowledged, so each receiver saw every generation its peer sent under.
	i2r := maxGen(t, "client send", cli, id, stc.InitiatorToResponder)
	r2i := maxGen(t, "client recv", cli, id, stc.ResponderToInitiator)
	if g := maxGen(t, "server recv", srvl, id, stc.InitiatorToResponder); g != i2r {
		t.Errorf("i2r: client logged generations 0..%d, server 0..%d", i2r, g)
	}
	if g := maxGen(t, "server send", srvl, id, stc.ResponderToInitiator); g != r2i {
		t.Errorf("r2i: client logged generations 0..%d, server 0..%d", r2i, g)
	}
	if i2r+r2i != cs.KeyUpdates || i2r+r2i != ps.KeyUpdates {
		t.Errorf("generations logged: i2r 0..%d, r2i 0..%d; key updates: client %d, server %d", i2r, r2i, cs.KeyUpdates, ps.KeyUpdates)
	}
	// Both sides hold the same secrets.
	for k, v := range cli {
		if w, ok := srvl[k]; ok && w != v {
			t.Fatalf("client and server logged different secrets for %v", k)
		}
	}
	t.Logf("key updates: client %d, server %d; %d and %d lines logged", cs.KeyUpdates, ps.KeyUpdates, len(cli), len(srvl))
}

// acceptedOrLive returns the server's one session.
func acceptedOrLive(t *testing.T, srv *Node) *Session {
	t.Helper()
	ss := srv.Sessions()
	if len(ss) != 1 {
		t.Fatalf("server has %d sessions", len(ss))
	}
	return ss[0]
}

func TestKeyLogFromEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.log")
	t.Setenv(KeyLogEnv, path)
	srv, cli, s := pair(t, link{name: "clean"}, Config{}, Config{})
	streamPairSaying(t, s, acceptSession(t, srv), "logged")
	cli.Close()
	srv.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	log := parseKeyLog(t, "file", b)
	for _, dir := range []stc.Direction{stc.InitiatorToResponder, stc.ResponderToInitiator} {
		if _, ok := log[keyLogKey{s.ID(), dir, 0}]; !ok {
			t.Fatalf("no %v secret of session %x in %s:\n%s", dir, s.ID(), path, b)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key log file mode: %v %v", fi.Mode(), err)
	}
}

func TestKeyLogOffByDefault(t *testing.T) {
	t.Setenv(KeyLogEnv, "")
	srv, _, s := pair(t, link{name: "clean"}, Config{}, Config{})
	streamPairSaying(t, s, acceptSession(t, srv), "not logged")
	if srv.keyLog != nil {
		t.Fatal("a node without Config.KeyLog or STTKEYLOGFILE logs keys")
	}
}
