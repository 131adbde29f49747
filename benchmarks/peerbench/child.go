package peerbench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Lines of the control protocol between the orchestrator and a child (see the package comment).
const (
	lineReady  = "READY"
	lineMark   = "MARK"
	lineMarked = "MARKED" // a relayed window mark was applied
	lineResult = "RESULT"
	lineStop   = "STOP"
	markStart  = "start"
	markEnd    = "end"
)

// firstDataTimeout bounds the wait for the first unit of work (a connection that never comes up).
const firstDataTimeout = 30 * time.Second

// Result is what one child reports: its counters over the measurement window, plus what only
// that side can tell (latency histogram, memory per idle session, the configuration it ran).
type Result struct {
	Role      string `json:"role"`
	Contender string `json:"contender"`
	Workload  string `json:"workload"`
	Error     string `json:"error,omitempty"`
	// Windowed is false when the child never saw both window marks (then the counters are 0).
	Windowed bool    `json:"windowed"`
	WindowS  float64 `json:"window_s"`
	// Bytes and Msgs are counted in the window: verified at a receiver, written at a sender.
	// Msgs counts events for workloads whose unit is not a byte (pings, handshakes).
	Bytes      uint64 `json:"bytes"`
	Msgs       uint64 `json:"msgs"`
	Lost       uint64 `json:"lost,omitempty"`
	Late       uint64 `json:"late,omitempty"`
	TotalBytes uint64 `json:"total_bytes"`
	GCCycles   uint64 `json:"gc_cycles"`
	// HeapAllocs is the heap objects this process allocated in the window (nil in reports
	// written before it was recorded).
	HeapAllocs *uint64 `json:"heap_allocs,omitempty"`
	CPUSeconds float64 `json:"cpu_s"`
	// CPUHelpers is the CPU time of helper processes (srt-live-transmit) over the window.
	CPUHelpers float64           `json:"cpu_helpers_s,omitempty"`
	RTT        *RTTStats         `json:"rtt,omitempty"`
	Idle       *IdleStats        `json:"idle,omitempty"`
	Transfer   *TransferStats    `json:"transfer,omitempty"`
	Info       map[string]string `json:"info,omitempty"`
}

// IdleStats is the memory one process spends on idle sessions.
type IdleStats struct {
	Sessions          int     `json:"sessions"`
	HeapInuseBefore   uint64  `json:"heap_inuse_before"`
	HeapInuseAfter    uint64  `json:"heap_inuse_after"`
	RSSBefore         uint64  `json:"rss_before"`
	RSSAfter          uint64  `json:"rss_after"`
	HeapPerSession    float64 `json:"heap_per_session"`
	RSSPerSession     float64 `json:"rss_per_session"`
	GoroutinesBefore  int     `json:"goroutines_before"`
	GoroutinesAfter   int     `json:"goroutines_after"`
	EstablishSeconds  float64 `json:"establish_s,omitempty"`
	HandshakesPerSec  float64 `json:"handshakes_per_s,omitempty"`
	MaxSessionsConfig int     `json:"max_sessions_config,omitempty"`
}

// Meter counts the work of one process. The loops add with atomics; the window marks read.
type Meter struct {
	bytes, msgs, lost, late atomic.Uint64
	firstOnce               sync.Once
	first                   chan struct{}
}

// Add counts n bytes and m events, and starts the warm-up clock on the first call.
func (m *Meter) Add(n, msgs int) {
	m.bytes.Add(uint64(n))
	if msgs != 0 {
		m.msgs.Add(uint64(msgs))
	}
	m.firstOnce.Do(func() { close(m.first) })
}

// meterBatchBytes is how many bytes a meterBatch gathers before it adds them to its Meter.
const meterBatchBytes = 4 << 10

// meterBatch counts a loop's bytes into a Meter a batch at a time: one Add (two atomic
// operations) per meterBatchBytes instead of per message. Per message, the harness's counting
// cost the fastest contender about 8 ns of its ~110 ns per 64-byte message in each process
// (profiles/README.md), where a contender taking 1.4 us per message never felt it: a fixed cost
// of the harness, it compressed the ratios between them. At most one batch goes uncounted at a
// window mark, as a message arriving just after the mark would; the first message is counted at
// once, so the warm-up clock starts as before. Not safe for concurrent use: one per loop.
type meterBatch struct {
	m       *Meter
	pending int
	started bool
}

// add counts n bytes.
func (b *meterBatch) add(n int) {
	b.pending += n
	if b.pending >= meterBatchBytes || !b.started {
		b.started = true
		b.flush()
	}
}

// flush adds what is pending to the Meter.
func (b *meterBatch) flush() {
	if b.pending != 0 {
		b.m.Add(b.pending, 0)
		b.pending = 0
	}
}

