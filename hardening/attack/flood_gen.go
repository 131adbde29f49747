package attack

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sttfast/sttfast/frame"
)

// FloodSource makes the HELLOs of RunFlood: bad MACs (a pool of well-formed HELLOs with random
// MACs), a captured real HELLO, and HELLOs built with the seed whose nonces come from a small
// set renewed every Renew (so they stay inside the responder's clock window): the first of each
// nonce may be answered, every repeat must not be.
type FloodSource struct {
	kit      *HelloKit
	rng      *rand.Rand
	bytes    *rand.ChaCha8
	bad      [][]byte
	captured []byte
	valid    [][]byte
	pBad     float64 // share of bad MACs
	pCap     float64 // share of the captured HELLO (the rest: valid repeats)
	nValid   int
	renew    time.Duration
	renewed  time.Time
	calls    int

	mu   sync.Mutex
	tags map[[8]byte]Class // the class of every tag sent, for judging replies
}

// FloodMix is the share of each kind of HELLO.
type FloodMix struct {
	BadMAC, Captured float64 // the rest are valid-MAC HELLOs with repeating nonces
	ValidNonces      int     // size of the valid nonce set (renewed every Renew)
	Renew            time.Duration
}

// NewFloodSource prepares the HELLOs. captured may be nil.
func NewFloodSource(kit *HelloKit, captured []byte, mix FloodMix, seed uint64) *FloodSource {
	var k [32]byte
	binary.LittleEndian.PutUint64(k[:], seed)
	f := &FloodSource{kit: kit, rng: rand.New(rand.NewPCG(seed, 0x666c6f6f)), bytes: rand.NewChaCha8(k),
		captured: captured, pBad: mix.BadMAC, pCap: mix.Captured, nValid: max(mix.ValidNonces, 1),
		renew: mix.Renew, tags: map[[8]byte]Class{}}
	if captured == nil {
		f.pCap = 0
	}
	now := uint64(time.Now().UnixMilli())
	for i := 0; i < 1024; i++ {
		var nonce [32]byte
		var mac [32]byte
		f.bytes.Read(nonce[:])
		f.bytes.Read(mac[:])
		f.bad = append(f.bad, BadMACHello(nil, &nonce, &kit.Node, now, &mac))
		f.tags[[8]byte(nonce[:8])] = ClassBadMAC
	}
	if captured != nil {
		var h frame.Header
		if frame.ParseHeader(captured, &h) == nil {
			f.tags[h.SessionID] = ClassCapturedHello
		}
	}
	f.renewValid()
	return f
}

// renewValid builds a fresh set of valid HELLOs stamped now.
func (f *FloodSource) renewValid() {
	now := time.Now()
	f.renewed = now
	f.valid = f.valid[:0]
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 0; i < f.nValid; i++ {
		var nonce [32]byte
		f.bytes.Read(nonce[:])
		f.valid = append(f.valid, f.kit.Hello(nil, &nonce, uint64(now.UnixMilli()), 0))
		f.tags[[8]byte(nonce[:8])] = ClassValidRepeat
	}
}

// Next implements Source.
func (f *FloodSource) Next(buf []byte) ([]byte, Class) {
	f.calls++
	if f.renew > 0 && f.calls%4096 == 0 && time.Since(f.renewed) > f.renew {
		f.renewValid()
	}
	switch x := f.rng.Float64(); {
	case x < f.pBad:
		return append(buf, f.bad[f.rng.IntN(len(f.bad))]...), ClassBadMAC
	case x < f.pBad+f.pCap:
		return append(buf, f.captured...), ClassCapturedHello
	}
	return append(buf, f.valid[f.rng.IntN(len(f.valid))]...), ClassValidRepeat
}

// TagClass says which kind of HELLO carried tag (ok false: the flood never sent it).
func (f *FloodSource) TagClass(tag [8]byte) (Class, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.tags[tag]
	return c, ok
}

// ValidNonces is how many distinct valid nonces were made.
func (f *FloodSource) ValidNonces() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.tags {
		if c == ClassValidRepeat {
			n++
		}
	}
	return n
}
