package objcodec_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/prim/objcodec"
	"github.com/sttfast/sttfast/prim/store"
	"github.com/sttfast/sttfast/stc"
)

// An object and a segment feed cross a real sttfast stream on loopback, and the object lands
// in a directory store under the key the sender computed.
func TestOverAnSttfastStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seed, _ := stc.NewSeed(bytes.Repeat([]byte{0x0b}, 32))
	srv, err := ctrl.Listen(ctx, ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cli, err := ctrl.Listen(ctx, ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	sess, err := cli.Dial(ctx, "udp://"+srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}

	rng := rand.New(rand.NewPCG(1, 4))
	object := make([]byte, 300<<10)
	for i := range object {
		object[i] = byte(rng.Uint32())
	}
	sent := make(chan stc.Digest, 1)
	go func() {
		st, err := sess.OpenStream(ctx)
		if err != nil {
			t.Error(err)
			close(sent)
			return
		}
		enc := objcodec.NewEncoder(st)
		key, err := enc.WriteObject(object)
		if err != nil {
			t.Error(err)
		}
		sent <- key
		enc.BeginSegments()
		for i := range 100 {
			enc.WriteSegment(bytes.Repeat([]byte{byte(i)}, 1+i*37))
		}
		enc.EndSegments()
		st.Close()
	}()

	accepted, err := srv.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := accepted.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dec := objcodec.NewDecoder(st, 1<<20, 8<<10)
	content, key, err := dec.ReadObject()
	if err != nil {
		t.Fatal(err)
	}
	objects, _ := store.NewDir(t.TempDir(), 1<<20)
	stored, err := objects.Put(content)
	if err != nil || stored != key || stored != <-sent {
		t.Fatalf("stored under %s (%v), decoder said %s", stored, err, key)
	}
	var segment []byte
	for i := 0; ; i++ {
		segment, err = dec.NextSegment(segment)
		if err == io.EOF {
			if i != 100 {
				t.Fatalf("feed ended after %d segments, want 100", i)
			}
			break
		}
		if err != nil || len(segment) != 1+i*37 || segment[0] != byte(i) {
			t.Fatalf("segment %d: %d bytes, %v", i, len(segment), err)
		}
	}
}
