package store

import (
	"sync"

	"github.com/sttfast/sttfast/stc"
)

// Memory is a StorageProvider in a map. It keeps its own copy of everything put, and hands out
// copies, so no caller can change what it holds; Get still checks the content, as every
// provider does.
type Memory struct {
	mu      sync.RWMutex
	objects map[stc.Digest][]byte
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{objects: make(map[stc.Digest][]byte)} }

// Put stores a copy of content unless identical content is already there.
func (m *Memory) Put(content []byte) (stc.Digest, error) {
	key := stc.Hash(content)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objects[key]; !ok {
		m.objects[key] = append([]byte{}, content...)
	}
	return key, nil
}

// Get returns a checked copy of the content stored under key.
func (m *Memory) Get(key stc.Digest) ([]byte, error) {
	m.mu.RLock()
	content, ok := m.objects[key]
	m.mu.RUnlock()
	if !ok {
		return nil, ErrNotFound
	}
	return verify(key, append([]byte{}, content...))
}

// Has reports whether key is stored.
func (m *Memory) Has(key stc.Digest) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.objects[key]
	return ok, nil
}

// Delete removes key.
func (m *Memory) Delete(key stc.Digest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objects, key)
	return nil
}

// Len is how many distinct objects are stored.
func (m *Memory) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.objects)
}
