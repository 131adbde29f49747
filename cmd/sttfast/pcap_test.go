package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPcapDecryptUsage(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.log")
	os.WriteFile(keys, []byte("STT_TRAFFIC_SECRET 0102030405060708 i2r 0 "+strings.Repeat("00", 32)+"\n"), 0o600)
	bad := filepath.Join(dir, "bad.log")
	os.WriteFile(bad, []byte("STT_TRAFFIC_SECRET 01 i2r 0 00\n"), 0o600)
	notCapture := filepath.Join(dir, "not.pcap")
	os.WriteFile(notCapture, []byte("hello, not a capture"), 0o600)
	out := filepath.Join(dir, "out.pcap")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"pcap"}, exitUsage, "missing subcommand"},
		{[]string{"pcap", "encrypt"}, exitUsage, "unknown subcommand"},
		{[]string{"pcap", "decrypt", "in", "out"}, exitUsage, "exactly one of --keylog"},
		{[]string{"pcap", "decrypt", "--keylog", keys, "--seed", keys, "in", "out"}, exitUsage, "exactly one of --keylog"},
		{[]string{"pcap", "decrypt", "--keylog", keys, "in"}, exitUsage, "two arguments"},
		{[]string{"pcap", "decrypt", "--keylog", bad, notCapture, out}, exitFailure, "line 1"},
		{[]string{"pcap", "decrypt", "--keylog", keys, filepath.Join(dir, "missing"), out}, exitFailure, "missing"},
		{[]string{"pcap", "decrypt", "--keylog", keys, notCapture, out}, exitFailure, "not a pcap or pcapng file"},
	} {
		code, _, errOut := runCLI(nil, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: status %d, stderr %q; want %d and %q on one line", c.args, code, errOut, c.code, c.want)
		}
	}
	if code, out, _ := runCLI(nil, "pcap", "--help"); code != exitOK || !strings.Contains(out, "Usage: sttfast pcap decrypt") {
		t.Errorf("pcap --help: %d %q", code, out)
	}
}