// SetLoss publishes the loss counters of a datagram verifier (one writer per process).
func (m *Meter) SetLoss(lost, late uint64) {
	m.lost.Store(lost)
	m.late.Store(late)
}

// Env is one child process: its options, its counters and its end of the control protocol.
type Env struct {
	Role string
	O    *Options
	W    Workload
	C    Contender
	P    *Pattern
	M    Meter

	out   io.Writer
	outMu sync.Mutex

	stopC    chan struct{}
	stopOnce sync.Once
	stopped  atomic.Bool
	// stopCtx is cancelled on STOP: blocking accepts and reads use it to return.
	stopCtx    context.Context
	stopCancel context.CancelFunc

	inWindow   atomic.Bool
	windowDone atomic.Bool
	marks      chan string        // marks other than start/end, for workloads that define their own
	markHooks  []func(start bool) // OnMark
	profileMu  sync.Mutex
	profile    *os.File // the window's CPU profile when profileEnv is set (profile.go)
	trace      *os.File // the window's execution trace when traceEnv is set (profile.go)

	mu         sync.Mutex
	res        Result
	start, end *probe
	helpers    []int
	resultOnce sync.Once
}

func newEnv(role string, o *Options, w Workload, c Contender, out io.Writer) *Env {
	allocsInit()
	e := &Env{Role: role, O: o, W: w, C: c, P: NewPattern(), out: out,
		stopC: make(chan struct{}), marks: make(chan string, 8)}
	e.M.first = make(chan struct{})
	e.stopCtx, e.stopCancel = context.WithCancel(context.Background())
	e.res = Result{Role: role, Contender: c.Name(), Workload: w.Name}
	return e
}

// Size is the message size of the run.
func (e *Env) Size() int {
	if e.O.Size > 0 {
		return e.O.Size
	}
	return e.W.Size
}

// Measuring reports whether this process owns the measurement window.
func (e *Env) Measuring() bool { return e.W.MeasuredBy == e.Role }

// emit writes one protocol line to stdout.
func (e *Env) emit(format string, a ...any) {
	e.outMu.Lock()
	defer e.outMu.Unlock()
	fmt.Fprintf(e.out, format+"\n", a...)
}

// Ready announces the addresses the sender must use ("-" when there is none).
func (e *Env) Ready(addrs []string) {
	if len(addrs) == 0 {
		addrs = []string{"-"}
	}
	e.emit("%s %s", lineReady, strings.Join(addrs, ","))
}

// Mark sends a mark of a workload's own to the other process (through the orchestrator).
func (e *Env) Mark(name string) { e.emit("%s %s", lineMark, name) }

// Info records a configuration fact for the report (cipher suite, packet size, offloads).
func (e *Env) Info(k, v string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.res.Info == nil {
		e.res.Info = make(map[string]string)
	}
	e.res.Info[k] = v
}

// SetRTT and SetIdle store the side results of their workloads.
func (e *Env) SetRTT(s *RTTStats) { e.mu.Lock(); e.res.RTT = s; e.mu.Unlock() }

// SetIdle stores the memory per idle session.
func (e *Env) SetIdle(s *IdleStats) { e.mu.Lock(); e.res.Idle = s; e.mu.Unlock() }

// AddHelper makes the window marks include the CPU time of a helper process.
func (e *Env) AddHelper(pid int) { e.mu.Lock(); e.helpers = append(e.helpers, pid); e.mu.Unlock() }

// Stop is closed on STOP (or when the orchestrator's end of stdin closes).
func (e *Env) Stop() <-chan struct{} { return e.stopC }

// Stopped reports whether STOP arrived; send loops check it between writes.
func (e *Env) Stopped() bool { return e.stopped.Load() }

// InWindow reports whether the measurement window is open (the ping loop records only then).
func (e *Env) InWindow() bool { return e.inWindow.Load() }

// WindowDone reports whether the window closed; errors after it are teardown, not failures,
// except content mismatches.
func (e *Env) WindowDone() bool { return e.windowDone.Load() }

func (e *Env) stop() {
	e.stopOnce.Do(func() {
		e.stopped.Store(true)
		close(e.stopC)
		e.stopCancel()
	})
}

func (e *Env) probe() *probe {
	p := &probe{t: time.Now(), bytes: e.M.bytes.Load(), msgs: e.M.msgs.Load(), lost: e.M.lost.Load(),
		late: e.M.late.Load(), cpu: cpuSeconds()}
	p.gc, p.allocs = gcCounters()
	e.mu.Lock()
	for _, pid := range e.helpers {
		p.helpers += procCPUSeconds(pid)
	}
	e.mu.Unlock()
	return p
}

