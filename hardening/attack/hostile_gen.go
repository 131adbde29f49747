package attack

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"

	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/frame"
)

// HostileSource makes the datagrams of RunHostile: an even mix of Classes, built from a seeded
// generator so that a run can be repeated.
type HostileSource struct {
	Classes  []Class
	LiveIDs  [][8]byte // ids of live sessions (ClassGarbageLive)
	Captures [][]byte  // real packets (ClassBitFlip, ClassReplay)

	rng   *rand.Rand
	bytes *rand.ChaCha8
}

// NewHostileSource returns a source seeded with seed.
func NewHostileSource(seed uint64, classes []Class) *HostileSource {
	var k [32]byte
	binary.LittleEndian.PutUint64(k[:], seed)
	return &HostileSource{
		Classes: classes,
		rng:     rand.New(rand.NewPCG(seed, 0x5354540a)),
		bytes:   rand.NewChaCha8(k),
	}
}

// Next implements Source.
func (h *HostileSource) Next(buf []byte) ([]byte, Class) {
	c := h.Classes[h.rng.IntN(len(h.Classes))]
	switch c {
	case ClassRandom:
		return h.random(buf, h.rng.IntN(1501)), c
	case ClassTruncated:
		return h.truncated(buf), c
	case ClassOversize:
		n := dataplane.MaxHandshakeSize + 1 + h.rng.IntN(2048)
		if h.rng.IntN(16) == 0 {
			n = dataplane.MaxHandshakeSize + 1 + h.rng.IntN(MaxDatagram-dataplane.MaxHandshakeSize)
		}
		b := h.handshakeHeader(buf)
		b = append(b, byte(frame.TypeHello))
		return h.random(b, n-len(b)), c
	case ClassBadVersion:
		v := byte(h.rng.IntN(15))
		if v >= frame.Version {
			v++
		}
		b := append(buf, frame.Magic, v<<4|byte(1+h.rng.IntN(2)), 0)
		return h.random(b, 9+h.rng.IntN(1200)), c
	case ClassBadKind:
		k := byte(h.rng.IntN(14))
		if k >= 1 {
			k += 2 // skip kinds 1 and 2
		}
		b := append(buf, frame.Magic, frame.Version<<4|k, 0)
		return h.random(b, 9+h.rng.IntN(1200)), c
	case ClassBadHeader:
		return h.badHeader(buf), c
	case ClassGarbageLive:
		if len(h.LiveIDs) == 0 {
			return h.protected(buf, h.randomID()), ClassGarbageUnknown
		}
		return h.protected(buf, h.LiveIDs[h.rng.IntN(len(h.LiveIDs))]), c
	case ClassGarbageUnknown:
		return h.protected(buf, h.randomID()), c
	case ClassHelloGarbage:
		b := h.handshakeHeader(buf)
		b = append(b, byte(frame.TypeHello))
		return h.random(b, h.handshakeLen()-len(b)), c
	case ClassHandshakeGarbage:
		b := h.handshakeHeader(buf)
		t := []byte{byte(frame.TypePadding), byte(frame.TypeChallenge), byte(frame.TypeAuthProof), byte(h.rng.IntN(256))}
		b = append(b, t[h.rng.IntN(len(t))])
		return h.random(b, h.handshakeLen()-len(b)), c
	case ClassBitFlip, ClassReplay:
		if len(h.Captures) == 0 {
			return h.random(buf, h.rng.IntN(1501)), ClassRandom
		}
		b := append(buf, h.Captures[h.rng.IntN(len(h.Captures))]...)
		if c == ClassBitFlip && len(b) > len(buf) {
			p := b[len(buf):]
			var bits [3]int // distinct bit positions, so that flips never cancel out
			k := min(1+h.rng.IntN(3), 8*len(p))
			for i := 0; i < k; i++ {
				bits[i] = h.rng.IntN(8 * len(p))
				if slices.Contains(bits[:i], bits[i]) {
					i--
					continue
				}
				p[bits[i]/8] ^= 1 << (bits[i] % 8)
			}
		}
		return b, c
	}
	return h.random(buf, 1), ClassRandom
}

// random appends n random bytes.
func (h *HostileSource) random(b []byte, n int) []byte {
	if n <= 0 {
		return b
	}
	l := len(b)
	b = slices.Grow(b, n)[:l+n]
	h.bytes.Read(b[l:])
	return b
}

func (h *HostileSource) randomID() (id [8]byte) {
	h.bytes.Read(id[:])
	return id
}

// truncated is the magic followed by less than a header, or a header whose packet number
// field runs past the end.
func (h *HostileSource) truncated(b []byte) []byte {
	if h.rng.IntN(2) == 0 {
		b = append(b, frame.Magic)
		return h.random(b, h.rng.IntN(frame.MinHeaderSize-1))
	}
	// A protected header announcing an 8-byte packet number, cut inside it.
	b = append(b, frame.Magic, frame.Version<<4|byte(frame.KindProtected), 3<<1)
	return h.random(b, 8+h.rng.IntN(8))
}

// badHeader breaks one header rule the parser checks.
func (h *HostileSource) badHeader(b []byte) []byte {
	switch h.rng.IntN(3) {
	case 0: // reserved flag bits
		flags := byte(h.rng.IntN(8)) | byte(1+h.rng.IntN(31))<<3
		b = append(b, frame.Magic, frame.Version<<4|byte(frame.KindProtected), flags)
		return h.random(b, 8+8+h.rng.IntN(1200))
	case 1: // a handshake packet with flags
		b = append(b, frame.Magic, frame.Version<<4|byte(frame.KindHandshake), byte(1+h.rng.IntN(7)))
		return h.random(b, 8+8+h.rng.IntN(1200))
	}
	// an 8-byte packet number of 2^62 or more
	b = append(b, frame.Magic, frame.Version<<4|byte(frame.KindProtected), 3<<1)
	b = h.random(b, 8)
	b = binary.BigEndian.AppendUint64(b, 1<<62|h.rng.Uint64()>>2)
	return h.random(b, 17+h.rng.IntN(1200))
}

// handshakeHeader appends a valid handshake header with a random tag and attempt.
func (h *HostileSource) handshakeHeader(b []byte) []byte {
	hd := frame.Header{Kind: frame.KindHandshake, SessionID: h.randomID(), PacketNumber: uint64(h.rng.IntN(256)), PNLen: 1}
	return frame.AppendHeader(b, &hd)
}

// handshakeLen picks a handshake datagram size: half below HelloMinSize, half up to the limit.
func (h *HostileSource) handshakeLen() int {
	if h.rng.IntN(2) == 0 {
		return frame.MinHeaderSize + 1 + h.rng.IntN(frame.HelloMinSize-frame.MinHeaderSize-1)
	}
	return frame.HelloMinSize + h.rng.IntN(dataplane.MaxHandshakeSize-frame.HelloMinSize+1)
}

// protected appends a protected packet for id with a random body: half with a 4-byte random
// packet number (in or behind the window), half with an 8-byte number far ahead of it.
func (h *HostileSource) protected(b []byte, id [8]byte) []byte {
	hd := frame.Header{Kind: frame.KindProtected, SessionID: id, KeyPhase: uint8(h.rng.IntN(2)), PNLen: 4, PacketNumber: uint64(h.rng.Uint32())}
	if h.rng.IntN(2) == 0 {
		hd.PNLen, hd.PacketNumber = 8, 1<<40+h.rng.Uint64N(1<<40)
	}
	b = frame.AppendHeader(b, &hd)
	return h.random(b, frame.TagSize+1+h.rng.IntN(1200))
}
