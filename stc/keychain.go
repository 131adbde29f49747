package stc

import (
	"fmt"
	"time"
)

// Key update limits (PROTOCOL.md §4).
const (
	// MaxPacketsPerKey is the hard limit of packets sealed under one key: KeyChain.Use refuses the
	// next one with ErrKeyExhausted. AES-GCM stays far inside its confidentiality bound below it.
	MaxPacketsPerKey = 1 << 22
	// DefaultKeyUpdatePackets is when a sender starts a key update by packet count: three
	// quarters of the hard limit, which leaves room for the wait until the peer acknowledges the
	// current generation (a sender may not update twice before that).
	DefaultKeyUpdatePackets = MaxPacketsPerKey - MaxPacketsPerKey/4
	// DefaultKeyUpdateBytes is the default byte limit under one key.
	DefaultKeyUpdateBytes = 1 << 30
	// DefaultKeyUpdateInterval is the default time limit of one key.
	DefaultKeyUpdateInterval = 10 * time.Minute
)

// UpdatePolicy says when a sender should update its key. A zero field takes its default;
// Packets above MaxPacketsPerKey is clamped to it.
type UpdatePolicy struct {
	Packets  uint64        // packets sealed under one key (default DefaultKeyUpdatePackets)
	Bytes    uint64        // bytes sealed under one key (default DefaultKeyUpdateBytes)
	Interval time.Duration // age of a key (default DefaultKeyUpdateInterval)
}

// KeyChain is the chain of key generations of one direction of a session (PROTOCOL.md §4): it
// holds the current AEAD, the next one (derived on first use and then kept, so an idle session
// pays for one AES-GCM key schedule per direction, not two) and, during the grace period after an
// update, the previous one. Generation g+1's secret is HKDF-Expand(secret_g, "stt1 key update", 32).
//
// The chain keeps exactly one secret, that of the next generation, from which the one after is
// derived on Advance; every other secret is erased as soon as its AEAD exists. It is not safe for
// concurrent use: a send chain belongs to the TX loop, a receive chain to the RX loop.
//
// A sender calls Use before sealing each packet, UpdateDue to decide to update, and Advance to
// switch. A receiver calls Select for each packet, AdvanceAt(pn) when a packet under the next key
// authenticates, and DropPrevious when the grace period ends.
type KeyChain struct {
	prev, cur, next *AEAD
	nextSecret      Secret // secret of generation gen+1
	gen             uint64
	start           uint64 // first packet number under the current generation (0 if unknown)

	packets, bytes uint64    // sealed under the current generation (sender side)
	since          time.Time // when the current generation was installed

	onAdvance func(gen uint64, s *Secret) // told each new generation's secret (key log)
}

// NewKeyChain starts a chain at generation 0 with traffic secret s (for instance SessionKeys.I2R).
// Ownership: s is passed by value; the chain erases its own copy before returning and keeps only
// the derived next-generation secret. The caller still owns its variable and should erase it
// (SessionKeys.Erase) once both chains are built.
func NewKeyChain(s Secret) (*KeyChain, error) {
	defer s.Erase()
	cur, err := NewAEAD(&s)
	if err != nil {
		return nil, fmt.Errorf("stc: key chain: %w", err)
	}
	return &KeyChain{cur: cur, nextSecret: nextSecret(&s), since: time.Now()}, nil
}

// mustNext derives the next generation's AEAD the first time it is needed. It happens once per
// key update (a receiver also on the first packet with the other phase bit, forged or not; the
// result is kept, so forged packets cannot make it derive again).
func (k *KeyChain) mustNext() *AEAD {
	if k.next == nil {
		next, err := NewAEAD(&k.nextSecret)
		if err != nil {
			// AES-256 with a 32-byte key and standard GCM cannot fail outside FIPS-only mode,
			// and NewKeyChain already succeeded with the same construction.
			panic("stc: key chain next key: " + err.Error())
		}
		k.next = next
	}
	return k.next
}

// Start returns the first packet number of the current generation, as given to AdvanceAt (0 for
// generation 0 and after Advance).
func (k *KeyChain) Start() uint64 { return k.start }

// Current returns the AEAD of the current generation.
func (k *KeyChain) Current() *AEAD { return k.cur }

// Next returns the AEAD of generation Generation()+1, deriving it on first use.
func (k *KeyChain) Next() *AEAD { return k.mustNext() }

// Previous returns the AEAD of generation Generation()-1 during the grace period, or nil once it
// was dropped (or before the first update).
func (k *KeyChain) Previous() *AEAD { return k.prev }

