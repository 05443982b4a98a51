package lambda

import (
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// DefaultInitTimeout is how long a bootstrap has to call /next after it
// starts: Lambda's limit on a function's init phase.
const DefaultInitTimeout = 10 * time.Second

// Credentials are the keys a function's process signs its SDK calls with.
type Credentials struct {
	AccessKeyID, SecretAccessKey string
}

// zipRuntimes are the runtimes whose zip the host can run: a bootstrap
// executable speaking the Runtime API.
var zipRuntimes = map[string]bool{"provided.al2023": true, "provided.al2": true, "provided": true}

// hostArch is this machine's architecture in Lambda's words.
func hostArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	default:
		return runtime.GOARCH
	}
}

// qemuName is the user-mode emulator of Lambda's architecture arch.
func qemuName(arch string) string {
	if arch == "arm64" {
		return "qemu-aarch64-static"
	}
	return "qemu-" + arch + "-static"
}

// elfArch is the Lambda architecture of an ELF executable ("" for a
// script, or a machine Lambda does not run).
func elfArch(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	switch f.Machine {
	case elf.EM_X86_64:
		return "x86_64"
	case elf.EM_AARCH64:
		return "arm64"
	}
	return ""
}

// RegisterZip binds a function name to a zip holding its bootstrap (the
// provided.al2023 runtime's artefact, as `make zip` builds it): a template's
// or CreateFunction's function of that name then runs it as child
// processes speaking the Lambda Runtime API. The zip is checked and
// unpacked when the function is created. It replaces a Go handler
// registered under the same name.
func (h *Host) RegisterZip(name string, zip []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.factories, name)
	h.zips[name] = zip
}

// procFunction runs a function's bootstrap: a pool of warm sandboxes, one
// per invocation running at once, each reused until it fails.
type procFunction struct {
	h        *Host
	cfg      Config
	spec     Function
	dir      string // the unpacked zip (LAMBDA_TASK_ROOT)
	argv     []string
	emulated string // how the architecture is emulated, "" when native

	mu      sync.Mutex
	idle    []*sandbox
	all     map[*sandbox]struct{}
	closed  bool
	retired bool // closed by an update or a delete, not by Host.Close
	dirGone bool // a retired function's code, removed
}

// newProcFunction unpacks the zip and checks that the host can run it.
func (h *Host) newProcFunction(cfg Config, spec Function, zip []byte) (*procFunction, error) {
	if !zipRuntimes[spec.Runtime] {
		return nil, fmt.Errorf("lambda: function %s's runtime %q cannot run here: the host runs zips of the provided.al2023 and provided.al2 runtimes (a bootstrap executable); register an in-process Go handler for it instead", spec.Name, spec.Runtime)
	}
	arch := "x86_64"
	switch len(spec.Architectures) {
	case 0:
	case 1:
		arch = spec.Architectures[0]
	default:
		return nil, fmt.Errorf("lambda: function %s has %d Architectures; Lambda takes exactly one (x86_64 or arm64)", spec.Name, len(spec.Architectures))
	}
	if arch != "x86_64" && arch != "arm64" {
		return nil, fmt.Errorf("lambda: function %s's architecture %q is not x86_64 or arm64", spec.Name, arch)
	}
	dir, err := os.MkdirTemp("", "orderflow-lambda-"+spec.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("lambda: function %s: %w", spec.Name, err)
	}
	fail := func(err error) (*procFunction, error) {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("lambda: function %s: %w", spec.Name, err)
	}
	if err := unpack(zip, dir, h.opts.MaxUnpackedBytes); err != nil {
		return fail(err)
	}
	bootstrap := filepath.Join(dir, "bootstrap")
	p := &procFunction{h: h, cfg: cfg, spec: spec, dir: dir, argv: []string{bootstrap}, all: map[*sandbox]struct{}{}}
	host := hostArch()
	if built := elfArch(bootstrap); built != "" && built != arch {
		// A build for this machine, where nothing could run one for the
		// declared architecture, is what orderflow deploy makes without
		// qemu-user: it runs natively, and its REPORT lines say so.
		if _, err := h.opts.Emulator(arch); built != host || err == nil {
			return fail(fmt.Errorf("its bootstrap is built for %s but its Architectures says %s: build it for %s, or declare %s", built, arch, arch, built))
		}
		p.emulated = fmt.Sprintf("none, built for %s, not the declared %s (no %s here)", host, arch, qemuName(arch))
		return p, nil
	}
	if arch != host {
		emu, err := h.opts.Emulator(arch)
		if err != nil || emu == "" {
			return fail(fmt.Errorf("it is built for %s and this host is %s, with no %s on PATH to emulate it: install qemu-user-static (apt-get install qemu-user-static), or build the function for %s",
				arch, host, qemuName(arch), host))
		}
		p.argv = []string{emu, bootstrap}
		p.emulated = fmt.Sprintf("%s on %s (%s)", arch, host, filepath.Base(emu))
	}
	return p, nil
}

