package netem

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Clients of sttfast serve's admin endpoint (--admin): /sessions, /metrics, pprof.

// adminSession is the part of serve's GET /sessions the tests read.
type adminSession struct {
	ID              string `json:"id"`
	StreamBytesRecv uint64 `json:"stream_bytes_received"`
}

// sessions GETs /sessions.
func sessions(t *testing.T, admin string) []adminSession {
	t.Helper()
	resp, err := http.Get(admin + "/sessions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ss []adminSession
	if err := json.NewDecoder(resp.Body).Decode(&ss); err != nil {
		t.Fatal(err)
	}
	return ss
}

// awaitSession polls /sessions until a session satisfies ok (bounded by procGuard).
func awaitSession(t *testing.T, admin string, ok func(adminSession) bool) adminSession {
	t.Helper()
	deadline := time.Now().Add(procGuard)
	for {
		for _, s := range sessions(t, admin) {
			if ok(s) {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no matching session within %v", procGuard)
		}
		time.Sleep(10 * time.Millisecond) // polling interval of a bounded wait
	}
}

// hasSession reports whether /sessions lists id.
func hasSession(t *testing.T, admin, id string) bool {
	t.Helper()
	for _, s := range sessions(t, admin) {
		if s.ID == id {
			return true
		}
	}
	return false
}

// forceGC makes serve collect garbage: its pprof heap handler runs runtime.GC with gc=1.
func forceGC(t *testing.T, admin string) {
	t.Helper()
	resp, err := http.Get(admin + "/debug/pprof/heap?gc=1")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// scrape GETs /metrics: each family's samples summed under its name, and each labelled sample
// under its series (e.g. sttfast_drops_total{reason="auth"}).
func scrape(t *testing.T, admin string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		sp := strings.LastIndexByte(l, ' ')
		if sp < 0 {
			t.Fatalf("metrics line %q", l)
		}
		series, val := l[:sp], l[sp+1:]
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			t.Fatalf("metrics line %q", l)
		}
		name, _, labelled := strings.Cut(series, "{")
		m[name] += v
		if labelled {
			m[series] = v
		}
	}
	return m
}
