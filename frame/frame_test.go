package frame

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Fixed handshake values shared by the frame tests and the golden vectors.
var (
	nonceI    = seq32(0x00)
	nonceR    = seq32(0x20)
	nodeI     = [NodeIDSize]byte{0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7}
	nodeR     = [NodeIDSize]byte{0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7}
	resumeID  = [SessionIDSize]byte{0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7}
	pathBytes = [PathDataSize]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77}
)

const (
	tsI = 1700000000000
	tsR = 1700000000123
)

func seq32(start byte) *[NonceSize]byte {
	var n [NonceSize]byte
	for i := range n {
		n[i] = start + byte(i)
	}
	return &n
}

// describe renders the fields that f.Type carries, and only those, so two frames compare
// equal exactly when a receiver could not tell them apart.
func describe(f *Frame) string {
	switch t := f.Type; t {
	case TypePadding:
		return fmt.Sprintf("PADDING n=%d", f.Value)
	case TypeHello:
		return fmt.Sprintf("HELLO version=%d nonce=%x node=%x ts=%d", f.Value, f.Nonce, f.NodeID, f.Timestamp)
	case TypeChallenge:
		return fmt.Sprintf("CHALLENGE nonce=%x node=%x ts=%d", f.Nonce, f.NodeID, f.Timestamp)
	case TypeAuthProof:
		return fmt.Sprintf("AUTH_PROOF nonce=%x ts=%d node=%x resp_nonce=%x resp_ts=%d resp_node=%x",
			f.Nonce, f.Timestamp, f.NodeID, f.RespNonce, f.RespTimestamp, f.RespNodeID)
	case TypeFinal:
		return fmt.Sprintf("FINAL status=%d", f.Code)
	case TypeClock:
		return fmt.Sprintf("CLOCK ts=%d", f.Timestamp)
	case TypeKeyShare:
		return fmt.Sprintf("KEY_SHARE pub=%x", f.Data)
	case TypeFSRequired:
		return "FS_REQUIRED"
	case TypeResume:
		return fmt.Sprintf("RESUME id=%x epoch=%d nonce=%x node=%x ts=%d binder=%x",
			f.Data, f.Value, f.Nonce, f.NodeID, f.Timestamp, f.RespNonce)
	case TypeResumeAccept:
		return fmt.Sprintf("RESUME_ACCEPT epoch=%d nonce=%x node=%x first_pn=%d", f.Value, f.Nonce, f.NodeID, f.Offset)
	case TypeResumeRefused:
		return fmt.Sprintf("RESUME_REFUSED epoch=%d reason=%d", f.Value, f.Code)
	case TypeData:
		return fmt.Sprintf("DATA stream=%d offset=%d data=%q", f.StreamID, f.Offset, f.Data)
	case TypeAck:
		return fmt.Sprintf("ACK largest=%d delay=%d ranges=%v", f.Ack.Largest, f.Ack.Delay, collect(&f.Ack))
	case TypeNack:
		return fmt.Sprintf("NACK ranges=%v", collect(&f.Ack))
	case TypeKeepAlive, TypeKeepAliveAck:
		return fmt.Sprintf("%v token=%d", t, f.Value)
	case TypeMaxData, TypeMaxStreams:
		return fmt.Sprintf("%v max=%d", t, f.Value)
	case TypeKeyUpdate:
		return fmt.Sprintf("KEY_UPDATE generation=%d", f.Value)
	case TypeStreamOpen:
		return fmt.Sprintf("STREAM_OPEN stream=%d", f.StreamID)
	case TypeStreamClose:
		return fmt.Sprintf("STREAM_CLOSE stream=%d code=%d", f.StreamID, f.Code)
	case TypeStreamFin:
		return fmt.Sprintf("STREAM_FIN stream=%d final=%d", f.StreamID, f.Value)
	case TypeStreamSkip:
		return fmt.Sprintf("STREAM_SKIP stream=%d bytes=[%d,%d) messages=%d+%d", f.StreamID, f.Offset, f.Value, f.FirstMessage, f.Messages)
	case TypeStreamKind:
		return fmt.Sprintf("STREAM_KIND stream=%d kind=%d deadline=%dus", f.StreamID, f.Value, f.Deadline)
	case TypeMaxStreamData:
		return fmt.Sprintf("MAX_STREAM_DATA stream=%d max=%d", f.StreamID, f.Value)
	case TypeSessionClose:
		return fmt.Sprintf("SESSION_CLOSE code=%d reason=%q", f.Code, f.Data)
	case TypePathChallenge, TypePathResponse:
		return fmt.Sprintf("%v data=%x", t, f.Data)
	}
	if f.Type.IsApplication() {
		return fmt.Sprintf("%v seq=%d data=%q", f.Type, f.Value, f.Data)
	}
	return fmt.Sprintf("%v data=%q", f.Type, f.Data)
}