// Generation returns the current key generation (0 for the keys of the handshake).
func (k *KeyChain) Generation() uint64 { return k.gen }

// Phase returns the key phase bit of the current generation, Generation()&1.
func (k *KeyChain) Phase() uint8 { return uint8(k.gen & 1) }

// Select returns the AEAD to try for a received packet with key phase bit phase and full packet
// number pn, and whether it is the next generation's key (so the caller calls AdvanceAt(pn) if
// it authenticates). The phase bit alone is ambiguous once a previous key is kept (generations
// g-1 and g+1 share a phase); the packet number resolves it as in QUIC: packets of the previous
// generation were all numbered below the first packet of the current one. Exactly one key is
// returned, so a packet is opened at most once.
func (k *KeyChain) Select(phase uint8, pn uint64) (a *AEAD, next bool) {
	if phase&1 == uint8(k.gen&1) {
		return k.cur, false
	}
	if k.prev != nil && pn < k.start {
		return k.prev, false
	}
	return k.mustNext(), true
}

// Advance moves one generation forward: the previous key (if still held) is erased, the current
// becomes previous, the next becomes current, and the generation after it is derived from the
// kept secret, which is then erased. Usage counters restart. The start packet number of the new
// generation is unknown (0); a receiver should call AdvanceAt instead.
func (k *KeyChain) Advance() { k.AdvanceAt(0) }

// AdvanceAt is Advance, recording firstPN, the packet number of the first packet under the new
// generation (for a receiver, the packet that authenticated under Next), which Select uses to
// route reordered packets of the old generation to Previous.
func (k *KeyChain) AdvanceAt(firstPN uint64) {
	next := k.mustNext()
	if k.onAdvance != nil {
		k.onAdvance(k.gen+1, &k.nextSecret)
	}
	newSecret := nextSecret(&k.nextSecret)
	k.prev.Erase()
	k.prev, k.cur, k.next = k.cur, next, nil
	k.nextSecret.Erase()
	k.nextSecret = newSecret
	newSecret.Erase()
	k.gen++
	k.start = firstPN
	k.packets, k.bytes = 0, 0
	k.since = time.Now()
}

// OnAdvance registers f to be called, on every Advance or AdvanceAt, with the new generation
// and its traffic secret, before that secret is erased: the hook of a key log. f runs on the
// goroutine that advances the chain (a TX or RX loop) and must not keep s. Generation 0 is the
// caller's to report, since NewKeyChain erases its secret before a hook can be set.
func (k *KeyChain) OnAdvance(f func(gen uint64, s *Secret)) { k.onAdvance = f }

// DropPrevious erases the previous generation's key at the end of the grace period.
func (k *KeyChain) DropPrevious() {
	k.prev.Erase()
	k.prev = nil
}

// Use accounts for one packet of n bytes about to be sealed under the current key. It returns
// ErrKeyExhausted, and counts nothing, once MaxPacketsPerKey packets were sealed under it: the
// packet must not be sealed (update the key, or close the session with the key update error).
func (k *KeyChain) Use(n int) error {
	if k.packets >= MaxPacketsPerKey {
		return ErrKeyExhausted
	}
	k.packets++
	k.bytes += uint64(n)
	return nil
}

// Usage returns what was sealed under the current key and when it was installed.
func (k *KeyChain) Usage() (packets, bytes uint64, since time.Time) {
	return k.packets, k.bytes, k.since
}

// UpdateDue reports whether the current key reached any limit of p (nil means all defaults) at
// time now. The caller still has to respect the protocol's rule that it may not update again
// before the peer acknowledged a packet of the current generation.
func (k *KeyChain) UpdateDue(p *UpdatePolicy, now time.Time) bool {
	pk, by, iv := uint64(DefaultKeyUpdatePackets), uint64(DefaultKeyUpdateBytes), DefaultKeyUpdateInterval
	if p != nil {
		if p.Packets != 0 {
			pk = min(p.Packets, MaxPacketsPerKey)
		}
		if p.Bytes != 0 {
			by = p.Bytes
		}
		if p.Interval != 0 {
			iv = p.Interval
		}
	}
	return k.packets >= pk || k.bytes >= by || now.Sub(k.since) >= iv
}

// Erase erases every key and secret of the chain. The chain must not be used afterwards.
func (k *KeyChain) Erase() {
	k.prev.Erase()
	k.cur.Erase()
	k.next.Erase()
	k.next = nil
	k.prev = nil
	k.nextSecret.Erase()
}
