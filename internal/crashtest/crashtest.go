// Package crashtest runs a server in a child process so that a test can
// kill it with SIGKILL, as a crash or `kill -9` would, at a moment the test
// chooses, start it again on the same data directory, and check through
// real clients what survived.
//
// The child is the test binary itself, run again with -test.run naming
// only the calling test. Start, called near the top of that test, serves in
// the child and never returns there; in the parent it starts the child and
// returns a Process. Whatever the test does before Start runs in both
// processes, so keep it cheap and free of side effects.
//
//	func TestCrash(t *testing.T) {
//		p := crashtest.Start(t, crashtest.Options{Serve: func(c crashtest.Child) (*crashtest.Server, error) {
//			db, err := journal.Open(filepath.Join(c.Dir, "data.db"))
//			…
//			return &crashtest.Server{Handler: svc, Close: func() error { …; return db.Close() }}, nil
//		}})
//		client := newClient(p.Endpoint())
//		… drive load, recording what was acknowledged …
//		p.Kill() // SIGKILL; requests in flight fail
//		p.Restart("")
//		… check, through a client of p.Endpoint(), that everything acknowledged is there …
//	}
//
// The child listens on 127.0.0.1 only, keeps its port across restarts
// when it can (so URLs that embed the endpoint stay valid; check
// Endpoint after a restart all the same), and exits when the parent test
// process goes away. Linux and other Unix systems only.
//
// Two helpers serve model-based crash tests (random operations checked
// against a model while the child is stopped, killed and restarted):
// Budget bounds a run by operations or time (-crash.ops, -crash.duration,
// -crash.seed), and HTTPClient gives SDK clients that never lose an answer
// except to a kill, so that a request without an answer is known to have
// been cut short by one.
package crashtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/ownbody"
)

// childEnv carries a childSpec (JSON) to the re-executed test binary.
const childEnv = "ORDERFLOW_CRASHTEST_CHILD"

// servingPrefix starts the line a child prints on stdout once it serves.
const servingPrefix = "crashtest: serving "

// Child is what the child process builds its server from.
type Child struct {
	// Dir is the data directory: the same one on every start.
	Dir string
	// Endpoint is the base URL the server is reached at,
	// "http://127.0.0.1:PORT"; services that put it in URLs (SQS queue
	// URLs, SNS certificate URLs) need it.
	Endpoint string
	// Starts counts the starts before this one: 0 the first time.
	Starts int
	// Arg is the parent's argument for this start (Options.Arg, then
	// Restart's argument), e.g. the time a fake clock starts at.
	Arg string
}

// Server is what a child serves.
type Server struct {
	// Handler serves every request.
	Handler http.Handler
	// Close, when set, is called on a clean stop (Process.Stop) once the
	// HTTP server has shut down; an error makes the child exit non-zero.
	// A kill never calls it.
	Close func() error
}

// Options configure Start.
type Options struct {
	// Serve builds the server in the child. Required. It runs in the child
	// only, on every start; an error ends the child (and fails Start or
	// Restart in the parent, with the child's output).
	Serve func(c Child) (*Server, error)
	// Dir is the data directory handed to every start. Default: a new
	// t.TempDir().
	Dir string
	// Arg is Child.Arg for the first start.
	Arg string
	// StartTimeout bounds how long a start may take before the child
	// prints that it serves. Default 30 s.
	StartTimeout time.Duration
	// StopTimeout bounds a clean stop; a child that takes longer is killed
	// and Stop reports it. Default 30 s.
	StopTimeout time.Duration
}

// childSpec is what the parent tells a child, through childEnv.
type childSpec struct {
	Test   string `json:"test"`
	Dir    string `json:"dir"`
	Addr   string `json:"addr"`
	Starts int    `json:"starts"`
	Arg    string `json:"arg"`
}