// handle is the function's Handler: it runs one batch in a sandbox.
func (p *procFunction) handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	payload, err := json.Marshal(ev)
	if err != nil {
		return resp, fmt.Errorf("lambda: encode the event: %w", err)
	}
	body, err := p.invoke(ctx, payload)
	if err != nil {
		return resp, err
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return resp, &FunctionError{Type: "Runtime.InvalidResponse", Message: fmt.Sprintf("the function's response is not an SQS batch response: %v", err)}
	}
	return resp, nil
}

// invoke runs one event in a sandbox and returns the function's response
// as it gave it: what Lambda's Invoke returns, whatever the event's shape.
func (p *procFunction) invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var err error
	inv := &invocation{id: awsproto.NewRequestID(), arn: p.cfg.ARN, payload: payload, result: make(chan invokeResult, 1)}
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		inv.id = lc.AwsRequestID
	}
	inv.deadline, _ = ctx.Deadline()
	if inv.deadline.IsZero() {
		inv.deadline = time.Now().Add(time.Duration(p.cfg.TimeoutSec) * time.Second)
	}
	notes := reportNotesFrom(ctx)
	s, _ := ctx.Value(sandboxKey{}).(*sandbox)
	if s == nil {
		if s, err = p.acquire(ctx); err != nil {
			return nil, err
		}
	}
	if s.initDur > 0 && notes != nil {
		notes.set(func(n *reportNotes) { n.initDuration = s.initDur })
	}
	s.initDur = 0 // reported on the cold start only
	s.invokes <- inv
	var res invokeResult
	select {
	case res = <-inv.result:
	case <-s.exited:
		select { // the answer may have come just before the exit
		case res = <-inv.result:
		default:
			res.err = s.exitError(inv.id)
		}
	case <-ctx.Done():
		p.note(notes, s)
		p.discard(s)
		return nil, fmt.Errorf("lambda: function %s: %w", p.cfg.Name, ctx.Err())
	}
	p.note(notes, s)
	if s.dead() {
		p.discard(s)
	} else {
		p.release(s)
	}
	if res.err != nil {
		return nil, res.err
	}
	return res.body, nil
}

// note records the sandbox's peak memory and emulation for the REPORT line.
func (p *procFunction) note(notes *reportNotes, s *sandbox) {
	if notes == nil {
		return
	}
	mb := s.peakRSS()
	notes.set(func(n *reportNotes) {
		if mb > 0 {
			n.maxMemoryMB = mb
		}
		n.emulation = p.emulated
	})
}

// acquire takes a warm sandbox, or starts one (a cold start).
func (p *procFunction) acquire(ctx context.Context) (*sandbox, error) {
	p.mu.Lock()
	for len(p.idle) > 0 {
		s := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if !s.dead() {
			p.mu.Unlock()
			return s, nil
		}
		delete(p.all, s)
		go s.kill()
	}
	if p.closed {
		p.mu.Unlock()
		return nil, p.closedError()
	}
	p.mu.Unlock()
	return p.start(ctx)
}

func (p *procFunction) release(s *sandbox) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		delete(p.all, s)
		go s.kill()
		p.removeDirIfDone()
		return
	}
	p.idle = append(p.idle, s)
}