func collect(a *Ack) []Range {
	var rs []Range
	it := a.Ranges()
	for r, ok := it.Next(); ok; r, ok = it.Next() {
		rs = append(rs, r)
	}
	return rs
}

type frameCase struct {
	name string // also the name of its line in testdata/golden/frames.txt
	enc  []byte
	want string // describe of the parsed frame
}

// frameCases holds at least one frame of every type; each has a golden line.
var frameCases = []frameCase{
	{"padding/1", AppendPadding(nil, 1), "PADDING n=1"},
	{"padding/4", AppendPadding(nil, 4), "PADDING n=4"},
	{"hello", AppendHello(nil, 1, nonceI, &nodeI, tsI),
		"HELLO version=1 nonce=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f node=a0a1a2a3a4a5a6a7 ts=1700000000000"},
	{"challenge", AppendChallenge(nil, nonceR, &nodeR, tsR),
		"CHALLENGE nonce=202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f node=b0b1b2b3b4b5b6b7 ts=1700000000123"},
	{"auth-proof", AppendAuthProof(nil, nonceI, tsI, &nodeI, nonceR, tsR, &nodeR),
		"AUTH_PROOF nonce=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f ts=1700000000000 node=a0a1a2a3a4a5a6a7 " +
			"resp_nonce=202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f resp_ts=1700000000123 resp_node=b0b1b2b3b4b5b6b7"},
	{"clock", AppendClock(nil, tsR), "CLOCK ts=1700000000123"},
	{"clock/zero", AppendClock(nil, 0), "CLOCK ts=0"},
	{"key-share", AppendKeyShare(nil, seq32(0x40)), "KEY_SHARE pub=404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"},
	{"fs-required", AppendFSRequired(nil), "FS_REQUIRED"},
	{"resume", AppendResume(nil, &resumeID, 1, nonceI, &nodeI, tsI, nonceR),
		"RESUME id=c0c1c2c3c4c5c6c7 epoch=1 nonce=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f node=a0a1a2a3a4a5a6a7 " +
			"ts=1700000000000 binder=202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"},
	{"resume-accept", AppendResumeAccept(nil, 1, nonceR, &nodeR, 70000),
		"RESUME_ACCEPT epoch=1 nonce=202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f node=b0b1b2b3b4b5b6b7 first_pn=70000"},
	{"resume-refused", AppendResumeRefused(nil, 2, 2), "RESUME_REFUSED epoch=2 reason=2"},
	{"final/accepted", AppendFinal(nil, 0), "FINAL status=0"},
	{"final/refused", AppendFinal(nil, 6), "FINAL status=6"},
	{"data/hello", AppendData(nil, 4, 0, []byte("hello")), `DATA stream=4 offset=0 data="hello"`},
	{"data/empty", AppendData(nil, 1, 0, nil), `DATA stream=1 offset=0 data=""`},
	{"data/wide-fields", AppendData(nil, 65, 16384, []byte("hi")), `DATA stream=65 offset=16384 data="hi"`},
	{"data/offset-2^30", AppendData(nil, 0, 1<<30, []byte("x")), `DATA stream=0 offset=1073741824 data="x"`},
	{"data/end-at-max", AppendData(nil, 0, MaxVarint-1, []byte("x")), `DATA stream=0 offset=4611686018427387902 data="x"`},
	{"ack/single", AppendAck(nil, []Range{{100, 100}}, 25, 100), "ACK largest=100 delay=25 ranges=[{100 100}]"},
	{"ack/three", AppendAck(nil, []Range{{95, 100}, {80, 90}, {10, 10}}, 1000, 100),
		"ACK largest=100 delay=1000 ranges=[{95 100} {80 90} {10 10}]"},
	{"ack/to-zero", AppendAck(nil, []Range{{5, 10}, {0, 0}}, 0, 100), "ACK largest=10 delay=0 ranges=[{5 10} {0 0}]"},
	{"nack/two", AppendNack(nil, []Range{{5, 5}, {7, 9}}), "NACK ranges=[{5 5} {7 9}]"},
	{"keep-alive", AppendKeepAlive(nil, 0x1234), "KEEP_ALIVE token=4660"},
	{"keep-alive-ack", AppendKeepAliveAck(nil, 0x1234), "KEEP_ALIVE_ACK token=4660"},
	{"stream-open", AppendStreamOpen(nil, 8), "STREAM_OPEN stream=8"},
	{"stream-close", AppendStreamClose(nil, 3, 0x100), "STREAM_CLOSE stream=3 code=256"},
	{"stream-fin", AppendStreamFin(nil, 4, 1000000), "STREAM_FIN stream=4 final=1000000"},
	{"stream-skip", AppendStreamSkip(nil, 4, 100, 300, 7, 2), "STREAM_SKIP stream=4 bytes=[100,300) messages=7+2"},
	{"stream-skip/one-byte", AppendStreamSkip(nil, 1, 0, 1, 0, 1), "STREAM_SKIP stream=1 bytes=[0,1) messages=0+1"},
	{"stream-kind", AppendStreamKind(nil, 2, StreamKindProbabilistic, 50000), "STREAM_KIND stream=2 kind=1 deadline=50000us"},
	{"session-close", AppendSessionClose(nil, 1, []byte("bye")), `SESSION_CLOSE code=1 reason="bye"`},
	{"session-close/empty", AppendSessionClose(nil, 0, nil), `SESSION_CLOSE code=0 reason=""`},
	{"max-data", AppendMaxData(nil, 4<<20), "MAX_DATA max=4194304"},
	{"max-stream-data", AppendMaxStreamData(nil, 2, 1<<20), "MAX_STREAM_DATA stream=2 max=1048576"},
	{"max-streams", AppendMaxStreams(nil, 256), "MAX_STREAMS max=256"},
	{"max-data/63", AppendMaxData(nil, 63), "MAX_DATA max=63"},
	{"max-data/64", AppendMaxData(nil, 64), "MAX_DATA max=64"},
	{"max-data/16383", AppendMaxData(nil, 16383), "MAX_DATA max=16383"},
	{"max-data/16384", AppendMaxData(nil, 16384), "MAX_DATA max=16384"},
	{"max-data/2^30-1", AppendMaxData(nil, 1<<30-1), "MAX_DATA max=1073741823"},
	{"max-data/2^30", AppendMaxData(nil, 1<<30), "MAX_DATA max=1073741824"},
	{"max-data/2^62-1", AppendMaxData(nil, MaxVarint), "MAX_DATA max=4611686018427387903"},
	{"key-update", AppendKeyUpdate(nil, 1), "KEY_UPDATE generation=1"},
	{"path-challenge", AppendPathChallenge(nil, &pathBytes), "PATH_CHALLENGE data=0011223344556677"},
	{"path-response", AppendPathResponse(nil, &pathBytes), "PATH_RESPONSE data=0011223344556677"},
	{"app/80", AppendApplication(nil, 0x80, 1, []byte("abc")), `APPLICATION(0x80) seq=1 data="abc"`},
	{"app/ff-empty", AppendApplication(nil, 0xff, 0, nil), `APPLICATION(0xff) seq=0 data=""`},
}

