package stc

import (
	"fmt"
	"io"
)

// The types that hold secrets implement fmt.Formatter so that a stray Printf("%v", ...) or a
// struct dump in a log line prints a placeholder instead of key material, whatever the verb.

// Format prints a placeholder, never the secret.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, "stc.Secret(redacted)") }

// Format prints a placeholder, never the key.
func (k MACKey) Format(f fmt.State, _ rune) { io.WriteString(f, "stc.MACKey(redacted)") }

// Format prints the seed length only.
func (s Seed) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "stc.Seed(%d bytes, redacted)", len(s.b))
}

// Format prints a placeholder, never the key or nonce salt.
func (a *AEAD) Format(f fmt.State, _ rune) { io.WriteString(f, "stc.AEAD(redacted)") }

// Format prints the generation only.
func (k *KeyChain) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "stc.KeyChain(generation %d, redacted)", k.gen)
}
