package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/prim/objcodec"
	"github.com/sttfast/sttfast/prim/store"
	"github.com/sttfast/sttfast/stc"
)

// maxStoredObject bounds one object of dial --send-object and listen --store: the largest
// message, so that neither side holds more than a stream could carry at once.
const maxStoredObject = 64 << 20

// codeObjectRefused closes a stream whose object listen --store could not take (bad encoding,
// digest mismatch, too large, or the store failed); dial --send-object names it.
const codeObjectRefused = 0x102

// objectHelp is the part of listen's and dial's help about objects.
const objectHelp = `Objects (prim/objcodec, prim/store): dial --send-object FILE sends FILE (at most 64 MiB) as one
object, its length, its bytes and its SHA-256, on one stream; listen --store DIR checks each
object of each stream against its SHA-256, stores it in DIR under that hash (a file named by the
hex key, written atomically; identical content is stored once), prints the key on stdout and
answers it to the sender, which prints it too and exits 0 only if both keys agree.`

// objectStore is listen --store's state: the directory and stdout, one key line at a time.
type objectStore struct {
	objects *store.Dir
	mu      sync.Mutex
	stdout  io.Writer
	log     func(format string, a ...any)
}

// take reads the objects of st, stores each, and answers each key on st; any failure
// closes the stream with codeObjectRefused.
func (o *objectStore) take(s *ctrl.Session, st *ctrl.Stream) {
	dec := objcodec.NewDecoder(st, maxStoredObject, 0)
	for {
		content, key, err := dec.ReadObject()
		if err == io.EOF {
			st.Close()
			return
		}
		if err == nil {
			_, err = o.objects.Put(content)
		}
		if err != nil {
			o.log("session %x: object refused: %v", idOf(s), err)
			st.CloseWithError(codeObjectRefused)
			return
		}
		o.mu.Lock()
		fmt.Fprintln(o.stdout, key)
		o.mu.Unlock()
		o.log("session %x: stored %s (%d bytes)", idOf(s), key, len(content))
		if _, err := st.Write([]byte(key.String())); err != nil {
			return
		}
	}
}

// sendObject is dial --send-object: FILE as one object on one stream, then the key the peer
// stored it under, compared with ours.
func sendObject(ctx context.Context, c *cli, s *ctrl.Session, o *dialOpts) error {
	content, err := readBounded(o.object, maxStoredObject)
	if err != nil {
		return failf(err, "dial %s: --send-object %s", o.addr, o.object)
	}
	go discardIncoming(s)
	st, err := s.OpenStream(ctx)
	if err != nil {
		return dialFailure(ctx, s, o, err, "open a stream")
	}
	key, err := objcodec.NewEncoder(st).WriteObject(content)
	if err == nil {
		err = st.CloseWrite()
	}
	if err != nil {
		return dialFailure(ctx, s, o, err, "send")
	}
	answer, err := st.ReadMessage(nil)
	if err != nil {
		return dialFailure(ctx, s, o, err, "wait for the peer to store the object")
	}
	if stored, perr := stc.ParseDigest(string(answer)); perr != nil || stored != key {
		s.CloseWithError(codeObjectRefused, "object stored under another key")
		return failf(fmt.Errorf("the peer stored it under %.64q, not %s", answer, key), "dial %s: --send-object", o.addr)
	}
	if err := s.Close(ctx); err != nil {
		return dialFailure(ctx, s, o, context.Cause(ctx), "close")
	}
	awaitDone(s)
	fmt.Fprintln(c.stdout, key)
	return nil
}

// readBounded reads the file at path, refusing one larger than limit before reading it.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	content, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(content)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return content, nil
}
