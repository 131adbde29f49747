package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/sttfast/sttfast/frame"
	"github.com/sttfast/sttfast/stc"
)

type secretKey struct {
	id  [8]byte
	dir stc.Direction
	gen uint64
}

// direction of one session seen from one sender address: which chain its packets use, how far
// its packet numbers got and which key generation it is at.
type direction struct {
	known   bool
	dir     stc.Direction
	largest uint64
	gen     uint64
}

type dirKey struct {
	id  [8]byte
	src netip.AddrPort
}

// Decrypter opens the protected packets of a capture with the traffic secrets of a key log, or
// with those it derives from the handshakes it sees when it holds the seed (sessions made
// without forward secrecy only: with it, the seed alone does not give the keys).
type Decrypter struct {
	secrets map[secretKey]stc.Secret // logged, or derived from a captured handshake
	aeads   map[secretKey]*stc.AEAD
	dirs    map[dirKey]*direction
	seed    *stc.Seed
	hsKey   stc.MACKey
	scratch []byte

	// Opened counts protected packets opened; NotOpened those no known key opened; Handshakes
	// the handshake packets seen (kept as they are).
	Opened, NotOpened, Handshakes int
}

// NewKeyLogDecrypter reads a key log (docs/PROTOCOL.md §4, "Key log"); lines of other labels
// are skipped, a malformed STT line is an error naming its line number.
func NewKeyLogDecrypter(r io.Reader) (*Decrypter, error) {
	d := newDecrypter()
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		e, err := stc.ParseKeyLogLine(sc.Bytes())
		if errors.Is(err, stc.ErrKeyLogOtherLabel) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		d.secrets[secretKey{e.SessionID, e.Dir, e.Generation}] = e.Secret
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return d, nil
}

// NewSeedDecrypter derives each session's secrets from its captured AUTH_PROOF (which carries
// both handshake nonces) with seed, as the peers did.
func NewSeedDecrypter(seed *stc.Seed) *Decrypter {
	d := newDecrypter()
	d.seed = seed
	d.hsKey = seed.HandshakeKey()
	return d
}

func newDecrypter() *Decrypter {
	return &Decrypter{
		secrets: make(map[secretKey]stc.Secret),
		aeads:   make(map[secretKey]*stc.AEAD),
		dirs:    make(map[dirKey]*direction),
	}
}

// Close erases every secret and key the Decrypter holds.
func (d *Decrypter) Close() {
	for k, s := range d.secrets {
		s.Erase()
		delete(d.secrets, k)
	}
	for k, a := range d.aeads {
		a.Erase()
		delete(d.aeads, k)
	}
	d.hsKey.Erase()
}

// Packet handles one STT packet sent from src, appending to out what the decrypted capture
// holds for it: a protected packet it opens as KindDecrypted with the plaintext frames, any
// other packet unchanged. It never modifies p.
func (d *Decrypter) Packet(out []byte, src netip.AddrPort, p []byte) []byte {
	var h frame.Header
	if err := frame.ParseHeader(p, &h); err != nil {
		return append(out, p...)
	}
	if h.Kind == frame.KindHandshake {
		d.Handshakes++
		d.learnHandshake(p, &h)
		return append(out, p...)
	}
	pt, ok := d.open(src, p, &h)
	if !ok {
		d.NotOpened++
		return append(out, p...)
	}
	d.Opened++
	start := len(out)
	out = append(out, p[:h.Len]...)
	out[start+1] = frame.Version<<4 | byte(KindDecrypted)
	return append(out, pt...)
}

// learnHandshake derives the keys of the session an authentic AUTH_PROOF makes (seed mode).
func (d *Decrypter) learnHandshake(p []byte, h *frame.Header) {
	if d.seed == nil || len(p) < h.Len+1+frame.MACSize || frame.Type(p[h.Len]) != frame.TypeAuthProof {
		return
	}
	body := p[:len(p)-frame.MACSize]
	if !d.hsKey.Verify(p[len(body):], body) {
		return
	}
	var f frame.Frame
	if _, err := frame.ParseFrame(body[h.Len:], &f); err != nil || f.Type != frame.TypeAuthProof {
		return
	}
	nonceI, nonceR := [32]byte(f.Nonce), [32]byte(f.RespNonce)
	keys := d.seed.DeriveSession(&nonceI, &nonceR)
	defer keys.Erase()
	d.secrets[secretKey{keys.ID, stc.InitiatorToResponder, 0}] = keys.I2R
	d.secrets[secretKey{keys.ID, stc.ResponderToInitiator, 0}] = keys.R2I
}

// open tries the keys that can open p: of its sender's direction once known (both before),
// of the generation its key phase bit says (the current one, else the next or the previous).
func (d *Decrypter) open(src netip.AddrPort, p []byte, h *frame.Header) ([]byte, bool) {
	dk := dirKey{h.SessionID, src}
	st := d.dirs[dk]
	if st == nil {
		st = &direction{}
		d.dirs[dk] = st
	}
	pn := frame.DecodePacketNumber(st.largest, h.PacketNumber, h.PNLen)
	dirs := []stc.Direction{stc.InitiatorToResponder, stc.ResponderToInitiator}
	if st.known {
		dirs = dirs[st.dir : st.dir+1]
	}
	gens := []uint64{st.gen}
	if uint64(h.KeyPhase&1) != st.gen&1 {
		gens = gens[:0]
		gens = append(gens, st.gen+1)
		if st.gen > 0 {
			gens = append(gens, st.gen-1)
		}
	}
	for _, dir := range dirs {
		for _, gen := range gens {
			a := d.aead(secretKey{h.SessionID, dir, gen})
			if a == nil {
				continue
			}
			d.scratch = append(d.scratch[:0], p...)
			pt, err := a.Open(d.scratch, h.Len, pn)
			if err != nil {
				continue
			}
			st.known, st.dir = true, dir
			st.largest = max(st.largest, pn)
			st.gen = max(st.gen, gen)
			return pt, true
		}
	}
	return nil, false
}

// aead returns the AEAD of one generation of one direction, deriving its secret by key
// updates from the closest earlier generation known when the log does not list it.
func (d *Decrypter) aead(k secretKey) *stc.AEAD {
	if a, ok := d.aeads[k]; ok {
		return a
	}
	s, ok := d.secrets[k]
	if !ok {
		base := k
		for base.gen > 0 {
			base.gen--
			if s, ok = d.secrets[base]; ok {
				break
			}
		}
		if !ok {
			return nil
		}
		for g := base.gen; g < k.gen; g++ {
			next := stc.NextGeneration(&s)
			s.Erase()
			s = next
		}
		d.secrets[k] = s
	}
	a, err := stc.NewAEAD(&s)
	if err != nil {
		return nil
	}
	d.aeads[k] = a
	return a
}
