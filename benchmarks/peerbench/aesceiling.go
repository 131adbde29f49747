package peerbench

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"strconv"

	"github.com/sttfast/sttfast/stc"
)

// aesCeiling is the cost of sttfast's encryption alone: stc.AEAD.Seal (AES-256-GCM in place,
// the call the TX loop makes per packet) on ceilingPacket-byte packets, back to back on one goroutine
// locked to one OS thread, no network; on the open workload, stc.AEAD.Open (the RX loop's call)
// the same way. Goodput above it on one core would be impossible; it is the budget the rest of
// the data plane must fit into, and the machine's limit of the peers report (limit.go) adds both.
type aesCeiling struct{}

// aesHeader is the size of the authenticated, unencrypted packet header sealed with each packet
// (sttfast's short header with a 4-byte packet number is about this size).
const aesHeader = 16

func (a *aesCeiling) Name() string { return "aes-ceiling" }

func (a *aesCeiling) Class() Class { return classCeiling }

func (a *aesCeiling) Describe() string {
	return "stc.AEAD.Seal (AES-256-GCM, Go's crypto/aes + crypto/cipher) in place on 8972-byte packets (16-byte header as associated data, 8940-byte payload, 16-byte tag) on one goroutine locked to its thread; reported in GB/s of payload sealed. The open workload: stc.AEAD.Open in place of one such sealed packet, copied into the buffer before each open (an open consumes its input; the packet's copy is counted)"
}

func (a *aesCeiling) Supports(w Workload) bool { return w.Kind == kindSeal }

func (a *aesCeiling) Available() error { return nil }

func (a *aesCeiling) Custom(Workload) bool { return true }

func (a *aesCeiling) RunRecv(ctx context.Context, e *Env) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var secret stc.Secret
	s := sha256.Sum256(e.O.Secret)
	copy(secret[:], s[:])
	aead, err := stc.NewAEAD(&secret)
	if err != nil {
		return err
	}
	size := e.Size()
	payload := size - aesHeader - stc.TagSize
	pkt := make([]byte, aesHeader+payload, size)
	copy(pkt, e.P.At(0, len(pkt)))
	e.Info("packet", strconv.Itoa(size))
	if e.W.Name == "open" {
		return openLoop(e, aead, pkt, payload)
	}
	e.Ready(nil)
	var pn uint64
	for !e.Stopped() {
		// 64 packets between checks of the stop flag and the meter.
		for i := 0; i < 64; i++ {
			aead.Seal(pkt[:aesHeader+payload], aesHeader, pn)
			pn++
		}
		e.M.Add(64*payload, 64)
	}
	if !e.WindowDone() {
		return errors.New("stopped before the measurement window closed")
	}
	return nil
}

func (a *aesCeiling) RunSend(ctx context.Context, e *Env) error {
	return errors.New("aes-ceiling runs in one process (recv role only)")
}

// openLoop opens one sealed packet over and over: each round copies the sealed bytes into the
// buffer (Open decrypts in place and so consumes its input) and opens them, as the RX loop opens
// each packet where it was received.
func openLoop(e *Env, aead *stc.AEAD, pkt []byte, payload int) error {
	const pn = 7
	sealed := append([]byte(nil), aead.Seal(pkt[:aesHeader+payload], aesHeader, pn)...)
	buf := make([]byte, len(sealed))
	e.Ready(nil)
	for !e.Stopped() {
		for i := 0; i < 64; i++ {
			copy(buf, sealed)
			if _, err := aead.Open(buf, aesHeader, pn); err != nil {
				return fmt.Errorf("open of a packet just sealed: %w", err)
			}
		}
		e.M.Add(64*payload, 64)
	}
	if !e.WindowDone() {
		return errors.New("stopped before the measurement window closed")
	}
	return nil
}
