package attack

import "testing"

// TestParseMetrics reads the counters the scenarios use out of /metrics text, and subtracts.
func TestParseMetrics(t *testing.T) {
	text := `# HELP sttfast_packets_received_total UDP datagrams received by the node.
# TYPE sttfast_packets_received_total counter
sttfast_packets_received_total 1000
sttfast_packets_sent_total 10
# TYPE sttfast_drops_total counter
sttfast_drops_total{reason="truncated"} 5
sttfast_drops_total{reason="auth"} 7
sttfast_drops_total{reason="handshake"} 0
sttfast_handshakes_ok_total 2
sttfast_handshakes_failed_total{reason="bad_mac"} 3
sttfast_sessions 1
go_goroutines 12
`
	m, err := ParseMetrics(text)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Counters()
	if c.RxDatagrams != 1000 || c.TxDatagrams != 10 || c.HandshakesOK != 2 || c.Sessions != 1 ||
		c.Drops["truncated"] != 5 || c.Drops["auth"] != 7 || c.Refused["bad_mac"] != 3 || c.DropsTotal() != 12 {
		t.Fatalf("counters %+v", c)
	}
	before := c
	before.Drops = map[string]uint64{"truncated": 1, "auth": 7}
	before.Refused = map[string]uint64{}
	before.RxDatagrams = 400
	d := c.Sub(before)
	if d.RxDatagrams != 600 || d.Drops["truncated"] != 4 || len(d.Drops) != 1 || d.RefusedTotal() != 3 {
		t.Fatalf("difference %+v", d)
	}
	if _, err := ParseMetrics("novalue\n"); err == nil {
		t.Fatal("no error for a line without a value")
	}
}
