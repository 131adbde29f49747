package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sttfast/sttfast/stc"
)

// providers returns a fresh instance of each implementation, so that every contract test runs
// against both.
func providers(t *testing.T) map[string]StorageProvider {
	d, err := NewDir(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]StorageProvider{"memory": NewMemory(), "dir": d}
}

func TestPutGetRoundTrip(t *testing.T) {
	for name, p := range providers(t) {
		t.Run(name, func(t *testing.T) {
			for _, content := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("abc"), 10000)} {
				key, err := p.Put(content)
				if err != nil {
					t.Fatal(err)
				}
				if key != stc.Hash(content) {
					t.Fatalf("key %s, want stc.Hash %s", key, stc.Hash(content))
				}
				got, err := p.Get(key)
				if err != nil || !bytes.Equal(got, content) {
					t.Fatalf("Get = %d bytes, %v; want the %d put", len(got), err, len(content))
				}
				if ok, err := p.Has(key); !ok || err != nil {
					t.Fatalf("Has = %v, %v after Put", ok, err)
				}
			}
		})
	}
}

func TestMissingAndDeleted(t *testing.T) {
	for name, p := range providers(t) {
		t.Run(name, func(t *testing.T) {
			key, _ := p.Put([]byte("gone soon"))
			if err := p.Delete(key); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Get(key); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
			}
			if err := p.Delete(key); err != nil {
				t.Fatalf("second Delete: %v", err)
			}
			if ok, _ := p.Has(key); ok {
				t.Fatal("Has after Delete")
			}
		})
	}
}

func TestIdenticalContentStoredOnce(t *testing.T) {
	m := NewMemory()
	dir := t.TempDir()
	d, _ := NewDir(dir, 0)
	for _, p := range []StorageProvider{m, d} {
		k1, _ := p.Put([]byte("same"))
		k2, _ := p.Put([]byte("same"))
		if k1 != k2 {
			t.Fatal("identical content, different keys")
		}
	}
	if m.Len() != 1 {
		t.Fatalf("memory holds %d objects, want 1", m.Len())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("dir holds %d files, want 1 (no temporary files left either)", len(entries))
	}
}

func TestMemoryKeepsItsOwnCopy(t *testing.T) {
	m := NewMemory()
	content := []byte("original")
	key, _ := m.Put(content)
	content[0] = 'X'
	got, _ := m.Get(key)
	got[1] = 'Y'
	again, err := m.Get(key)
	if err != nil || string(again) != "original" {
		t.Fatalf("Get = %q, %v: the caller's buffers changed the store", again, err)
	}
}

// A file changed on disk after Put is caught at the read, with the key it failed.
func TestDirRejectsTamperedFile(t *testing.T) {
	d, _ := NewDir(t.TempDir(), 0)
	key, _ := d.Put([]byte("the real content"))
	for _, tampered := range [][]byte{[]byte("the real conTent"), []byte("the real content!"), nil} {
		if err := os.WriteFile(d.Path(key), tampered, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := d.Get(key)
		var ce *CorruptError
		if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Key != key || ce.Got != stc.Hash(tampered) {
			t.Fatalf("tampered %q: err %v, want a *CorruptError for %s", tampered, err, key)
		}
	}
	// Putting the real content again repairs the file.
	if _, err := d.Put([]byte("the real content")); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Get(key); err != nil || string(got) != "the real content" {
		t.Fatalf("after a repairing Put: %q, %v", got, err)
	}
}

// A file over the bound is refused from its size, and a directory in its place is an error,
// not a read.
func TestDirBoundedRead(t *testing.T) {
	d, _ := NewDir(t.TempDir(), 16)
	if _, err := d.Put(make([]byte, 17)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put of 17 bytes into a 16-byte store: %v", err)
	}
	key, _ := d.Put([]byte("small"))
	os.WriteFile(d.Path(key), make([]byte, 1<<20), 0o600)
	if _, err := d.Get(key); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Get of a planted 1 MiB file: %v, want ErrTooLarge", err)
	}
	other := stc.Hash([]byte("a directory"))
	os.Mkdir(filepath.Join(d.path, other.String()), 0o700)
	if _, err := d.Get(other); err == nil {
		t.Fatal("Get of a directory succeeded")
	}
}

func TestConcurrentPuts(t *testing.T) {
	for name, p := range providers(t) {
		t.Run(name, func(t *testing.T) {
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range 20 {
						content := []byte{byte(j % 5)} // the same five objects from every goroutine
						if _, err := p.Put(content); err != nil {
							t.Error(i, err)
						}
					}
				}()
			}
			wg.Wait()
			for j := range 5 {
				if _, err := p.Get(stc.Hash([]byte{byte(j)})); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
