package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/stc"
)

// testCLI returns an in-process environment with captured output and the given variables.
func testCLI(env map[string]string) (*cli, *bytes.Buffer, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	return &cli{
		stdin:  strings.NewReader(""),
		stdout: &stdout, stderr: &stderr,
		getenv: func(k string) string { return env[k] },
	}, &stdout, &stderr
}

// runCLI runs args in-process and returns the status and both outputs.
func runCLI(env map[string]string, args ...string) (int, string, string) {
	c, stdout, stderr := testCLI(env)
	code := run(args, c)
	return code, stdout.String(), stderr.String()
}

// TestHelpEveryCommand checks that every command answers --help with status 0, a usage line
// and an example, on stdout.
func TestHelpEveryCommand(t *testing.T) {
	for _, cmd := range commands() {
		args := []string{cmd.name, "--help"}
		if cmd.name == "seed" {
			args = []string{"seed", "new", "--help"}
		}
		code, out, errOut := runCLI(nil, args...)
		if code != exitOK || errOut != "" {
			t.Errorf("%s --help: status %d, stderr %q", cmd.name, code, errOut)
		}
		if !strings.Contains(out, "Usage: sttfast "+cmd.name) || !strings.Contains(out, "Example") {
			t.Errorf("%s --help lacks a usage line or an example:\n%s", cmd.name, out)
		}
	}
	if code, out, _ := runCLI(nil, "help"); code != exitOK || !strings.Contains(out, "relay") {
		t.Errorf("help: status %d:\n%s", code, out)
	}
}

// TestUsageErrors checks that bad command lines exit 2 with one line naming the problem, and
// before any network activity.
func TestUsageErrors(t *testing.T) {
	seed := writeSeed(t, "stt.seed")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{}, "Usage"},
		{[]string{"nosuch"}, `unknown command "nosuch"`},
		{[]string{"dial", "--nosuch"}, "flag provided but not defined"},
		{[]string{"dial", "--addr", "udp://127.0.0.1:1", "--seed", seed, "extra"}, `unexpected argument "extra"`},
		{[]string{"dial", "--seed", seed}, "--addr is required"},
		{[]string{"dial", "--addr", "ws://127.0.0.1:9000/feed?x=1", "--seed", seed}, "no query"},
		{[]string{"listen", "--addr", "wss://h:1/x", "--seed", seed}, "reverse proxy"},
		{[]string{"relay", "--addr", "tcp://127.0.0.1:1", "--seed", seed}, `unknown transport "tcp"`},
		{[]string{"serve", "--addr", "udp://127.0.0.1", "--seed", seed}, "--addr udp://127.0.0.1"},
		{[]string{"serve", "--addr", "udp://127.0.0.1:0", "--seed", seed, "--admin", "nonsense"}, "--admin nonsense"},
		{[]string{"bench", "--transport", "quic"}, "unknown transport"},
		{[]string{"bench", "--transport", "ws", "--addr", "udp://127.0.0.1:1"}, "the address chooses"},
		{[]string{"bench", "--size", "lots"}, "bad size"},
		{[]string{"bench", "--mtu", "100"}, "--mtu 100"},
		{[]string{"bench", "--probabilistic", "--loss", "1.5"}, "--loss 1.5"},
		{[]string{"bench", "--probabilistic", "--addr", "udp://127.0.0.1:1"}, "in process"},
		{[]string{"bench", "--svg", "x.svg"}, "give --relay-feed"},
		{[]string{"dial", "--addr", "udp://127.0.0.1:1", "--seed", seed, "--deadline", "1s"}, "give --probabilistic"},
		{[]string{"dial", "--addr", "udp://127.0.0.1:1", "--seed", seed, "--probabilistic", "--recv"}, "not with --recv"},
		{[]string{"dial", "--addr", "udp://127.0.0.1:1", "--seed", seed, "--probabilistic", "--state", "x"}, "not with --state"},
		{[]string{"bench", "--addr", "udp://127.0.0.1:1"}, "no seed"},
		{[]string{"dial", "--addr", "udp://127.0.0.1:1", "--seed", seed, "--chunk", "65MiB"}, "--chunk"},
		{[]string{"seed", "old"}, `unknown subcommand "old"`},
	}
	for _, tc := range cases {
		code, _, errOut := runCLI(nil, tc.args...)
		if code != exitUsage {
			t.Errorf("%v: status %d, want %d (stderr %q)", tc.args, code, exitUsage, errOut)
			continue
		}
		if len(tc.args) == 0 {
			continue // bare "sttfast" prints the help
		}
		if n := strings.Count(errOut, "\n"); n != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: stderr %q: want one line containing %q", tc.args, errOut, tc.want)
		}
	}
}