func TestFrameCasesCoverEveryType(t *testing.T) {
	seen := map[Type]bool{}
	for _, c := range frameCases {
		seen[Type(c.enc[0])] = true
	}
	for typ := range Type(TypeAppMin) {
		if typeNames[typ] != "" && !seen[typ] {
			t.Errorf("no frame case of type %v", typ)
		}
	}
}

func TestFrameRoundTrip(t *testing.T) {
	for _, c := range frameCases {
		t.Run(c.name, func(t *testing.T) {
			var f Frame
			n, err := ParseFrame(c.enc, &f)
			if err != nil || n != len(c.enc) {
				t.Fatalf("ParseFrame(%x) = %d, %v; want %d, nil", c.enc, n, err, len(c.enc))
			}
			if got := describe(&f); got != c.want {
				t.Errorf("parsed\n got %s\nwant %s", got, c.want)
			}
			if re := AppendFrame(nil, &f); !bytes.Equal(re, c.enc) {
				t.Errorf("AppendFrame = %x, want %x", re, c.enc)
			}
		})
	}
}

// Every proper prefix of a frame is refused as truncated, without a panic: frames are
// prefix-free, except that a shorter run of PADDING is still PADDING.
func TestFrameTruncatedAtEveryByte(t *testing.T) {
	for _, c := range frameCases {
		if c.enc[0] == byte(TypePadding) {
			continue
		}
		for k := range len(c.enc) {
			var f Frame
			n, err := ParseFrame(c.enc[:k], &f)
			if !errors.Is(err, ErrTruncated) || n != 0 {
				t.Errorf("%s: ParseFrame(first %d of %d bytes) = %d, %v; want ErrTruncated", c.name, k, len(c.enc), n, err)
			}
		}
	}
}

