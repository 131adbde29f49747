package peerbench

import (
	"fmt"
	"time"
)

// Sample is one pair run: both children's results and the headline numbers derived from them.
type Sample struct {
	Contender string    `json:"contender"`
	Workload  string    `json:"workload"`
	Class     Class     `json:"class"`
	Round     int       `json:"round"`
	Started   time.Time `json:"started"`
	Error     string    `json:"error,omitempty"`
	Recv      *Result   `json:"recv,omitempty"`
	Send      *Result   `json:"send,omitempty"`

	// Value is the headline in the workload's unit (Workload.Unit).
	Value      float64 `json:"value"`
	Gbps       float64 `json:"goodput_gbps,omitempty"`
	MsgsPerSec float64 `json:"msgs_per_s,omitempty"`
	P50us      float64 `json:"rtt_p50_us,omitempty"`
	P99us      float64 `json:"rtt_p99_us,omitempty"`
	// LossPct is the share of datagrams the receiver never got (unreliable contenders only).
	LossPct float64 `json:"loss_pct,omitempty"`
	// Cores is the CPU time of both processes (and their helpers) per second of window.
	Cores float64 `json:"cores,omitempty"`
	// RSSPerSession accompanies Value (heap per session) for the idle workload.
	RSSPerSession float64 `json:"rss_per_session,omitempty"`
	SendGC        uint64  `json:"send_gc,omitempty"`
	RecvGC        uint64  `json:"recv_gc,omitempty"`
	// SendCPUPerMsgNs, for the fan-out scaling workloads, is the sender process's CPU time in
	// the window over the messages the receiver verified in the same window, in nanoseconds.
	SendCPUPerMsgNs float64 `json:"send_cpu_per_msg_ns,omitempty"`
	// Line is the delay line's counters for transfer workloads.
	Line *LineStats `json:"delay_line,omitempty"`
	// Netns is the namespace link's counters over the run, for the netns suite.
	Netns *NetnsStats `json:"netns,omitempty"`
}

// OK reports whether the sample produced a number.
func (s *Sample) OK() bool { return s.Error == "" && s.measured() != nil && s.measured().Windowed }

func (s *Sample) measured() *Result {
	w, err := workloadByName(s.Workload)
	if err != nil {
		return nil
	}
	if w.MeasuredBy == roleSend {
		return s.Send
	}
	return s.Recv
}

// derive computes the headline numbers from the measuring side's counters.
func derive(s *Sample, w Workload) {
	m := s.measured()
	if s.Error != "" || m == nil || !m.Windowed {
		return
	}
	if m.WindowS <= 0 && w.Kind != kindIdle {
		s.Error = "empty measurement window"
		return
	}
	for _, r := range []*Result{s.Recv, s.Send} {
		if r != nil && r.WindowS > 0 {
			s.Cores += (r.CPUSeconds + r.CPUHelpers) / r.WindowS
		}
	}
	if s.Recv != nil {
		s.RecvGC = s.Recv.GCCycles
	}
	if s.Send != nil {
		s.SendGC = s.Send.GCCycles
	}
	size := w.Size
	switch w.Kind {
	case kindStream, kindFanout:
		s.Gbps = float64(m.Bytes) * 8 / m.WindowS / 1e9
		s.MsgsPerSec = float64(m.Bytes) / float64(size) / m.WindowS
		if m.Lost > 0 {
			s.LossPct = 100 * float64(m.Lost) / float64(m.Lost+m.Msgs)
		}
		s.Value = s.Gbps
		if w.Unit == "M msg/s" {
			s.Value = s.MsgsPerSec / 1e6
		}
		if w.Name == "bulk10s" {
			s.Value = float64(s.RecvGC + s.SendGC)
		}
		if m.Bytes == 0 {
			s.Error = "no bytes verified in the window"
		}
	case kindFanScale:
		deriveFanScale(s, m)
	case kindRTT:
		if m.RTT == nil || m.RTT.Samples == 0 {
			s.Error = "no round trip completed in the window"
			return
		}
		s.P50us, s.P99us = m.RTT.P50us, m.RTT.P99us
		s.Value = s.P50us
	case kindHandshake:
		s.MsgsPerSec = float64(m.Msgs) / m.WindowS
		s.Value = s.MsgsPerSec / 1e3
		if m.Msgs == 0 {
			s.Error = "no handshake completed in the window"
		}
	case kindIdle:
		if m.Idle == nil || m.Idle.Sessions == 0 {
			s.Error = "no idle sessions measured"
			return
		}
		s.Value = m.Idle.HeapPerSession
		s.RSSPerSession = m.Idle.RSSPerSession
	case kindSeal:
		s.Value = float64(m.Bytes) / m.WindowS / 1e9
		s.Gbps = s.Value * 8
	case kindTransfer:
		deriveTransfer(s, m)
	}
}

// summary is the progress line of a sample.
func (s *Sample) summary(w Workload) string {
	if s.Error != "" {
		return "ERROR " + s.Error
	}
	switch w.Kind {
	case kindStream, kindFanout:
		t := fmt.Sprintf("%.3f Gbit/s, %.3f M msg/s", s.Gbps, s.MsgsPerSec/1e6)
		if s.LossPct > 0 {
			t += fmt.Sprintf(", %.2f%% lost", s.LossPct)
		}
		return t + fmt.Sprintf(", GC recv %d send %d, %.2f cores", s.RecvGC, s.SendGC, s.Cores)
	case kindFanScale:
		return fmt.Sprintf("%.0f ns of sender CPU per delivered message, %.3f Gbit/s, GC recv %d send %d", s.SendCPUPerMsgNs, s.Gbps, s.RecvGC, s.SendGC)
	case kindRTT:
		return fmt.Sprintf("p50 %.1f us, p99 %.1f us (%d samples)", s.P50us, s.P99us, s.measured().RTT.Samples)
	case kindHandshake:
		return fmt.Sprintf("%.0f handshakes/s", s.MsgsPerSec)
	case kindIdle:
		return fmt.Sprintf("%.0f B heap, %.0f B RSS per idle session (%d sessions)", s.Value, s.RSSPerSession, s.Recv.Idle.Sessions)
	case kindSeal:
		if w.Name == "open" {
			return fmt.Sprintf("%.3f GB/s opened", s.Value)
		}
		return fmt.Sprintf("%.3f GB/s sealed", s.Value)
	case kindTransfer:
		return transferSummary(s)
	}
	return ""
}

// deriveFanScale computes the fan-out cost from the receiver's count (m) and the sender's CPU
// time over the same window.
func deriveFanScale(s *Sample, m *Result) {
	if m.Msgs == 0 {
		s.Error = "no message verified in the window"
		return
	}
	if s.Send == nil || !s.Send.Windowed {
		s.Error = "the sender reported no window"
		return
	}
	s.Gbps = float64(m.Bytes) * 8 / m.WindowS / 1e9
	s.MsgsPerSec = float64(m.Msgs) / m.WindowS
	s.SendCPUPerMsgNs = s.Send.CPUSeconds * 1e9 / float64(m.Msgs)
	s.Value = s.SendCPUPerMsgNs
}