// TestSeedNew checks the seed file: 64 hex characters and a newline, mode 0600, no silent
// overwrite, --force replaces, stdout without -o.
func TestSeedNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stt.seed")
	if code, _, errOut := runCLI(nil, "seed", "new", "-o", path); code != 0 {
		t.Fatalf("seed new: status %d: %s", code, errOut)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	first, _ := os.ReadFile(path)
	if !regexp.MustCompile(`^[0-9a-f]{64}\n$`).Match(first) {
		t.Errorf("content %q is not 64 hex characters and a newline", first)
	}
	if _, err := stc.LoadSeedFile(path); err != nil {
		t.Errorf("the library cannot load it: %v", err)
	}
	code, _, errOut := runCLI(nil, "seed", "new", "-o", path)
	if code != exitFailure || !strings.Contains(errOut, "exists") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("overwrite without --force: status %d, stderr %q", code, errOut)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, first) {
		t.Errorf("the refused overwrite changed the file")
	}
	os.Chmod(path, 0o644)
	if code, _, errOut := runCLI(nil, "seed", "new", "-o", path, "--force"); code != 0 {
		t.Fatalf("--force: status %d: %s", code, errOut)
	}
	second, _ := os.ReadFile(path)
	fi, _ = os.Stat(path)
	if bytes.Equal(second, first) || fi.Mode().Perm() != 0o600 {
		t.Errorf("--force: same seed or mode %v", fi.Mode().Perm())
	}
	code, out, _ := runCLI(nil, "seed", "new")
	if code != 0 || !regexp.MustCompile(`^[0-9a-f]{64}\n$`).MatchString(out) {
		t.Errorf("seed new to stdout: status %d, %q", code, out)
	}
}

// TestSeedSources checks each seed source, the precedence of flags over STT_SEED, and that
// every bad seed is a usage error that does not quote the secret.
func TestSeedSources(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fileHex := strings.Repeat("ab", 32)
	envHex := strings.Repeat("cd", 32)
	seedFile := write("good.seed", fileHex+"\n")
	passFile := write("pass.txt", "correct horse battery staple\r\n")
	fileSeed, _ := stc.ParseSeedHex(fileHex)
	envSeed, _ := stc.ParseSeedHex(envHex)
	passSeed, _ := stc.SeedFromPassphrase([]byte("correct horse battery staple"))

	good := []struct {
		name string
		f    seedFlags
		env  string
		want *stc.Seed
	}{
		{"file", seedFlags{file: seedFile}, "", fileSeed},
		{"env", seedFlags{}, envHex, envSeed},
		{"flag wins over env", seedFlags{file: seedFile}, envHex, fileSeed},
		{"passphrase, CR/LF trimmed", seedFlags{passFile: passFile}, "", passSeed},
	}
	for _, tc := range good {
		s, err := tc.f.load(func(k string) string {
			if k == seedEnv {
				return tc.env
			}
			return ""
		})
		if err != nil || !s.Equal(tc.want) {
			t.Errorf("%s: %v (equal %v)", tc.name, err, err == nil && s.Equal(tc.want))
		}
	}

	secret := "0123456789abcdef"
	bad := []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"none", nil, "", "no seed"},
		{"both flags", []string{"--seed", seedFile, "--passphrase-file", passFile}, "", "only one of"},
		{"missing file", []string{"--seed", filepath.Join(dir, "nope")}, "", "no such file"},
		{"short file", []string{"--seed", write("short.seed", secret+"\n")}, "", "too short"},
		{"malformed file", []string{"--seed", write("bad.seed", strings.Repeat("zz", 32))}, "", "not a hex seed"},
		{"odd file", []string{"--seed", write("odd.seed", fileHex+"a")}, "", "not a hex seed"},
		{"short env", nil, secret, "STT_SEED: the seed is too short"},
		{"malformed env", nil, "xyz" + secret, "STT_SEED: not a hex seed"},
		{"empty passphrase", []string{"--passphrase-file", write("empty.txt", "\n")}, "", "empty"},
		{"missing passphrase", []string{"--passphrase-file", filepath.Join(dir, "nope.txt")}, "", "no such file"},
	}
	for _, tc := range bad {
		args := append([]string{"dial", "--addr", "udp://127.0.0.1:9"}, tc.args...)
		code, _, errOut := runCLI(map[string]string{seedEnv: tc.env}, args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: status %d, stderr %q; want status 2 and one line with %q", tc.name, code, errOut, tc.want)
		}
		if strings.Contains(errOut, secret) {
			t.Errorf("%s: the error quotes the secret: %q", tc.name, errOut)
		}
	}
}