// Views returned by the parser must not let an append overwrite the next frame.
func TestFrameViewsAreClipped(t *testing.T) {
	body := AppendData(nil, 1, 0, []byte("ab"))
	body = AppendMaxData(body, 7)
	var f Frame
	if _, err := ParseFrame(body, &f); err != nil {
		t.Fatal(err)
	}
	_ = append(f.Data, 'X')
	if _, err := ParseFrame(body[len(body)-2:], &f); err != nil || f.Type != TypeMaxData || f.Value != 7 {
		t.Fatalf("frame after DATA changed by append to the view: %v %v", f.Type, err)
	}
}

func TestFrameErrors(t *testing.T) {
	long := make([]byte, MaxPacketSize+1)
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"unknown 0x15", []byte{0x15}, ErrUnknownFrame},
		{"unknown 0x62", []byte{0x62, 0, 0, 0, 0, 0, 0, 0, 0}, ErrUnknownFrame},
		{"data length MaxPacketSize+1", AppendVarint([]byte{0x10, 0, 0}, MaxPacketSize+1), ErrOversize},
		{"data length MaxPacketSize, short", AppendVarint([]byte{0x10, 0, 0}, MaxPacketSize), ErrTruncated},
		{"data length MaxPacketSize+1 present", append(AppendVarint([]byte{0x10, 0, 0}, MaxPacketSize+1), long...), ErrOversize},
		{"data offset non-minimal", []byte{0x10, 0, 0x40, 0x01, 0}, ErrBadVarint},
		{"data length 2^62-1", AppendVarint([]byte{0x10, 0, 0}, MaxVarint), ErrOversize},
		{"app length MaxPacketSize+1", AppendVarint([]byte{0x90, 0x00}, MaxPacketSize+1), ErrOversize},
		{"reason MaxReasonLen+1", append(AppendVarint([]byte{0x30, 0}, MaxReasonLen+1), long[:MaxReasonLen+1]...), ErrOversize},
		{"ack count MaxAckRanges+1", AppendVarint([]byte{0x11, 10, 0}, MaxAckRanges+1), ErrBadAck},
		{"ack count huge", AppendVarint([]byte{0x11, 10, 0}, MaxVarint), ErrBadAck},
		{"ack truncated before count", []byte{0x11, 10, 0}, ErrTruncated},
		{"ack bad range then truncated", []byte{0x11, 10, 0, 2, 5, 4, 0}, ErrBadAck},
		{"ack first range non-minimal", []byte{0x11, 10, 0, 0, 0x40, 0x05}, ErrBadVarint},
		{"nack count huge", AppendVarint([]byte{0x12}, MaxVarint), ErrBadAck},
		{"nack truncated pair", []byte{0x12, 2, 5, 1, 7}, ErrTruncated},
		{"nack second count zero", []byte{0x12, 2, 5, 1, 7, 0}, ErrBadAck},
		{"hello bad version varint", []byte{0x01, 0x40, 0x01}, ErrBadVarint},
		{"auth proof missing responder", AppendAuthProof(nil, nonceI, tsI, &nodeI, nonceR, tsR, &nodeR)[:1+32+8+8], ErrTruncated},
		{"path 7 bytes", []byte{0x61, 1, 2, 3, 4, 5, 6, 7}, ErrTruncated},
	}
	for _, tt := range tests {
		var f Frame
		n, err := ParseFrame(tt.b, &f)
		if !errors.Is(err, tt.want) || n != 0 {
			t.Errorf("%s: ParseFrame = %d, %v; want %v", tt.name, n, err, tt.want)
		}
	}
}