// Process is the parent's handle on the child. Its methods are safe for
// concurrent use: a test may Kill from a timer while its clients run.
type Process struct {
	t    *testing.T
	opts Options

	mu       sync.Mutex
	cmd      *exec.Cmd
	stdin    io.WriteCloser // the child exits when it reads EOF here
	exited   chan struct{}  // closed when the current child has exited
	exitErr  error          // the current child's exit status, once exited
	endpoint string
	addr     string
	starts   int
	kills    int
	output   *tail
}

// Start starts the server in a child process on opts.Dir and returns once
// it serves. In the child itself Start serves and never returns. The
// child is killed when the test ends, if it still runs.
func Start(t *testing.T, opts Options) *Process {
	t.Helper()
	if opts.Serve == nil {
		t.Fatal("crashtest: Options.Serve is required")
	}
	if raw := os.Getenv(childEnv); raw != "" {
		var spec childSpec
		if err := json.Unmarshal([]byte(raw), &spec); err != nil {
			t.Fatalf("crashtest: child: %s: %v", childEnv, err)
		}
		if spec.Test != t.Name() {
			t.Skipf("crashtest: this process is the child of %s", spec.Test)
		}
		serve(opts, spec) // never returns
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 30 * time.Second
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 30 * time.Second
	}
	p := &Process{t: t, opts: opts, output: &tail{max: 64 << 10}}
	t.Cleanup(func() {
		p.mu.Lock()
		running := p.cmd != nil && !isClosed(p.exited)
		p.mu.Unlock()
		if running {
			p.Kill()
		}
		if t.Failed() {
			t.Logf("crashtest: the last lines the child processes wrote:\n%s", p.output)
		}
	})
	if err := p.start(opts.Arg); err != nil {
		t.Fatalf("crashtest: start: %v", err)
	}
	return p
}

// Endpoint is the base URL of the running child, "http://127.0.0.1:PORT".
func (p *Process) Endpoint() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.endpoint
}

// Dir is the data directory.
func (p *Process) Dir() string { return p.opts.Dir }

// Starts counts the starts so far, the first included.
func (p *Process) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

// Kills counts the kills so far.
func (p *Process) Kills() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kills
}

// Kill sends the child SIGKILL and returns once it has exited. Requests in
// flight fail at the client. It reports whether the kill is what ended the
// child: false when it had already exited (a crash of its own shows as
// false, and in the child's output).
func (p *Process) Kill() bool {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	running := cmd != nil && !isClosed(exited)
	if running {
		p.kills++
	}
	p.mu.Unlock()
	if !running {
		return false
	}
	cmd.Process.Signal(syscall.SIGKILL) // exited meanwhile: ESRCH, nothing to do
	<-exited
	p.mu.Lock()
	defer p.mu.Unlock()
	var ee *exec.ExitError
	if errors.As(p.exitErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true
		}
	}
	return false
}

// KillAfter kills the child d from now, from another goroutine, and
// returns a channel that receives Kill's result once the child has exited:
// a test keeps its clients running meanwhile, so that the kill lands among
// their requests.
func (p *Process) KillAfter(d time.Duration) <-chan bool {
	done := make(chan bool, 1)
	time.AfterFunc(d, func() { done <- p.Kill() })
	return done
}

