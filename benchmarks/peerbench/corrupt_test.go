package peerbench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// corruptContender is sttfast with one flipped bit in the 500th message the sender writes: the
// receiver must turn it into an error, never into a number.
type corruptContender struct{ sttContender }

func init() { testContenders = append(testContenders, &corruptContender{}) }

func (c *corruptContender) Name() string         { return "corrupt-test" }
func (c *corruptContender) Class() Class         { return classPeer }
func (c *corruptContender) Custom(Workload) bool { return false }

func (c *corruptContender) Supports(w Workload) bool { return w.Name == "msg1200" }

func (c *corruptContender) Dial(ctx context.Context, e *Env, addrs []string) (client, error) {
	cl, err := c.sttContender.Dial(ctx, e, addrs)
	if err != nil {
		return nil, err
	}
	return &corruptClient{client: cl, conn: &corruptConn{conn: cl.Conns()[0]}}, nil
}

type corruptClient struct {
	client
	conn conn
}

func (c *corruptClient) Conns() []conn { return []conn{c.conn} }

type corruptConn struct {
	conn
	n   int
	buf []byte
}

func (c *corruptConn) WriteMsg(p []byte) error {
	c.n++
	if c.n != 500 {
		return c.conn.WriteMsg(p)
	}
	c.buf = append(c.buf[:0], p...)
	c.buf[len(c.buf)/2] ^= 0x10
	return c.conn.WriteMsg(c.buf)
}

func TestCorruptionIsAnError(t *testing.T) {
	var log bytes.Buffer
	rc := runConfig{Suite: "peers", Contenders: "corrupt-test", Workloads: "msg1200", Out: t.TempDir(), Date: "test",
		Exe: os.Args[0], Env: []string{childEnv + "=1"},
		budget: func(Workload) budget {
			return budget{Warmup: 100 * time.Millisecond, Duration: 400 * time.Millisecond, Rounds: 1}
		}}
	rep, err := orchestrate(rc, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if len(rep.Samples) != 1 {
		t.Fatalf("%d samples", len(rep.Samples))
	}
	s := rep.Samples[0]
	t.Logf("sample error: %s", s.Error)
	if !strings.Contains(s.Error, "content verification failed") || s.OK() {
		t.Fatalf("a corrupted stream gave %q (value %v), want a verification error\nrecv: %+v\nsend: %+v\n%s", s.Error, s.Value, s.Recv, s.Send, log.String())
	}
	var md bytes.Buffer
	throughputTable(&md, rep, mustWorkload(t, "msg1200"))
	if !strings.Contains(md.String(), "0 (+1 failed)") {
		t.Errorf("the table does not show the failed run:\n%s", md.String())
	}
}

func mustWorkload(t *testing.T, name string) Workload {
	t.Helper()
	w, err := workloadByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return w
}