// markStart opens the window. It collects the heap first, as testing.B collects before it
// starts a benchmark's timer: a GC cycle counted in the window is then the window's own
// allocations' doing, not set-up's debt. Without it the WebSocket sender, whose dial allocates a
// second engine's batch buffers (12 MB) after the set-up's last cycle, was left a few MB under
// the pacer's goal and crossed it seconds later, inside 4 of 14 windows, while a window without
// a cycle allocated 0-50 objects (profiles/README.md). Every contender gets the same.
func (e *Env) markStart() {
	runtime.GC()
	e.profileStart()
	p := e.probe()
	e.mu.Lock()
	e.start = p
	hooks := e.markHooks
	e.mu.Unlock()
	runHooks(hooks, true)
	e.inWindow.Store(true)
}

func (e *Env) markEnd() {
	e.inWindow.Store(false)
	p := e.probe()
	e.mu.Lock()
	e.end = p
	hooks := e.markHooks
	e.mu.Unlock()
	runHooks(hooks, false)
	e.windowDone.Store(true)
	e.profileEnd()
}

// OnMark adds f to what runs at the window's start (start true) and end marks, right after the
// generic counters are read: a contender records there what only it can count over the window.
// f must not call back into the mark (it may call Info).
func (e *Env) OnMark(f func(start bool)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.markHooks = append(e.markHooks, f)
}

func runHooks(hooks []func(start bool), start bool) {
	for _, f := range hooks {
		f(start)
	}
}

// readControl applies the orchestrator's lines; EOF means the orchestrator is gone: stop.
func (e *Env) readControl(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 1 && f[0] == lineStop:
			e.stop()
		case len(f) == 2 && f[0] == lineMark && f[1] == markStart:
			e.markStart()
			e.emit("%s %s", lineMarked, markStart)
		case len(f) == 2 && f[0] == lineMark && f[1] == markEnd:
			// Acknowledged so that the orchestrator stops nothing before this side has closed its
			// window too: a peer that goes away afterwards is then teardown, not a failure.
			e.markEnd()
			e.emit("%s %s", lineMarked, markEnd)
		case len(f) == 2 && f[0] == lineMark:
			select {
			case e.marks <- f[1]:
			default:
			}
		}
	}
	e.stop()
}

// measure runs the window on the measuring side: warm-up from the first unit of work, then the
// window, announcing both marks.
func (e *Env) measure() {
	t := time.NewTimer(firstDataTimeout)
	defer t.Stop()
	select {
	case <-e.M.first:
	case <-e.stopC:
		return
	case <-t.C:
		e.fail(fmt.Errorf("nothing arrived within %v", firstDataTimeout))
		return
	}
	if !e.wait(e.O.Warmup) {
		return
	}
	e.markStart()
	e.emit("%s %s", lineMark, markStart)
	if !e.wait(e.O.Duration) {
		return
	}
	e.markEnd()
	e.emit("%s %s", lineMark, markEnd)
}

// wait lets d pass unless STOP comes first.
func (e *Env) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.stopC:
		return false
	}
}

// WaitStop blocks until STOP, for roles whose work ended on its own (the peer closed).
func (e *Env) WaitStop() { <-e.stopC }

// fail reports err at once and exits: the orchestrator voids the sample.
func (e *Env) fail(err error) {
	e.setError(err)
	os.Exit(e.finish(nil))
}

// setError records err as the role's error unless one is already recorded.
func (e *Env) setError(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.res.Error == "" {
		e.res.Error = err.Error()
	}
}

// finish turns the role's outcome into the RESULT line and the exit code. An error after the
// window closed is teardown noise (a peer that closed first) unless it is a content mismatch.
func (e *Env) finish(err error) int {
	if err != nil && (errors.Is(err, errVerify) || !e.WindowDone()) {
		e.setError(err)
	}
	e.emitResult()
	e.killHelpers()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.res.Error != "" {
		return 1
	}
	return 0
}

func (e *Env) emitResult() {
	e.resultOnce.Do(func() {
		e.mu.Lock()
		r := e.res
		if e.start != nil && e.end != nil {
			a, b := e.start, e.end
			r.Windowed = true
			r.WindowS = b.t.Sub(a.t).Seconds()
			r.Bytes, r.Msgs = b.bytes-a.bytes, b.msgs-a.msgs
			r.Lost, r.Late = b.lost-a.lost, b.late-a.late
			r.GCCycles = b.gc - a.gc
			allocs := b.allocs - a.allocs
			r.HeapAllocs = &allocs
			r.CPUSeconds = b.cpu - a.cpu
			r.CPUHelpers = b.helpers - a.helpers
		}
		r.TotalBytes = e.M.bytes.Load()
		e.mu.Unlock()
		j, err := json.Marshal(r)
		if err != nil {
			j = []byte(fmt.Sprintf(`{"error":%q}`, err.Error()))
		}
		e.emit("%s %s", lineResult, j)
	})
}

func (e *Env) killHelpers() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, pid := range e.helpers {
		if p, err := os.FindProcess(pid); err == nil {
			p.Kill()
		}
	}
}
