package netem

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sttfast/sttfast/hardening/attack"
)

// Clients of sttfast serve's admin endpoint (--admin): /sessions, /metrics, pprof.

// sessions GETs /sessions.
func sessions(t *testing.T, admin string) []attack.SessionInfo {
	t.Helper()
	ss, err := attack.NewAdmin(admin).Sessions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

// awaitSession polls /sessions until a session satisfies ok (bounded by procGuard).
func awaitSession(t *testing.T, admin string, ok func(attack.SessionInfo) bool) attack.SessionInfo {
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
	series, err := attack.NewAdmin(admin).Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]float64{}
	for s, v := range series {
		m[s] = v
		if name, _, labelled := strings.Cut(s, "{"); labelled {
			m[name] += v
		}
	}
	return m
}
