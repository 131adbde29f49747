package attack

import "math/rand/v2"

// ReplaySource replays a capture: every captured packet once per round, in a new random order
// each round, with every MangleEvery-th datagram a client→listener packet renumbered beyond the
// largest number the listener has seen (ClassMangled: it must fail authentication).
type ReplaySource struct {
	deck        []replayCard
	next        int
	rng         *rand.Rand
	toTarget    []Packet
	largest     uint64
	MangleEvery int
	n           int
}

type replayCard struct {
	b     []byte
	class Class
}

// ReplayOptions choose what a ReplaySource replays.
type ReplayOptions struct {
	Handshake   bool // include handshake packets
	MangleEvery int  // 0: no mangled packets
}

// NewReplaySource returns a source over cs.
func NewReplaySource(cs *CaptureSet, seed uint64, o ReplayOptions) *ReplaySource {
	r := &ReplaySource{rng: rand.New(rand.NewPCG(seed, 0x7265706c)), toTarget: cs.ToTarget, largest: cs.LargestTo,
		MangleEvery: o.MangleEvery}
	for _, p := range cs.ToTarget {
		c := ClassReplayInWindow
		if p.PN+2048 <= cs.LargestTo {
			c = ClassReplayBelowWindow
		}
		r.deck = append(r.deck, replayCard{p.B, c})
	}
	for _, p := range cs.ToClient {
		r.deck = append(r.deck, replayCard{p.B, ClassReplayToClient})
	}
	if o.Handshake {
		for _, b := range cs.Handshake {
			r.deck = append(r.deck, replayCard{b, ClassReplayHandshake})
		}
	}
	r.next = len(r.deck)
	return r
}

// Len is the number of packets in one round.
func (r *ReplaySource) Len() int { return len(r.deck) }

// Next implements Source.
func (r *ReplaySource) Next(buf []byte) ([]byte, Class) {
	r.n++
	if r.MangleEvery > 0 && r.n%r.MangleEvery == 0 && len(r.toTarget) > 0 {
		p := r.toTarget[r.rng.IntN(len(r.toTarget))]
		return Renumber(buf, p.B, r.largest+1+r.rng.Uint64N(1000)), ClassMangled
	}
	if r.next >= len(r.deck) {
		r.rng.Shuffle(len(r.deck), func(i, j int) { r.deck[i], r.deck[j] = r.deck[j], r.deck[i] })
		r.next = 0
	}
	c := r.deck[r.next]
	r.next++
	return append(buf, c.b...), c.class
}
