package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
	"github.com/sttfast/sttfast/stc"
)

// The Wireshark test (issue 16): a real transfer over UDP loopback and one over ws://, captured
// with Debian's dumpcap (.ci/setup-tshark installs it; capturing needs root), dissected by
// tshark with tools/wireshark/stt.lua, then decrypted by "sttfast pcap decrypt" with the nodes'
// key log and dissected again. The capture is real rather than written from inside the nodes so
// that what is checked is what the kernel put on the wire: GSO super-packets on loopback, TCP
// segmentation of the WebSocket path.

// captureEnd is the payload of the datagram sent after a transfer: once it is in the capture
// file, everything sent before it is too (lo delivers to the capture in send order).
const captureEnd = "sttfast-capture-end"

// captureStart is the payload of the datagrams sent until the capture sees one.
const captureStart = "sttfast-capture-start"

// awaitMarker sends marker through c until the capture file holds it (dumpcap -P flushes each
// packet), failing after 30 s.
func awaitMarker(t *testing.T, file string, c net.Conn, marker string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.Write([]byte(marker))
		if b, _ := os.ReadFile(file); bytes.Contains(b, []byte(marker)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the marker %q never reached the capture file", marker)
		}
		time.Sleep(20 * time.Millisecond) // a poll interval while dumpcap writes, not synchronisation
	}
}

func needWiresharkTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"tshark", "dumpcap"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (.ci/setup-tshark installs it from Debian's tshark package)", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("capturing on lo needs root (CI runs as root)")
	}
}

// lockedLog is a key log both nodes write.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// startCapture starts dumpcap on lo with filter and returns once it captures, and a function
// that sends the end marker to port, waits for it in the file and stops dumpcap.
func startCapture(t *testing.T, file, filter string, port int) (stop func()) {
	t.Helper()
	cmd := exec.Command("dumpcap", "-i", "lo", "-f", filter, "-w", file, "-B", "64", "-P")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan error, 1)
	var errText strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			errText.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "Capturing on") {
				ready <- nil
				io.Copy(io.Discard, stderr)
				return
			}
		}
		ready <- fmt.Errorf("dumpcap ended: %s", errText.String())
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("dumpcap did not start capturing")
	}
	// "Capturing on" comes before the capture really runs: send a start marker until it is in
	// the file, and only then let the transfer begin.
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	awaitMarker(t, file, c, captureStart)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			defer c.Close()
			awaitMarker(t, file, c, captureEnd)
			cmd.Process.Signal(syscall.SIGINT)
			cmd.Wait()
		})
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return stop
}

