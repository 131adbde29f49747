package endpoints

import (
	"errors"
	"slices"
	"sync"

	"github.com/sttfast/sttfast/ctrl"
)

// Errors of the package, for errors.Is.
var (
	// ErrNameTaken: another live session holds the name.
	ErrNameTaken = errors.New("endpoints: name held by another session")
	// ErrUnknownName: no live session holds the name.
	ErrUnknownName = errors.New("endpoints: no live session has this name")
	// ErrSessionEnded: the session being named has already ended.
	ErrSessionEnded = errors.New("endpoints: session has ended")
)

// SessionSender sends one message to sessions by id: ctrl.Node.
type SessionSender interface {
	SendToSessions(ids [][8]byte, msg []byte) (int, error)
}

// Manager maps names to sessions of one node. Safe for concurrent use.
type Manager struct {
	node    SessionSender
	mu      sync.Mutex
	byName  map[string]*ctrl.Session
	watched map[*ctrl.Session]struct{} // sessions with a goroutine waiting for their end
}

// New returns a manager sending through node.
func New(node SessionSender) *Manager {
	return &Manager{node: node, byName: make(map[string]*ctrl.Session), watched: make(map[*ctrl.Session]struct{})}
}

// Register gives s the name. Registering the name s already holds again is not an error.
func (m *Manager) Register(name string, s *ctrl.Session) error {
	if ended(s) {
		return ErrSessionEnded
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if held := m.byName[name]; held != nil && held != s && !ended(held) {
		return ErrNameTaken
	}
	m.byName[name] = s
	if _, ok := m.watched[s]; !ok {
		m.watched[s] = struct{}{}
		go m.dropWhenDone(s)
	}
	return nil
}

// dropWhenDone removes s's names once it ends.
func (m *Manager) dropWhenDone(s *ctrl.Session) {
	<-s.Done()
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, held := range m.byName {
		if held == s {
			delete(m.byName, name)
		}
	}
	delete(m.watched, s)
}

// Unregister removes the name, whoever holds it.
func (m *Manager) Unregister(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byName, name)
}

// Lookup returns the live session holding name, or nil.
func (m *Manager) Lookup(name string) *ctrl.Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.byName[name]; s != nil && !ended(s) {
		return s
	}
	return nil
}

// Names lists the names held by live sessions, sorted.
func (m *Manager) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.byName))
	for name, s := range m.byName {
		if !ended(s) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// Send writes msg as one message to the session named name (on its broadcast stream).
func (m *Manager) Send(name string, msg []byte) error {
	n, err := m.SendMany([]string{name}, msg)
	if err == nil && n == 0 {
		err = ErrUnknownName
	}
	return err
}

// SendMany writes msg once to each distinct live session among names (unknown names are
// skipped) and returns how many sessions took it. Like Node.SendToSessions it blocks while a
// session's send buffer is full.
func (m *Manager) SendMany(names []string, msg []byte) (int, error) {
	ids := make([][8]byte, 0, len(names))
	m.mu.Lock()
	for _, name := range names {
		if s := m.byName[name]; s != nil && !ended(s) {
			if id := s.ID(); !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	m.mu.Unlock()
	if len(ids) == 0 {
		return 0, nil
	}
	return m.node.SendToSessions(ids, msg)
}

func ended(s *ctrl.Session) bool {
	select {
	case <-s.Done():
		return true
	default:
		return false
	}
}
