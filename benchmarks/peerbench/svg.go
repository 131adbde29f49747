package peerbench

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// The chart: goodput by message size, one bar per contender in each size group, on a log scale
// (the contenders span three orders of magnitude at 64 bytes), with min-max whiskers over the
// rounds. Drawn from the samples, with no tool but this file.

var chartColors = map[string]string{
	"sttfast":       "#1f5fa8",
	"sttfast-9000":  "#8fb5e0",
	"sttfast-ws":    "#6a3d9a",
	"sttfast-batch": "#17becf",
	"quic-go":       "#e07b1f",
	"kcp-go":        "#3a9a3a",
	"srt":           "#c23b3b",
	"udp-ceiling":   "#9a9a9a",
	"tcp-ceiling":   "#5a5a5a",
}

type chartGroup struct {
	workload, label string
}

var chartGroups = []chartGroup{{"msg64", "64 B messages"}, {"msg1200", "1200 B messages"}, {"bulk", "64 KiB writes"}}

func writeSVG(w io.Writer, rep *runReport, title string) error {
	var names []string
	for _, c := range rep.contenders {
		if _, ok := chartColors[c.Name()]; ok {
			names = append(names, c.Name())
		}
	}
	type bar struct {
		st  stat
		ok  bool
		col string
	}
	bars := make([][]bar, len(chartGroups))
	lo, hi := math.Inf(1), 0.0
	for gi, g := range chartGroups {
		for _, n := range names {
			ok, _ := collect(rep.Samples, g.workload, n)
			st := summarize(ok, func(s *Sample) float64 { return s.Gbps })
			b := bar{st: st, ok: st.N > 0 && st.Med > 0, col: chartColors[n]}
			if b.ok {
				lo, hi = math.Min(lo, st.Min), math.Max(hi, st.Max)
			}
			bars[gi] = append(bars[gi], b)
		}
	}
	if hi == 0 {
		lo, hi = 0.1, 1
	}
	// Decades from below the smallest value to above the largest.
	dlo, dhi := math.Floor(math.Log10(math.Max(lo, 1e-4))), math.Ceil(math.Log10(hi))
	if dhi <= dlo {
		dhi = dlo + 1
	}
	const (
		width, height          = 960.0, 560.0
		left, right, top, base = 80.0, 190.0, 60.0, 440.0
	)
	plotW := width - left - right
	y := func(v float64) float64 {
		v = math.Max(v, math.Pow(10, dlo))
		return base - (math.Log10(v)-dlo)/(dhi-dlo)*(base-top)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	if rep.Quick {
		title += " (QUICK RUN: smoke test, not a measurement)"
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="28" font-size="16" font-weight="bold">%s</text>`+"\n", left, esc(title))
	fmt.Fprintf(&b, `<text x="%.0f" y="46" fill="#555">goodput verified at the receiver, Gbit/s (log scale); bars: median, whiskers: min-max over the rounds</text>`+"\n", left)
	for d := dlo; d <= dhi; d++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, d)
			if math.Log10(v) > dhi+1e-9 {
				break
			}
			yy := y(v)
			stroke, dash := "#ccc", ` stroke-dasharray="2,3"`
			if m == 1 {
				stroke, dash = "#999", ""
			}
			fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="%s"%s/>`+"\n", left, yy, left+plotW, yy, stroke, dash)
			fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end" fill="#333">%s</text>`+"\n", left-6, yy+4, trimFloat(v))
		}
	}
	fmt.Fprintf(&b, `<text transform="translate(22 %.0f) rotate(-90)" text-anchor="middle">Gbit/s</text>`+"\n", (top+base)/2)
	groupW := plotW / float64(len(chartGroups))
	barW := math.Min(40, (groupW-30)/math.Max(1, float64(len(names))))
	for gi, g := range chartGroups {
		gx := left + float64(gi)*groupW + (groupW-barW*float64(len(names)))/2
		for bi, br := range bars[gi] {
			if !br.ok {
				continue
			}
			x := gx + float64(bi)*barW
			top := y(br.st.Med)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x+2, top, barW-4, base-top, br.col)
			cx := x + barW/2
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", cx, y(br.st.Min), cx, y(br.st.Max))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%s</text>`+"\n", cx, math.Min(top, y(br.st.Max))-4, trimFloat(round3(br.st.Med)))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n", left+float64(gi)*groupW+groupW/2, base+22, esc(g.label))
	}
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", left, base, left+plotW, base)
	for i, n := range names {
		ly := top + float64(i)*22
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="14" height="14" fill="%s"/>`+"\n", width-right+20, ly, chartColors[n])
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s</text>`+"\n", width-right+40, ly+12, esc(n))
	}
	for i, note := range []string{
		"udp-ceiling: 1200-byte datagrams at every message size, no crypto, no reliability (the packet path's limit, not a peer)",
		"sttfast-9000: 9000-byte packets, loopback only (not a headline); srt: live mode, input paced to what it carries",
	} {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" fill="#555" font-size="11">%s</text>`+"\n", left, height-56+float64(i)*18, esc(note))
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" fill="#555" font-size="11">%s</text>`+"\n", left, height-20,
		esc(fmt.Sprintf("%s, %d cores, %s, %s; %s", rep.Machine.CPU, rep.Machine.Cores, rep.Machine.Kernel, rep.Machine.Go, rep.Started.Format("2006-01-02 15:04 UTC"))))
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

func round3(v float64) float64 {
	if v == 0 {
		return 0
	}
	p := math.Pow(10, 2-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.4f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}