// tsharkFields runs tshark with the dissector on file and returns the rows of the fields asked.
func tsharkFields(t *testing.T, file string, extra []string, fields ...string) [][]string {
	t.Helper()
	lua, err := filepath.Abs("../../tools/wireshark/stt.lua")
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-X", "lua_script:" + lua, "-r", file, "-T", "fields", "-E", "separator=/t"}, extra...)
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command("tshark", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || strings.Contains(stderr.String(), "Lua: Error") {
		t.Fatalf("tshark %v: %v\n%s", args, err, stderr.String())
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		rows = append(rows, strings.Split(line, "\t"))
	}
	return rows
}

// transferStats runs one transfer between two fresh nodes over addr's transport and returns
// the final statistics of the dialer's and the listener's session, once both ended.
func captureTransfer(t *testing.T, scheme, dir string) (raw, keylog string, port int, cs, ss dataplane.SessionStats, id [8]byte) {
	seed, err := stc.NewSeed(bytes.Repeat([]byte{42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	var log lockedLog
	addr := "udp://127.0.0.1:0"
	if scheme == "ws" {
		addr = "ws://127.0.0.1:0/stt"
	}
	// Key updates every 200 packets: the decrypter must follow generations as the peers do.
	tr := dataplane.Config{KeyUpdatePackets: 200}
	srv, err := ctrl.Listen(context.Background(), ctrl.Config{Seed: seed, Addr: addr, KeyLog: &log, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cli, err := ctrl.Listen(context.Background(), ctrl.Config{Seed: seed, Addr: "udp://127.0.0.1:0", KeyLog: &log, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	port = int(srv.Addr().Port())
	raw = filepath.Join(dir, scheme+".pcapng")
	filter := fmt.Sprintf("udp port %d", port)
	if scheme == "ws" {
		filter = fmt.Sprintf("tcp port %d or udp port %d", port, port)
	}
	stop := startCapture(t, raw, filter, port)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	target := fmt.Sprintf("udp://127.0.0.1:%d", port)
	if scheme == "ws" {
		target = fmt.Sprintf("ws://127.0.0.1:%d/stt", port)
	}
	s, err := cli.Dial(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := srv.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	payload := seededPayload(1<<20, 16)
	go func() {
		st.Write(payload)
		st.Close()
	}()
	ps, err := peer.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(ps)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("received %d of %d bytes: %v", len(got), len(payload), err)
	}
	s.Close(ctx)
	for _, x := range []*ctrl.Session{s, peer} {
		select {
		case <-x.Done():
		case <-ctx.Done():
			t.Fatal("sessions did not close")
		}
	}
	cs, ss, id = s.Stats(), peer.Stats(), s.ID()
	cli.Close()
	srv.Close()
	stop()
	keylog = filepath.Join(dir, scheme+".keys")
	log.mu.Lock()
	os.WriteFile(keylog, log.b.Bytes(), 0o600)
	log.mu.Unlock()
	return raw, keylog, port, cs, ss, id
}

// seededPayload is n deterministic bytes.
func seededPayload(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func TestWiresharkDissectsCapture(t *testing.T) {
	needWiresharkTools(t)
	for _, scheme := range []string{"udp", "ws"} {
		t.Run(scheme, func(t *testing.T) {
			dir := t.TempDir()
			// STT_KEEP_CAPTURE=DIR keeps the captures and key logs for a look in Wireshark.
			if d := os.Getenv("STT_KEEP_CAPTURE"); d != "" {
				dir = d
			}
			raw, keylog, port, cs, ss, id := captureTransfer(t, scheme, dir)
			var decode []string
			if scheme == "ws" {
				decode = []string{"-d", fmt.Sprintf("tcp.port==%d,http", port)}
			}
			// The capture as taken: every STT packet's kind and session id.
			sid := fmt.Sprintf("%x", id)
			var protected, handshake int
			for _, row := range tsharkFields(t, raw, decode, "stt.kind", "stt.session_id") {
				if len(row) < 2 || row[0] == "" {
					continue // TCP segments without a whole message, the end marker
				}
				kinds, ids := strings.Split(row[0], ","), strings.Split(row[1], ",")
				if len(kinds) != len(ids) {
					t.Fatalf("row %q", row)
				}
				for i, k := range kinds {
					switch k {
					case "1":
						handshake++
					case "2":
						protected++
						if ids[i] != sid {
							t.Fatalf("protected packet of session %s, the transfer's is %s", ids[i], sid)
						}
					default:
						t.Fatalf("packet of kind %s in the capture", k)
					}
				}
			}
			sent := cs.PacketsSent + ss.PacketsSent
			t.Logf("%s: %d handshake and %d protected packets dissected; the sessions sent %d", scheme, handshake, protected, sent)
			if handshake < 3 || uint64(protected) != sent {
				t.Fatalf("dissected %d handshake and %d protected packets; the sessions sent %d protected", handshake, protected, sent)
			}

			// Decrypted with the key log: every protected packet opened, every frame shown.
			clear := filepath.Join(dir, scheme+"-clear.pcap")
			code, out, errOut := runCLI(nil, "pcap", "decrypt", "--keylog", keylog, raw, clear)
			if code != exitOK || !strings.Contains(out, fmt.Sprintf("opened %d protected packets, could not open 0", sent)) {
				t.Fatalf("pcap decrypt: %d %q %q", code, out, errOut)
			}
			t.Logf("pcap decrypt: %s (key updates: dialer %d, listener %d)", strings.TrimSpace(out), cs.KeyUpdates, ss.KeyUpdates)
			var data, acks, dataWithFields uint64
			for _, row := range tsharkFields(t, clear, nil, "stt.kind", "stt.frame.type", "stt.frame.stream_id", "stt.frame.ack.largest") {
				if len(row) < 2 || row[0] == "2" {
					t.Fatalf("a packet left encrypted or not dissected: %q", row)
				}
				for _, ft := range strings.Split(row[1], ",") {
					switch ft {
					case "0x10":
						data++
					case "0x11":
						acks++
					}
				}
				if strings.Contains(row[1], "0x10") && row[2] != "" {
					dataWithFields++
				}
				if strings.Contains(row[1], "0x11") && row[3] == "" {
					t.Fatalf("ACK without its fields: %q", row)
				}
			}
			wantData, wantAcks := cs.DataFramesSent+ss.DataFramesSent, cs.AckFramesSent+ss.AckFramesSent
			t.Logf("%s: decrypted %d DATA and %d ACK frames; the nodes sent %d and %d", scheme, data, acks, wantData, wantAcks)
			if data != wantData || acks != wantAcks || dataWithFields == 0 {
				t.Fatalf("decrypted capture: %d DATA and %d ACK frames; the nodes sent %d and %d", data, acks, wantData, wantAcks)
			}
		})
	}
}
