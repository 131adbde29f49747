package attack

import (
	"net"
	"os"
	"testing"
	"time"
)

// TestParseStatCPU reads utime+stime after a command name holding spaces and parentheses.
func TestParseStatCPU(t *testing.T) {
	stat := "42 (a) b (c) S 1 2 3 4 5 6 7 8 9 10 250 130 0 0 20 0 1 0 100 200 300"
	d, err := parseStatCPU(stat)
	if err != nil || d != 3800*time.Millisecond {
		t.Fatalf("got %v, %v; want 3.8s", d, err)
	}
	if _, err := parseStatCPU("no parenthesis"); err == nil {
		t.Fatal("no error for a malformed line")
	}
}

// TestReadProcSelf reads this process: non-zero RSS, peak at least RSS, CPU moving forward.
func TestReadProcSelf(t *testing.T) {
	p, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p.RSS == 0 || p.HWM < p.RSS {
		t.Fatalf("RSS %d, HWM %d", p.RSS, p.HWM)
	}
}

// TestSocketDrops finds this process's own UDP socket and reads its kernel drop counter: a
// socket with a tiny receive buffer that nobody reads drops most of 200 datagrams.
func TestSocketDrops(t *testing.T) {
	rx := udpSocket(t)
	if err := rx.SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	port := uint16(rx.LocalAddr().(*net.UDPAddr).Port)
	d0, found, err := SocketDrops(os.Getpid(), port)
	if err != nil || !found || d0 != 0 {
		t.Fatalf("fresh socket: drops %d, found %v, %v", d0, found, err)
	}
	tx := udpSocket(t)
	msg := make([]byte, 1000)
	for i := 0; i < 200; i++ {
		if _, err := tx.WriteTo(msg, rx.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	d1, _, err := SocketDrops(os.Getpid(), port)
	if err != nil || d1 < 100 {
		t.Fatalf("after 200 datagrams into a 4 KiB buffer: drops %d, %v", d1, err)
	}
	if _, found, _ := SocketDrops(os.Getpid(), 1); found {
		t.Fatal("found a socket on port 1")
	}
}
