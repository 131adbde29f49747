package store

import (
	"errors"
	"fmt"

	"github.com/sttfast/sttfast/stc"
)

// StorageProvider stores byte strings under their content address. Implementations are safe
// for concurrent use.
type StorageProvider interface {
	// Put stores content and returns its key, stc.Hash(content). Storing content that is
	// already there costs nothing more and returns the same key.
	Put(content []byte) (stc.Digest, error)
	// Get returns the content stored under key, checked against key: ErrNotFound when there is
	// none, a *CorruptError (ErrCorrupt) when the stored bytes no longer hash to key.
	Get(key stc.Digest) ([]byte, error)
	// Has reports whether something is stored under key (without reading or checking it).
	Has(key stc.Digest) (bool, error)
	// Delete removes what is stored under key; deleting a missing key is not an error.
	Delete(key stc.Digest) error
}

// Errors of the package, for errors.Is.
var (
	// ErrNotFound: nothing is stored under the key.
	ErrNotFound = errors.New("store: not found")
	// ErrCorrupt: the stored bytes do not hash to their key (the content changed after Put).
	ErrCorrupt = errors.New("store: content does not match its key")
	// ErrTooLarge: the object is larger than the store's MaxObjectSize.
	ErrTooLarge = errors.New("store: object too large")
)

// CorruptError says which key's content failed its check and what it hashed to instead.
type CorruptError struct {
	Key, Got stc.Digest
}

// Error says which object is corrupt.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("store: object %s is corrupt: its content hashes to %s", e.Key, e.Got)
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// verify returns content if it hashes to key, and a *CorruptError otherwise.
func verify(key stc.Digest, content []byte) ([]byte, error) {
	if got := stc.Hash(content); got != key {
		return nil, &CorruptError{Key: key, Got: got}
	}
	return content, nil
}
