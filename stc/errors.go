package stc

import "errors"

// Sentinel errors. They are compared with errors.Is; functions off the hot path wrap them with
// context (fmt.Errorf("...: %w", ...)), while the per-packet functions (Open) return them as-is so
// that a failure costs no allocation.
var (
	// ErrSeedTooShort reports a seed of fewer than SeedMinSize bytes.
	ErrSeedTooShort = errors.New("stc: seed too short")
	// ErrSeedFormat reports seed text that is not hex, or a seed longer than SeedMaxSize.
	ErrSeedFormat = errors.New("stc: malformed seed")
	// ErrEmptyPassphrase reports an empty passphrase given to SeedFromPassphrase.
	ErrEmptyPassphrase = errors.New("stc: empty passphrase")
	// ErrAuth reports a packet that failed authentication (wrong key, wrong packet number,
	// tampered bytes, or too short to hold a tag). It is returned without allocation.
	ErrAuth = errors.New("stc: message authentication failed")
	// ErrKeyExhausted reports that a key has sealed MaxPacketsPerKey packets: the sender must
	// not seal another packet under it and has to update the key (or close the session).
	ErrKeyExhausted = errors.New("stc: key usage limit reached")
)

// Key log errors (ParseKeyLogLine).
var (
	// ErrKeyLogFormat reports a key log line with the STT label that is not well formed.
	ErrKeyLogFormat = errors.New("stc: malformed key log line")
	// ErrKeyLogOtherLabel reports a key log line that is not an STT line (blank, a comment, or
	// another protocol's): a reader skips it.
	ErrKeyLogOtherLabel = errors.New("stc: not an STT key log line")
)
