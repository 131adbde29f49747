package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sttfast/sttfast/stc"
)

// seedEnv is the environment variable holding a hex seed.
const seedEnv = "STT_SEED"

// maxPassphraseFile bounds what --passphrase-file reads.
const maxPassphraseFile = 64 << 10

// seedHelp is the part of every connecting command's help that explains seed sources.
const seedHelp = `Seed (exactly one source): --seed FILE (64+ hex characters, as "sttfast seed new" writes),
--passphrase-file FILE (Argon2id-stretched; trailing CR/LF trimmed), or the environment variable
STT_SEED (hex). A flag wins over STT_SEED; giving both flags is a usage error. Both peers need
the same seed.`

// seedFlags are the seed sources every connecting command accepts, and whether the seed alone
// may make session keys (--forward-secrecy says no).
type seedFlags struct {
	file, passFile string
	forwardSecrecy bool
}

// register adds --seed, --passphrase-file and --forward-secrecy to fs.
func (f *seedFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.file, "seed", "", "read the seed (hex) from `FILE`")
	fs.StringVar(&f.passFile, "passphrase-file", "", "derive the seed from the passphrase in `FILE` (Argon2id)")
	fs.BoolVar(&f.forwardSecrecy, "forward-secrecy", false, "require forward secrecy: an ephemeral X25519 exchange in every handshake, so that the seed and a capture do not give the session keys (both peers need it; a node with it refuses peers without)")
}

// load returns the seed from exactly one source: a flag, else STT_SEED. Every problem (no
// source, two flags, unreadable file, short or malformed seed) is a usage error: the command
// cannot start. Messages never quote the secret.
func (f *seedFlags) load(getenv func(string) string) (*stc.Seed, error) {
	switch {
	case f.file != "" && f.passFile != "":
		return nil, usagef("give only one of --seed and --passphrase-file")
	case f.file != "":
		s, err := stc.LoadSeedFile(f.file)
		if err != nil {
			return nil, usagef("--seed %s: %s", f.file, seedProblem(err))
		}
		return s, nil
	case f.passFile != "":
		return loadPassphrase(f.passFile)
	}
	if v := getenv(seedEnv); v != "" {
		s, err := stc.ParseSeedHex(v)
		if err != nil {
			return nil, usagef("%s: %s", seedEnv, seedProblem(err))
		}
		return s, nil
	}
	return nil, usagef("no seed: give --seed FILE, --passphrase-file FILE or set %s (make one with \"sttfast seed new -o stt.seed\")", seedEnv)
}

// loadPassphrase reads a passphrase file, trims the trailing line ending an editor or echo
// adds, and stretches it with Argon2id.
func loadPassphrase(path string) (*stc.Seed, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--passphrase-file %s: %s", path, fileProblem(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPassphraseFile+1))
	defer clear(b)
	if err != nil {
		return nil, usagef("--passphrase-file %s: %s", path, fileProblem(err))
	}
	if len(b) > maxPassphraseFile {
		return nil, usagef("--passphrase-file %s: larger than %d bytes", path, maxPassphraseFile)
	}
	n := len(b)
	for n > 0 && (b[n-1] == '\n' || b[n-1] == '\r') {
		n--
	}
	if n == 0 {
		return nil, usagef("--passphrase-file %s: the passphrase is empty", path)
	}
	s, err := stc.SeedFromPassphrase(b[:n])
	if err != nil {
		return nil, usagef("--passphrase-file %s: %s", path, stripPrefixes(err.Error()))
	}
	return s, nil
}

// seedProblem says what is wrong with a seed without repeating the library's layers of context.
func seedProblem(err error) string {
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe):
		return fileProblem(pe.Err)
	case errors.Is(err, stc.ErrSeedTooShort):
		return fmt.Sprintf("the seed is too short: need at least %d bytes (%d hex characters)", stc.SeedMinSize, 2*stc.SeedMinSize)
	case errors.Is(err, stc.ErrSeedFormat):
		msg := stripPrefixes(err.Error())
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[:i] // drop the trailing "malformed seed"
		}
		if j := strings.LastIndex(msg, ": "); j >= 0 {
			msg = msg[j+2:] // keep the innermost detail
		}
		return "not a hex seed: " + msg
	}
	return stripPrefixes(err.Error())
}

// fileProblem names the common file errors in plain words.
func fileProblem(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// runSeed dispatches "seed new".
func runSeed(c *cli, args []string) error {
	const usage = `Usage: sttfast seed new [-o FILE] [--force]

Writes a fresh random 32-byte seed as 64 hex characters and a newline: to FILE (mode 0600; an
existing file is refused unless --force) or to stdout. Give the same file to both peers (over a
channel you trust) with --seed FILE, or export its content as STT_SEED.

Example:
  sttfast seed new -o stt.seed`
	if len(args) == 0 {
		return usagef("missing subcommand: sttfast seed new [-o FILE] [--force]")
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fmt.Fprintln(c.stdout, usage)
		return errHelp
	}
	if args[0] != "new" {
		return usagef("unknown subcommand %q (want: new)", args[0])
	}
	fs := newFlags(c, "seed new", usage)
	out := fs.String("o", "", "write the seed to `FILE` (mode 0600) instead of stdout")
	force := fs.Bool("force", false, "replace FILE if it exists")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	seed, err := stc.GenerateSeed()
	if err != nil {
		return failf(err, "seed new")
	}
	defer seed.Destroy()
	text := []byte(seed.Hex() + "\n")
	defer clear(text)
	if *out == "" {
		if _, err := c.stdout.Write(text); err != nil {
			return failf(err, "seed new: write stdout")
		}
		return nil
	}
	if err := writeSeedFile(*out, text, *force); err != nil {
		return err
	}
	return nil
}

// writeSeedFile writes text to path with mode 0600. Without force it never replaces an existing
// file (O_EXCL); with force it writes a temporary file next to path and renames it over, so the
// seed is never readable with wider permissions, even for a moment.
func writeSeedFile(path string, text []byte, force bool) error {
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return failf(errors.New("the file exists (use --force to replace it)"), "seed new: %s", path)
		}
		if err != nil {
			return failf(err, "seed new: %s", path)
		}
		return finishSeedFile(f, text, path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".sttfast-seed-*")
	if err != nil {
		return failf(err, "seed new: %s", path)
	}
	tmp := f.Name()
	if err := finishSeedFile(f, text, path); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return failf(err, "seed new: %s", path)
	}
	return nil
}

// finishSeedFile forces mode 0600 (whatever the umask), writes, syncs and closes f.
func finishSeedFile(f *os.File, text []byte, path string) error {
	err := f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(text)
	}
	if err == nil {
		err = f.Sync()
	}
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err != nil {
		return failf(err, "seed new: %s", path)
	}
	return nil
}