// Stop asks the child to stop cleanly (SIGTERM): it shuts its HTTP server
// down, calls Server.Close and exits. Stop returns once it has exited, and
// an error if it did not exit with status 0 within Options.StopTimeout
// (it is killed then).
func (p *Process) Stop() error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil || isClosed(exited) {
		return errors.New("crashtest: stop: the child is not running")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("crashtest: stop: %w", err)
	}
	select {
	case <-exited:
	case <-time.After(p.opts.StopTimeout):
		p.Kill()
		return fmt.Errorf("crashtest: stop: the child did not exit within %v; killed it", p.opts.StopTimeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitErr != nil {
		return fmt.Errorf("crashtest: stop: the child exited with %v", p.exitErr)
	}
	return nil
}

// Restart starts a new child on the same data directory, with arg as its
// Child.Arg, once the previous one has exited (killed or stopped), and
// returns once it serves. A child that does not come up fails the test.
func (p *Process) Restart(arg string) {
	p.t.Helper()
	p.mu.Lock()
	running := p.cmd != nil && !isClosed(p.exited)
	p.mu.Unlock()
	if running {
		p.t.Fatal("crashtest: restart: the child is still running; Kill or Stop it first")
	}
	if err := p.start(arg); err != nil {
		p.t.Fatalf("crashtest: restart: %v", err)
	}
}

func (p *Process) start(arg string) error {
	p.mu.Lock()
	spec := childSpec{Test: p.t.Name(), Dir: p.opts.Dir, Addr: p.addr, Starts: p.starts, Arg: arg}
	p.mu.Unlock()
	raw, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	cmd := exec.Command(os.Args[0], "-test.run="+runPattern(p.t.Name()), "-test.count=1", "-test.timeout=0")
	cmd.Env = append(os.Environ(), childEnv+"="+string(raw))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = p.output
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	serving := make(chan string, 1)
	go func() {
		lines := bufio.NewScanner(stdout)
		lines.Buffer(make([]byte, 64<<10), 1<<20)
		announced := false
		for lines.Scan() {
			line := lines.Text()
			if u, ok := strings.CutPrefix(line, servingPrefix); ok && !announced {
				announced = true
				serving <- u
				continue
			}
			fmt.Fprintln(p.output, line)
		}
		io.Copy(p.output, stdout)
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.stdin, p.exited = cmd, stdin, exited
	p.starts++
	p.mu.Unlock()
	select {
	case u := <-serving:
		p.mu.Lock()
		p.endpoint = u
		p.addr = strings.TrimPrefix(u, "http://")
		p.mu.Unlock()
		return nil
	case <-exited:
		return fmt.Errorf("the child exited before serving (%v); its output:\n%s", p.exitErr, p.output)
	case <-time.After(p.opts.StartTimeout):
		p.Kill()
		return fmt.Errorf("the child did not serve within %v; its output:\n%s", p.opts.StartTimeout, p.output)
	}
}

// runPattern is a -test.run pattern matching the test named name and
// nothing else (each level anchored; subtest names must not contain "/").
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, s := range parts {
		parts[i] = "^" + regexp.QuoteMeta(s) + "$"
	}
	return strings.Join(parts, "/")
}

// serve is the child: it listens, builds the server, says where it serves
// on stdout, and serves until SIGTERM (a clean stop), SIGKILL, or EOF on
// stdin (the parent is gone).
func serve(opts Options, spec childSpec) {
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "crashtest child: "+format+"\n", args...)
		os.Exit(2)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(3) // the parent is gone: nobody will kill this process
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if spec.Addr != "" {
		if again, err2 := net.Listen("tcp", spec.Addr); err2 == nil {
			ln.Close()
			ln, err = again, nil
		}
	}
	if err != nil {
		fail("listen: %v", err)
	}
	endpoint := "http://" + ln.Addr().String()
	srv, err := opts.Serve(Child{Dir: spec.Dir, Endpoint: endpoint, Starts: spec.Starts, Arg: spec.Arg})
	if err != nil {
		fail("serve: %v", err)
	}
	hs := &http.Server{Handler: srv.Handler, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	fmt.Fprintf(os.Stdout, "%s%s\n", servingPrefix, endpoint)
	select {
	case err := <-served:
		fail("http: %v", err)
	case <-stop:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil {
		fail("shut down: %v", err)
	}
	if srv.Close != nil {
		if err := srv.Close(); err != nil {
			fail("close: %v", err)
		}
	}
	os.Exit(0)
}

func isClosed(c chan struct{}) bool {
	if c == nil {
		return false
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// tail keeps the last max bytes written to it: the children's output, for
// a failing test's log.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *tail) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, b...)
	if over := len(w.b) - w.max; over > 0 {
		w.b = append(w.b[:0], w.b[over:]...)
	}
	return len(b), nil
}

func (w *tail) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}

// Flags of the model-based crash tests, in every test binary that imports
// this package: `go test ./cloud/sqs/ -args -crash.duration=10m`.
var (
	flagOps      = flag.Int("crash.ops", 0, "operations each model-based crash test runs (0: the test's default)")
	flagDuration = flag.Duration("crash.duration", 0, "run each model-based crash test for this long instead of a number of operations")
	flagSeed     = flag.Uint64("crash.seed", 0, "seed of the model-based crash tests' random choices (0: one from the clock, logged)")
)

// Budget bounds a model-based crash test (random operations checked
// against a model, with crashes): a number of operations, or a duration.
type Budget struct {
	// Seed seeds the test's random choices; the test logs it, and
	// -crash.seed repeats a run's choices (not its timing).
	Seed  uint64
	ops   int
	until time.Time
}

// NewBudget returns the budget of a test whose default run is ops
// operations: -crash.ops replaces the number, -crash.duration runs for
// that long instead, -crash.seed fixes the seed. It logs what it chose.
func NewBudget(t testing.TB, ops int) Budget {
	t.Helper()
	b := Budget{Seed: *flagSeed, ops: ops}
	if b.Seed == 0 {
		b.Seed = uint64(time.Now().UnixNano())
	}
	if *flagOps > 0 {
		b.ops = *flagOps
	}
	if *flagDuration > 0 {
		b.until = time.Now().Add(*flagDuration)
		t.Logf("crashtest: running for %v; repeat the choices with -crash.seed=%d", *flagDuration, b.Seed)
	} else {
		t.Logf("crashtest: running %d operations; repeat the choices with -crash.seed=%d", b.ops, b.Seed)
	}
	return b
}

// More reports whether a test that has run done operations goes on.
func (b Budget) More(done int) bool {
	if !b.until.IsZero() {
		return time.Now().Before(b.until)
	}
	return done < b.ops
}

// HTTPClient is an HTTP client for the AWS SDK clients of a crash test:
// each one has its own connections (connections to a killed child are
// useless), and it hands the transport a copy of every request body
// (package ownbody), so that no 200 answer is lost to the SDK's race
// between closing its body and the transport writing it. The SDK retries
// that loss by default, which a crash test cannot allow: a retried request
// may have happened twice, and the test must tell every lost answer from
// a kill.
type HTTPClient struct{ c *http.Client }

// NewHTTPClient returns an HTTPClient with connections of its own.
func NewHTTPClient() *HTTPClient {
	return &HTTPClient{c: &http.Client{Transport: &http.Transport{}, Timeout: time.Minute}}
}

// Do sends req with a copy of its body.
func (h *HTTPClient) Do(req *http.Request) (*http.Response, error) {
	return ownbody.Client{Next: h.c}.Do(req)
}

// Client returns the underlying client, for requests the SDK does not
// make.
func (h *HTTPClient) Client() *http.Client { return h.c }

// SyncMode is a way the data file's journal acknowledges writes: synced
// before every answer (SyncEvery 0, the default) or written before the
// answer and synced in the background every SyncEvery
// (journal.Options.SyncEvery, orderflow up --sync-every).
type SyncMode struct {
	Name      string
	SyncEvery time.Duration
}

// SyncModes are the modes every crash test runs in: a kill -9 loses
// nothing acknowledged in either, since what the background sync leaves
// out is in the kernel's page cache, which outlives the process.
var SyncModes = []SyncMode{
	{Name: "synced before every answer", SyncEvery: 0},
	{Name: "synced every 200ms", SyncEvery: 200 * time.Millisecond},
}

// EachSyncMode runs f as a subtest for each of SyncModes. Start inside f
// runs the child for that subtest alone, so the mode f is given is the
// child's too (the child runs f again up to Start).
func EachSyncMode(t *testing.T, f func(t *testing.T, syncEvery time.Duration)) {
	t.Helper()
	for _, m := range SyncModes {
		t.Run(m.Name, func(t *testing.T) { f(t, m.SyncEvery) })
	}
}
