package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"sync"
	"time"

	"github.com/sttfast/sttfast/ctrl"
	"github.com/sttfast/sttfast/dataplane"
)

// adminHelp documents the admin endpoint in serve's --help.
const adminHelp = `Admin HTTP endpoint (--admin HOST:PORT; off unless given). It has no authentication, so it binds
loopback by default: a bare ":PORT" means 127.0.0.1:PORT; give 0.0.0.0:PORT to expose it.
Prints "admin on http://HOST:PORT" on stderr once ready.
  GET    /sessions       JSON array: id (hex), peer, path (udp or ws), age_s, packets_sent,
                         packets_received, bytes_sent, bytes_received (packet bytes),
                         stream_bytes_sent/received, rtt_us (smoothed), min_rtt_us,
                         packets_lost, retransmitted_bytes, streams
  DELETE /sessions/{id}  close that session at once (SESSION_CLOSE code 0x100, "closed by
                         admin"); 204, or 404 if there is no such session
  GET    /metrics        Prometheus text format 0.0.4: packets and bytes rx/tx (in all and by
                         path: udp, ws), retransmitted bytes, drops by reason, handshakes ok and
                         failed by reason, sessions (in all and by path), the WebSocket path's
                         connections, upgrades (completed, refused by reason), closes (by
                         peers, idle, refused by close code 1002/1003/1009), drops by reason,
                         Go GC cycles, heap bytes, goroutines
  GET    /debug/pprof/   the runtime profiles (net/http/pprof)`

// adminCloseCode is the application close code of DELETE /sessions/{id}.
const adminCloseCode = dataplane.CodeApplicationMin

// adminAddr normalizes --admin: a missing host means loopback.
func adminAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", usagef("--admin %s: want HOST:PORT or :PORT (%v)", s, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// sessionBook keeps the sessions a node accepted and the final numbers of those that ended, so
// that counters summed over sessions never go down when one closes.
type sessionBook struct {
	mu         sync.Mutex
	live       map[*ctrl.Session]struct{}
	closedRetx uint64
	closedLost uint64
}

// newSessionBook returns an empty book.
func newSessionBook() *sessionBook {
	return &sessionBook{live: make(map[*ctrl.Session]struct{})}
}

// add records a new session.
func (b *sessionBook) add(s *ctrl.Session) {
	b.mu.Lock()
	b.live[s] = struct{}{}
	b.mu.Unlock()
}

// remove moves an ended session's numbers into the closed totals.
func (b *sessionBook) remove(s *ctrl.Session) {
	st := s.Stats()
	b.mu.Lock()
	if _, ok := b.live[s]; ok {
		delete(b.live, s)
		b.closedRetx += st.RetransmittedBytes
		b.closedLost += st.PacketsLost
	}
	b.mu.Unlock()
}

// totals returns retransmitted bytes and lost packets over every session, live or closed.
func (b *sessionBook) totals() (retx, lost uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	retx, lost = b.closedRetx, b.closedLost
	for s := range b.live {
		st := s.Stats()
		retx += st.RetransmittedBytes
		lost += st.PacketsLost
	}
	return retx, lost
}

// sessionInfo is one element of GET /sessions.
type sessionInfo struct {
	ID              string  `json:"id"`
	Peer            string  `json:"peer"`
	Path            string  `json:"path"` // the path kind: "udp" or "ws"
	AgeSeconds      float64 `json:"age_s"`
	PacketsSent     uint64  `json:"packets_sent"`
	PacketsReceived uint64  `json:"packets_received"`
	BytesSent       uint64  `json:"bytes_sent"`
	BytesReceived   uint64  `json:"bytes_received"`
	StreamBytesSent uint64  `json:"stream_bytes_sent"`
	StreamBytesRecv uint64  `json:"stream_bytes_received"`
	RTTus           float64 `json:"rtt_us"`
	MinRTTus        float64 `json:"min_rtt_us"`
	PacketsLost     uint64  `json:"packets_lost"`
	Retransmitted   uint64  `json:"retransmitted_bytes"`
	Streams         int     `json:"streams"`
}

// adminHandler returns the admin mux: sessions, metrics and pprof, never DefaultServeMux.
func adminHandler(node *ctrl.Node, book *sessionBook) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sessions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, listSessions(node))
	})
	mux.HandleFunc("DELETE /sessions/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := parseSessionID(r.PathValue("id"))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		s := node.Session(id)
		if s == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such session"})
			return
		}
		s.CloseWithError(adminCloseCode, "closed by admin")
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		in := metricsInput{node: node.Stats(), rt: readRuntimeStats()}
		in.retransmitted, in.packetsLost = book.totals()
		w.Header().Set("Content-Type", metricsContentType)
		writeMetrics(w, &in)
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// listSessions snapshots every live session, oldest first.
func listSessions(node *ctrl.Node) []sessionInfo {
	now := time.Now()
	ss := node.Sessions()
	sort.Slice(ss, func(i, j int) bool { return ss[i].Created().Before(ss[j].Created()) })
	out := make([]sessionInfo, 0, len(ss))
	for _, s := range ss {
		st := s.Stats()
		id := s.ID()
		out = append(out, sessionInfo{
			ID: hex.EncodeToString(id[:]), Peer: s.Peer().String(), Path: pathKind(s),
			AgeSeconds:  now.Sub(s.Created()).Seconds(),
			PacketsSent: st.PacketsSent, PacketsReceived: st.PacketsRecv,
			BytesSent: st.BytesSent, BytesReceived: st.BytesRecv,
			StreamBytesSent: st.StreamBytesSent, StreamBytesRecv: st.StreamBytesRecv,
			RTTus: float64(st.SmoothedRTT) / 1e3, MinRTTus: float64(st.MinRTT) / 1e3,
			PacketsLost: st.PacketsLost, Retransmitted: st.RetransmittedBytes, Streams: st.Streams,
		})
	}
	return out
}

// pathKind names the path a session runs over: "ws" for the WebSocket path (the one reliable
// path), else "udp".
func pathKind(s *ctrl.Session) string {
	if s.Reliable() {
		return ctrl.PathWS
	}
	return ctrl.PathUDP
}

// parseSessionID reads the 16 hex characters of a session id.
func parseSessionID(s string) ([8]byte, error) {
	var id [8]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, errors.New("a session id is 16 hex characters")
	}
	copy(id[:], b)
	return id, nil
}

// writeJSON writes v with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// startAdmin listens on addr and serves the admin mux until the returned server is closed.
func startAdmin(addr string, h http.Handler) (*http.Server, net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return srv, ln.Addr(), nil
}