func TestNackLimits(t *testing.T) {
	ranges := make([]Range, MaxNackRanges+5)
	for i := range ranges {
		ranges[i] = Range{uint64(10 * i), uint64(10*i + 2)}
	}
	enc := AppendNack(nil, ranges)
	var f Frame
	if _, err := ParseFrame(enc, &f); err != nil {
		t.Fatal(err)
	}
	if got := collect(&f.Ack); len(got) != MaxNackRanges || got[MaxNackRanges-1] != ranges[MaxNackRanges-1] {
		t.Errorf("NACK kept %d ranges, last %v; want the first %d", len(got), got[len(got)-1], MaxNackRanges)
	}
	if got := AppendNack([]byte{1}, nil); !bytes.Equal(got, []byte{1}) {
		t.Errorf("AppendNack with no ranges appended %x", got[1:])
	}
	top := AppendNack(nil, []Range{{MaxVarint, MaxVarint}})
	if _, err := ParseFrame(top, &f); err != nil || collect(&f.Ack)[0] != (Range{MaxVarint, MaxVarint}) {
		t.Errorf("NACK of packet 2^62-1: %v %v", err, collect(&f.Ack))
	}
}

func TestSessionCloseReasonCut(t *testing.T) {
	ascii := bytes.Repeat([]byte("a"), MaxReasonLen+10)
	// "é" is 2 bytes: 255 ASCII bytes then "é" puts a character across the limit.
	split := append(bytes.Repeat([]byte("a"), MaxReasonLen-1), "éé"...)
	for _, tt := range []struct {
		name   string
		reason []byte
		want   int
	}{
		{"ascii", ascii, MaxReasonLen},
		{"utf8 across limit", split, MaxReasonLen - 1},
		{"exact", ascii[:MaxReasonLen], MaxReasonLen},
	} {
		var f Frame
		if _, err := ParseFrame(AppendSessionClose(nil, 9, tt.reason), &f); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(f.Data) != tt.want || !bytes.Equal(f.Data, tt.reason[:tt.want]) {
			t.Errorf("%s: reason cut to %d bytes, want %d", tt.name, len(f.Data), tt.want)
		}
	}
}

func TestDataCapacity(t *testing.T) {
	for _, id := range []uint64{0, 64, 1 << 20} {
		for _, off := range []uint64{0, 100, 1 << 40} {
			for room := 0; room < 20000; room += 1 + room/50 {
				n := DataCapacity(id, off, room)
				if n > 0 && DataHeaderLen(id, off, n)+n > room {
					t.Fatalf("DataCapacity(%d, %d, %d) = %d overflows", id, off, room, n)
				}
				if DataHeaderLen(id, off, n+1)+n+1 <= room {
					t.Fatalf("DataCapacity(%d, %d, %d) = %d, one more byte fits", id, off, room, n)
				}
				if n > 0 {
					if got := len(AppendData(nil, id, off, make([]byte, n))); got != DataHeaderLen(id, off, n)+n {
						t.Fatalf("DataHeaderLen(%d, %d, %d) wrong: frame is %d bytes", id, off, n, got)
					}
				}
			}
		}
	}
}

