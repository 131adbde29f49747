package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sttfast/sttfast/stc"
)

// DefaultMaxObjectSize bounds what a Dir reads when NewDir is given no bound: 64 MiB, the data
// plane's default largest message.
const DefaultMaxObjectSize = 64 << 20

// Dir is a StorageProvider over a directory: each object is one file whose name is its key in
// lowercase hex. Writes go to a temporary file in the same directory that is synced and then
// renamed into place, so a reader never sees half an object and a crash leaves none.
type Dir struct {
	path    string
	maxSize int64
}

// NewDir opens (creating it if needed) a directory store at path. Objects larger than
// maxObjectSize (DefaultMaxObjectSize when 0 or less) are refused by Put and by Get.
func NewDir(path string, maxObjectSize int64) (*Dir, error) {
	if maxObjectSize <= 0 {
		maxObjectSize = DefaultMaxObjectSize
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return &Dir{path: path, maxSize: maxObjectSize}, nil
}

// Path returns the file an object with this key is kept in.
func (d *Dir) Path(key stc.Digest) string { return filepath.Join(d.path, key.String()) }

// Put writes content to its file unless the file is already there and intact (which costs a
// read and a hash: the price of never keeping a corrupt copy); a file that fails its check is
// replaced, so putting the content again repairs it.
func (d *Dir) Put(content []byte) (stc.Digest, error) {
	key := stc.Hash(content)
	if int64(len(content)) > d.maxSize {
		return key, ErrTooLarge
	}
	_, err := d.Get(key)
	switch {
	case err == nil:
		return key, nil // already there, intact: stored once
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrCorrupt), errors.Is(err, ErrTooLarge):
		return key, d.writeAtomic(d.Path(key), content)
	default:
		return key, err
	}
}

// writeAtomic writes content to a temporary file beside name and renames it to name.
func (d *Dir) writeAtomic(name string, content []byte) error {
	tmp, err := os.CreateTemp(d.path, ".put-*")
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	_, err = tmp.Write(content)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Get reads the object's file, refusing one larger than the bound, and checks it against key.
func (d *Dir) Get(key stc.Digest) ([]byte, error) {
	f, err := os.Open(d.Path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("store: %s is not a regular file", f.Name())
	}
	if info.Size() > d.maxSize {
		return nil, ErrTooLarge
	}
	// The stat is only a hint (the file may grow): the limited read is what bounds memory.
	content, err := io.ReadAll(io.LimitReader(f, d.maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if int64(len(content)) > d.maxSize {
		return nil, ErrTooLarge
	}
	return verify(key, content)
}

// Has reports whether the object's file exists.
func (d *Dir) Has(key stc.Digest) (bool, error) {
	_, err := os.Lstat(d.Path(key))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("store: %w", err)
	}
}

// Delete removes the object's file.
func (d *Dir) Delete(key stc.Digest) error {
	err := os.Remove(d.Path(key))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}
