package recovery

// ChangePath moves the Sender to a new network path (docs/PROTOCOL.md, "Migration"): every
// packet still outstanding is forgotten and its frames are reported lost through h (unless a
// PTO already reported them), so the caller sends them again over the new path; what the old
// path still delivers late is a harmless duplicate, and an ACK for a forgotten packet changes
// nothing. Packet numbers keep increasing: ChangePath never touches NextPacketNumber or the
// largest acknowledged number, so no packet number, hence no AEAD nonce, is ever used twice.
//
// With keepEstimates false (a new host, or a path of another kind) the RTT estimator, the
// congestion controller, the reordering state and the pacer start again from cfg, as for a new
// session (RFC 9000 §9.4): nothing learned about the old path says anything about the new one.
// cfg.Reliable selects the new path's kind. With keepEstimates true (the same host behind a NAT
// that changed the port: the path is the same) they stay, so a NAT rebinding costs no slow start.
func (s *Sender) ChangePath(cfg Config, keepEstimates bool, h Handler) {
	if !s.initialized {
		s.Init(cfg)
		return
	}
	s.Drop(h)
	s.scanFrom = s.histBase
	if keepEstimates {
		return
	}
	c := cfg.withDefaults()
	s.maxAckDelay = c.MaxAckDelay
	s.rtt = RTT{}
	s.rtt.SetInitial(c.InitialRTT)
	s.rtt.SetMaxAckDelay(c.MaxAckDelay)
	s.cc = congestion{}
	s.cc.init(&c)
	s.reo = reorderState{}
	s.reo.init()
	s.useBBR = c.Algorithm == BBR
	if s.useBBR {
		if s.bbr == nil {
			s.bbr = new(bbr)
		}
		s.bbr.init(&c)
	}
	s.pace = pacer{}
	s.pace.init(c.MaxDatagramSize, c.DisablePacing)
	s.reliable = c.Reliable
	s.firstRTTSampleAt = 0
	s.lastAckElicitingSent = 0
}