// retire drains the function, as an update or a delete does: it starts no
// sandbox again and kills the idle ones at once; a busy one finishes its
// invocation and is killed when released (Host.Close kills any left).
func (p *procFunction) retire() {
	p.mu.Lock()
	p.closed, p.retired = true, true
	idle := p.idle
	p.idle = nil
	for _, s := range idle {
		delete(p.all, s)
	}
	p.removeDirIfDone()
	p.mu.Unlock()
	for _, s := range idle {
		s.kill()
	}
}

// errRetired refuses an invocation that reached a function just as an
// update or a delete replaced it.
var errRetired = errors.New("lambda: the function was updated or deleted as the invocation began: invoke it again")

// closedError is why a closed function starts nothing; p.mu is held.
func (p *procFunction) closedError() error {
	if p.retired {
		return errRetired
	}
	return errClosed
}

// drained says a retired function has no sandbox left.
func (p *procFunction) drained() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dirGone
}

// removeDirIfDone removes a retired function's code once no sandbox runs
// it. p.mu is held.
func (p *procFunction) removeDirIfDone() {
	if p.closed && len(p.all) == 0 && !p.dirGone {
		os.RemoveAll(p.dir)
		p.dirGone = true
	}
}

// discard kills a sandbox that timed out or crashed; the next invocation
// starts a fresh one.
func (p *procFunction) discard(s *sandbox) {
	s.kill()
	p.mu.Lock()
	delete(p.all, s)
	p.removeDirIfDone()
	p.mu.Unlock()
}

// Pids returns the process ids of the function's running sandboxes.
func (p *procFunction) pids() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for s := range p.all {
		out = append(out, s.cmd.Process.Pid)
	}
	return out
}

// env is the sandbox's whole environment: the function's variables, then
// Lambda's reserved ones, which the function cannot override.
func (p *procFunction) env(runtimeAPI string) []string {
	var env []string
	for k, v := range p.cfg.Environment {
		env = append(env, k+"="+v)
	}
	o := p.h.opts
	group := p.cfg.LogGroup
	if group == "" {
		group = "/aws/lambda/" + p.cfg.Name
	}
	env = append(env,
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"LANG=en_US.UTF-8",
		"TZ=:UTC",
		"LAMBDA_TASK_ROOT="+p.dir,
		"LAMBDA_RUNTIME_DIR="+p.dir,
		"_HANDLER="+p.spec.Handler,
		"AWS_EXECUTION_ENV=AWS_Lambda_"+p.spec.Runtime,
		"AWS_LAMBDA_RUNTIME_API="+runtimeAPI,
		"AWS_LAMBDA_FUNCTION_NAME="+p.cfg.Name,
		"AWS_LAMBDA_FUNCTION_VERSION="+p.cfg.Version,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(p.cfg.MemoryMB),
		"AWS_LAMBDA_LOG_GROUP_NAME="+group,
		"AWS_REGION="+o.Region,
		"AWS_DEFAULT_REGION="+o.Region,
		"AWS_EC2_METADATA_DISABLED=true",
	)
	if o.Credentials.AccessKeyID != "" {
		env = append(env, "AWS_ACCESS_KEY_ID="+o.Credentials.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+o.Credentials.SecretAccessKey)
	}
	if o.BaseURL != nil {
		env = append(env, "AWS_ENDPOINT_URL="+o.BaseURL())
	}
	return env
}

