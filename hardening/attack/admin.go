package attack

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Admin talks to a listener's admin endpoint (sttfast serve --admin): GET /metrics, GET
// /sessions and DELETE /sessions/{id}.
type Admin struct {
	Base   string // "http://127.0.0.1:9090"
	Client *http.Client
}

// NewAdmin returns a client for the admin endpoint at base.
func NewAdmin(base string) *Admin {
	return &Admin{Base: strings.TrimRight(base, "/"), Client: &http.Client{Timeout: 10 * time.Second}}
}

// SessionInfo is the part of GET /sessions the attacker reads.
type SessionInfo struct {
	ID              string `json:"id"`
	Peer            string `json:"peer"`
	BytesReceived   uint64 `json:"bytes_received"`
	StreamBytesRecv uint64 `json:"stream_bytes_received"`
}

// Sessions lists the listener's live sessions.
func (a *Admin) Sessions(ctx context.Context) ([]SessionInfo, error) {
	var ss []SessionInfo
	body, err := a.get(ctx, "/sessions")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, &ss); err != nil {
		return nil, fmt.Errorf("GET /sessions: %w", err)
	}
	return ss, nil
}

// Counters reads /metrics into the counters the scenarios compare.
func (a *Admin) Counters(ctx context.Context) (Counters, error) {
	m, err := a.Metrics(ctx)
	if err != nil {
		return Counters{}, err
	}
	return m.Counters(), nil
}

// Metrics reads and parses /metrics.
func (a *Admin) Metrics(ctx context.Context) (Metrics, error) {
	body, err := a.get(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	return ParseMetrics(string(body))
}

func (a *Admin) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.Base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}

// Metrics is a parsed Prometheus text exposition: series (name plus labels, as written) to value.
type Metrics map[string]float64

// ParseMetrics parses the text format 0.0.4 as /metrics writes it: comment lines, then one
// "series value" per line.
func ParseMetrics(text string) (Metrics, error) {
	m := Metrics{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("metrics: no value in %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: %q: %w", line, err)
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// Labeled returns the samples of family name by the value of its one label.
func (m Metrics) Labeled(name string) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range m {
		rest, ok := strings.CutPrefix(k, name+"{")
		if !ok {
			continue
		}
		_, val, ok := strings.Cut(rest, "=\"")
		if !ok {
			continue
		}
		out[strings.TrimSuffix(val, "\"}")] = uint64(v)
	}
	return out
}

// Counters extracts the transport's counters.
func (m Metrics) Counters() Counters {
	return Counters{
		RxDatagrams:  uint64(m["sttfast_packets_received_total"]),
		TxDatagrams:  uint64(m["sttfast_packets_sent_total"]),
		HandshakesOK: uint64(m["sttfast_handshakes_ok_total"]),
		Sessions:     uint64(m["sttfast_sessions"]),
		Drops:        m.Labeled("sttfast_drops_total"),
		Refused:      m.Labeled("sttfast_handshakes_failed_total"),
	}
}

// Counters are a listener's counters at one moment, or the difference between two moments.
type Counters struct {
	RxDatagrams  uint64            `json:"rx_datagrams"`
	TxDatagrams  uint64            `json:"tx_datagrams"`
	HandshakesOK uint64            `json:"handshakes_ok"`
	Sessions     uint64            `json:"sessions"` // a gauge: the later value in a difference
	Drops        map[string]uint64 `json:"drops"`    // by reason
	Refused      map[string]uint64 `json:"refused"`  // handshake refusals by reason
}

// Sub returns c − before for every counter.
func (c Counters) Sub(before Counters) Counters {
	d := Counters{
		RxDatagrams:  c.RxDatagrams - before.RxDatagrams,
		TxDatagrams:  c.TxDatagrams - before.TxDatagrams,
		HandshakesOK: c.HandshakesOK - before.HandshakesOK,
		Sessions:     c.Sessions,
		Drops:        map[string]uint64{},
		Refused:      map[string]uint64{},
	}
	for k, v := range c.Drops {
		if x := v - before.Drops[k]; x != 0 {
			d.Drops[k] = x
		}
	}
	for k, v := range c.Refused {
		if x := v - before.Refused[k]; x != 0 {
			d.Refused[k] = x
		}
	}
	return d
}

// DropsTotal sums the drops of every reason.
func (c Counters) DropsTotal() uint64 {
	var t uint64
	for _, v := range c.Drops {
		t += v
	}
	return t
}

// RefusedTotal sums the handshake refusals of every reason.
func (c Counters) RefusedTotal() uint64 {
	var t uint64
	for _, v := range c.Refused {
		t += v
	}
	return t
}
