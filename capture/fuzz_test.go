package capture

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sttfast/sttfast/stc"
)

// fuzzKeyLog holds the secrets of the synthetic captures, so that fuzzed captures reach the
// decryption paths too.
func fuzzKeyLog() string {
	return keyLogOf(
		stc.KeyLogEntry{SessionID: testSID, Dir: stc.InitiatorToResponder, Secret: testSecret(1)},
		stc.KeyLogEntry{SessionID: testSID, Dir: stc.ResponderToInitiator, Secret: testSecret(100)},
	)
}

// fuzzCaptures are small valid captures: UDP with a super-packet, and WebSocket over TCP, in
// pcap and pcapng.
func fuzzCaptures(t testing.TB) map[string][]byte {
	i2r := testSecret(1)
	super := append(sealed(t, i2r, 0, 0, bytes.Repeat([]byte("a"), 60)), sealed(t, i2r, 0, 1, bytes.Repeat([]byte("b"), 60))...)
	udp := ethernet(AppendUDP(nil, cliAddr, srvAddr, super))
	wcli, wsrv := cliAddr, srvAddr
	stream := append([]byte("GET /stt HTTP/1.1\r\n\r\n"), wsFrame(sealed(t, i2r, 0, 2, []byte("ws")), true, [4]byte{9, 8, 7, 6})...)
	syn := ethernet(tcpSegment(wcli, wsrv, 100, true, nil))
	data := ethernet(tcpSegment(wcli, wsrv, 101, false, stream))
	classic := func(recs ...[]byte) []byte {
		var b bytes.Buffer
		w, _ := NewWriter(&b, LinkEthernet)
		for _, r := range recs {
			w.Write(time.Unix(1, 0), r)
		}
		w.Flush()
		return b.Bytes()
	}
	return map[string][]byte{
		"udp-gso-pcap":  classic(udp),
		"ws-pcap":       classic(syn, data),
		"udp-ws-pcapng": pcapng(udp, syn, data),
	}
}

func FuzzRewrite(f *testing.F) {
	for _, c := range fuzzCaptures(f) {
		f.Add(c)
	}
	log := fuzzKeyLog()
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := NewKeyLogDecrypter(strings.NewReader(log))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		Rewrite(bytes.NewReader(in), &out, d)
		// Whatever was written reads back as a capture.
		if out.Len() > 0 {
			r, err := NewReader(&out)
			if err != nil {
				t.Fatalf("output unreadable: %v", err)
			}
			for {
				if _, err := r.Next(); err != nil {
					break
				}
			}
		}
	})
}

func FuzzParseWSFrame(f *testing.F) {
	f.Add(wsFrame([]byte("hello"), true, [4]byte{1, 2, 3, 4}))
	f.Add(wsFrame(bytes.Repeat([]byte{1}, 300), false, [4]byte{}))
	f.Add([]byte{0x82, 0xff, 0, 0, 0, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseWSFrame(b)
		if err == nil && fr.Len > len(b) {
			t.Fatalf("frame of %d bytes in %d", fr.Len, len(b))
		}
	})
}

func FuzzSplitPackets(f *testing.F) {
	i2r := testSecret(1)
	f.Add(append(sealed(f, i2r, 0, 0, []byte("one")), sealed(f, i2r, 0, 1, []byte("two"))...))
	f.Add(sealed(f, i2r, 0, 0, []byte("alone")))
	f.Fuzz(func(t *testing.T, b []byte) {
		total := 0
		SplitPackets(b, func(p []byte) { total += len(p) })
		if total != 0 && total != len(b) {
			t.Fatalf("split %d bytes into packets of %d in all", len(b), total)
		}
	})
}

// TestWriteFuzzCorpus writes the seed corpora of the fuzz targets into testdata/fuzz when
// STT_WRITE_CORPUS=1 (how they were made); otherwise it only checks they are there.
func TestWriteFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzRewrite")
	if os.Getenv("STT_WRITE_CORPUS") != "1" {
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("seed corpus missing (run with STT_WRITE_CORPUS=1): %v", err)
		}
		return
	}
	write := func(target, name string, b []byte) {
		d := filepath.Join("testdata", "fuzz", target)
		os.MkdirAll(d, 0o755)
		if err := os.WriteFile(filepath.Join(d, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, c := range fuzzCaptures(t) {
		write("FuzzRewrite", name, c)
	}
	write("FuzzParseWSFrame", "masked", wsFrame([]byte("hello"), true, [4]byte{1, 2, 3, 4}))
	write("FuzzParseWSFrame", "len16", wsFrame(bytes.Repeat([]byte{1}, 300), false, [4]byte{}))
	write("FuzzParseWSFrame", "len64-huge", []byte{0x82, 0xff, 0, 0, 0, 0, 0, 0, 1, 0})
	i2r := testSecret(1)
	write("FuzzSplitPackets", "two", append(sealed(t, i2r, 0, 0, []byte("one")), sealed(t, i2r, 0, 1, []byte("two"))...))
	write("FuzzSplitPackets", "one", sealed(t, i2r, 0, 0, []byte("alone")))
}