// start starts a sandbox and waits for its runtime's first /next: the
// init phase, which the init timeout bounds (on the machine's clock: a
// process starts in real time, which a test's fake clock does not move).
func (p *procFunction) start(ctx context.Context) (*sandbox, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lambda: function %s: listen for the Runtime API: %w", p.cfg.Name, err)
	}
	// started is set before the server runs, which reads it (the race
	// detector cannot see that the process's request comes after Start).
	s := &sandbox{fn: p, ln: ln, started: time.Now(), invokes: make(chan *invocation, 1), ready: make(chan struct{}), exited: make(chan struct{})}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: maxRuntimeHeads}
	go s.srv.Serve(ln)

	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Dir = p.dir
	cmd.Env = p.env(ln.Addr().String())
	out := &lineWriter{w: p.cfg.Logs}
	cmd.Stdout, cmd.Stderr = out, out
	// A grandchild that keeps the output open must not hold Wait forever.
	cmd.WaitDelay = time.Second
	ownGroup(cmd)
	s.cmd = cmd
	if err := cmd.Start(); err != nil {
		s.srv.Close()
		return nil, fmt.Errorf("lambda: function %s: start its bootstrap: %w", p.cfg.Name, err)
	}
	go func() {
		s.exitErr = cmd.Wait()
		out.flush()
		close(s.exited)
	}()
	p.mu.Lock()
	if p.closed {
		err := p.closedError()
		p.mu.Unlock()
		s.kill()
		return nil, err
	}
	p.all[s] = struct{}{}
	p.mu.Unlock()

	initTimeout := time.NewTimer(p.h.opts.InitTimeout)
	defer initTimeout.Stop()
	select {
	case <-s.ready:
		return s, nil
	case <-s.exited:
		p.discard(s)
		s.mu.Lock()
		ie := s.initError
		s.mu.Unlock()
		if ie != nil {
			return nil, &FunctionError{Type: ie.Type, Message: "the function's init failed: " + ie.Message}
		}
		why := "without providing a reason"
		if s.exitErr != nil {
			why = "with error: " + s.exitErr.Error()
		}
		return nil, &FunctionError{Type: "Runtime.ExitError", Message: "the bootstrap exited " + why + " before asking for an invocation (GET /2018-06-01/runtime/invocation/next): see its output in the function's log"}
	case <-initTimeout.C:
		p.discard(s)
		return nil, &FunctionError{Type: "Runtime.InitTimeout", Message: fmt.Sprintf("the bootstrap did not ask for an invocation (GET /2018-06-01/runtime/invocation/next at AWS_LAMBDA_RUNTIME_API) within the init timeout of %s", p.h.opts.InitTimeout)}
	case <-ctx.Done():
		p.discard(s)
		return nil, fmt.Errorf("lambda: function %s: init: %w", p.cfg.Name, ctx.Err())
	}
}

// close kills every sandbox and removes the unpacked code.
func (p *procFunction) close() {
	p.mu.Lock()
	p.closed = true
	all := make([]*sandbox, 0, len(p.all))
	for s := range p.all {
		all = append(all, s)
	}
	p.all = map[*sandbox]struct{}{}
	p.idle = nil
	p.mu.Unlock()
	for _, s := range all {
		s.kill()
	}
	os.RemoveAll(p.dir)
}

// FunctionPids returns the process ids of a zip function's execution
// environments (none for an in-process function).
func (h *Host) FunctionPids(name string) []int {
	h.mu.Lock()
	fn := h.functions[name]
	h.mu.Unlock()
	if fn == nil || fn.proc == nil {
		return nil
	}
	return fn.proc.pids()
}

// reportNotes is what a process function adds to its REPORT line.
type reportNotes struct {
	mu           sync.Mutex
	maxMemoryMB  int
	initDuration time.Duration
	emulation    string
}

func (n *reportNotes) set(f func(*reportNotes)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f(n)
}

// suffix is the REPORT line's fields after Memory Size.
func (n *reportNotes) suffix() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := ""
	if n.maxMemoryMB > 0 {
		s += fmt.Sprintf("\tMax Memory Used: %d MB", n.maxMemoryMB)
	}
	if n.initDuration > 0 {
		s += fmt.Sprintf("\tInit Duration: %.2f ms", float64(n.initDuration.Microseconds())/1000)
	}
	if n.emulation != "" {
		s += "\tEmulation: " + n.emulation
	}
	return s
}

// sandboxKey carries the environment the mapping started before the
// invocation's timeout began.
type sandboxKey struct{}

func withSandbox(ctx context.Context, s *sandbox) context.Context {
	return context.WithValue(ctx, sandboxKey{}, s)
}

type reportNotesKey struct{}

func withReportNotes(ctx context.Context, n *reportNotes) context.Context {
	return context.WithValue(ctx, reportNotesKey{}, n)
}

func reportNotesFrom(ctx context.Context) *reportNotes {
	n, _ := ctx.Value(reportNotesKey{}).(*reportNotes)
	return n
}

var _ error = (*FunctionError)(nil)

// errorMessage is the errorMessage Lambda's logs give err.
func errorMessage(err error) string {
	var fe *FunctionError
	if errors.As(err, &fe) {
		return fe.Message
	}
	return err.Error()
}