// TestCheckAddr checks the address URL rules: udp (or bare HOST:PORT), ws and wss with a path
// (/stt by default).
func TestCheckAddr(t *testing.T) {
	ok := map[string]string{
		"udp://127.0.0.1:9000": "udp://127.0.0.1:9000",
		"127.0.0.1:0":          "udp://127.0.0.1:0",
		"udp://[::1]:9000":     "udp://[::1]:9000",
		"udp://localhost:9000": "udp://localhost:9000",
		"UDP://127.0.0.1:9000": "udp://127.0.0.1:9000",
		"ws://127.0.0.1:9080":  "ws://127.0.0.1:9080/stt",
		"WS://h:1/feed":        "ws://h:1/feed",
		"wss://h:443/a/b":      "wss://h:443/a/b",
	}
	for in, want := range ok {
		if got, err := checkAddr("--addr", in); err != nil || got != want {
			t.Errorf("checkAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ws://h/p", "ws://h:1/p?q", "http://h:1", "udp://h", "udp://h:", "udp://h:1/path", "h"} {
		_, err := checkAddr("--addr", in)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("checkAddr(%q) = %v; want a usage error", in, err)
		}
	}
}

// TestExplain checks that the library's errors become one plain sentence.
func TestExplain(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("sttfast: dial udp://x:1: %w", ctrl.ErrNoAnswer), "no answer (no node there, a firewall, or a different seed)"},
		{fmt.Errorf("sttfast: dial udp://x:1: %w", fmt.Errorf("%w; the network said: no route to host", ctrl.ErrNoAnswer)),
			"no answer (no node there, a firewall, or a different seed); the network said: no route to host"},
		{fmt.Errorf("sttfast: dial udp://x:1: %w", ctrl.ErrNothingListening), "nothing listens there (its host answered: port unreachable)"},
		{fmt.Errorf("sttfast: dial udp://x:1: %w", fmt.Errorf("%w: %w", ctrl.ErrSendFailed, syscall.ENETUNREACH)),
			"cannot send to the peer: network is unreachable"},
		{fmt.Errorf("sttfast: dial udp://x:1: %w", &ctrl.ClockSkewError{Offset: -90 * time.Minute}),
			"our clock differs from the peer's by 1h30m0s (ours is ahead)"},
		{&dataplane.CloseError{Code: 8, Remote: true, Reason: "engine closed"}, "the peer shut down (code 8)"},
		{&dataplane.CloseError{Code: 0x100, Remote: true, Reason: "closed by admin"}, "the peer closed the session: closed by admin (code 256)"},
		{&dataplane.CloseError{Code: 0x100, Remote: true}, "the peer closed the session: application (code 256)"},
		{&dataplane.CloseError{Code: 2, Reason: "the peer stopped acknowledging (no answer to 6 probes over 5s)"}, "the peer stopped acknowledging (no answer to 6 probes over 5s)"},
		{&dataplane.CloseError{Code: 2}, "nothing heard from the peer within the idle timeout (it vanished or the path broke)"},
		{errors.New("sttfast: stc: something"), "something"},
	}
	for _, tc := range cases {
		if got := explain(tc.err); got != tc.want {
			t.Errorf("explain(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	var buf bytes.Buffer
	code := report(&buf, "dial", failf(ctrl.ErrNoAnswer, "dial udp://127.0.0.1:9000"))
	if code != exitFailure || buf.String() != "sttfast: dial udp://127.0.0.1:9000: no answer (no node there, a firewall, or a different seed)\n" {
		t.Errorf("report: %d %q", code, buf.String())
	}
}