func TestWalker(t *testing.T) {
	var body []byte
	var want []string
	for _, c := range frameCases {
		if c.enc[0] == byte(TypePadding) {
			continue // consecutive padding cases would merge into one run
		}
		body = append(body, c.enc...)
		want = append(want, c.want)
	}
	body = AppendPadding(body, 30)
	want = append(want, "PADDING n=30")

	var w Walker
	var f Frame
	w.Reset(body)
	var got []string
	for {
		ok, err := w.Next(&f)
		if err != nil {
			t.Fatalf("Next after %d frames: %v", len(got), err)
		}
		if !ok {
			break
		}
		got = append(got, describe(&f))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("walk\n got %q\nwant %q", got, want)
	}
	if w.Offset() != len(body) {
		t.Errorf("Offset = %d, want %d", w.Offset(), len(body))
	}

	// A malformed frame stops the walk for good and reports where it starts.
	bad := append(AppendMaxData(nil, 5), 0x09, 0x13, 0x01)
	w.Reset(bad)
	if ok, err := w.Next(&f); !ok || err != nil {
		t.Fatalf("first frame: %v %v", ok, err)
	}
	for range 2 {
		if ok, err := w.Next(&f); ok || !errors.Is(err, ErrUnknownFrame) {
			t.Fatalf("after bad frame: %v %v, want ErrUnknownFrame", ok, err)
		}
	}
	if w.Offset() != 2 {
		t.Errorf("Offset at error = %d, want 2", w.Offset())
	}
	w.Reset(nil)
	if ok, err := w.Next(&f); ok || err != nil {
		t.Errorf("empty body: %v %v", ok, err)
	}
}

func TestTypes(t *testing.T) {
	for _, tt := range []struct {
		t         Type
		name      string
		eliciting bool
		app       bool
	}{
		{TypePadding, "PADDING", false, false},
		{TypeAck, "ACK", false, false},
		{TypeNack, "NACK", false, false},
		{TypeData, "DATA", true, false},
		{TypeHello, "HELLO", true, false},
		{TypeMaxStreamData, "MAX_STREAM_DATA", true, false},
		{TypePathResponse, "PATH_RESPONSE", true, false},
		{TypeClock, "CLOCK", true, false},
		{0x09, "UNKNOWN(0x09)", true, false},
		{0x80, "APPLICATION(0x80)", true, true},
		{0xfe, "APPLICATION(0xfe)", true, true},
	} {
		if tt.t.String() != tt.name || tt.t.AckEliciting() != tt.eliciting || tt.t.IsApplication() != tt.app {
			t.Errorf("%#x: %q eliciting=%v app=%v; want %q %v %v", uint8(tt.t), tt.t.String(),
				tt.t.AckEliciting(), tt.t.IsApplication(), tt.name, tt.eliciting, tt.app)
		}
	}
	if KindHandshake.String() != "handshake" || KindProtected.String() != "protected" || Kind(7).String() != "kind(0x07)" {
		t.Errorf("Kind names: %v %v %v", KindHandshake, KindProtected, Kind(7))
	}
}

func TestEncoderPanics(t *testing.T) {
	for name, fn := range map[string]func(){
		"varint above max":      func() { AppendVarint(nil, MaxVarint+1) },
		"put varint above max":  func() { PutVarint(make([]byte, 8), 1<<63) },
		"data end above max":    func() { AppendData(nil, 0, MaxVarint, []byte("x")) },
		"app type below 0x80":   func() { AppendApplication(nil, TypeData, 0, nil) },
		"ack not descending":    func() { AppendAck(nil, []Range{{5, 10}, {9, 20}}, 0, 100) },
		"ack adjacent":          func() { AppendAck(nil, []Range{{5, 10}, {1, 4}}, 0, 100) },
		"ack lo above hi":       func() { AppendAck(nil, []Range{{10, 5}}, 0, 100) },
		"nack lo above hi":      func() { AppendNack(nil, []Range{{10, 5}}) },
		"frame unknown type":    func() { AppendFrame(nil, &Frame{Type: 0x09}) },
		"frame ack not parsed":  func() { AppendFrame(nil, &Frame{Type: TypeAck}) },
		"frame short nonce":     func() { AppendFrame(nil, &Frame{Type: TypeChallenge, Nonce: []byte{1}}) },
		"frame short path data": func() { AppendFrame(nil, &Frame{Type: TypePathChallenge}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			fn()
		}()
	}
}
