
// TestBenchRelayFeed: bench --relay-feed runs the 30 frames/s feed through the in-process relay
// both ways, reports both subscribers of both runs and draws the SVG.
func TestBenchRelayFeed(t *testing.T) {
	svg := t.TempDir() + "/feed.svg"
	b := startProc(t, "bench", nil, nil, "bench", "--relay-feed", "--loss", "0.05", "--delay", "1ms",
		"--deadline", "500ms", "--duration", "1s", "--cc", "bbr", "--svg", svg)
	b.expectExit(0)
	out, err := os.ReadFile(b.out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"probabilistic subscriber 1:", "probabilistic subscriber 2:", "reliable      subscriber 1:", "reliable      subscriber 2:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if plot, err := os.ReadFile(svg); err != nil || !strings.Contains(string(plot), "<polyline") {
		t.Errorf("svg: %v, %d bytes", err, len(plot))
	}
}
