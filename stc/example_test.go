package stc_test

import (
	"fmt"

	"github.com/sttfast/sttfast/stc"
)

// Both peers derive the same session keys from the shared seed and the two handshake nonces,
// then the initiator seals a packet that the responder opens.
func Example() {
	seed, _ := stc.ParseSeedHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	defer seed.Destroy()
	var nonceI, nonceR [32]byte // random in real life
	nonceI[0], nonceR[0] = 1, 2

	ini := seed.DeriveSession(&nonceI, &nonceR)
	res := seed.DeriveSession(&nonceI, &nonceR)
	send, _ := ini.Directional(true)
	_, recv := res.Directional(false)
	tx, _ := stc.NewKeyChain(*send)
	rx, _ := stc.NewKeyChain(*recv)
	ini.Erase()
	res.Erase()

	// header ‖ plaintext, with room for the tag.
	pn := uint64(0)
	hdr := []byte{0x53, 0x12, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(pn)}
	pkt := make([]byte, 0, 64)
	pkt = append(append(pkt, hdr...), "hello"...)
	if err := tx.Use(len(pkt)); err != nil {
		panic(err)
	}
	pkt = tx.Current().Seal(pkt, len(hdr), pn)

	var replay stc.ReplayWindow
	if !replay.Check(pn) {
		return
	}
	key, _ := rx.Select(pkt[2]&1, pn)
	msg, err := key.Open(pkt, len(hdr), pn)
	if err != nil {
		return
	}
	replay.Accept(pn)
	fmt.Printf("%s, %d bytes on the wire\n", msg, len(pkt))
	// Output: hello, 36 bytes on the wire
}
