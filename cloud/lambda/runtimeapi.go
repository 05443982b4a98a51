package lambda

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The Runtime API's paths, as Lambda serves them at AWS_LAMBDA_RUNTIME_API.
const (
	runtimePrefix   = "/2018-06-01/runtime/"
	nextPath        = runtimePrefix + "invocation/next"
	invocationPath  = runtimePrefix + "invocation/"
	initErrorPath   = runtimePrefix + "init/error"
	maxErrorBody    = 1 << 20
	maxRuntimeHeads = 64 << 10
)

// FunctionError is an invocation's failure as Lambda reports it: the error
// type (Runtime.ExitError, or the type a function reported through the
// Runtime API) and its message.
type FunctionError struct {
	Type    string
	Message string
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// ErrorType is the errorType of Lambda's error payload.
func (e *FunctionError) ErrorType() string { return e.Type }

// invocation is one event handed to a sandbox's runtime.
type invocation struct {
	id       string
	arn      string
	deadline time.Time
	payload  []byte
	result   chan invokeResult // buffered: the runtime's one answer
}

type invokeResult struct {
	body []byte
	err  *FunctionError
}

// sandbox is one execution environment: a bootstrap process and the
// Runtime API it, and only it, polls (one server per environment, so an
// answer can only be for this environment's invocation).
type sandbox struct {
	fn      *procFunction
	cmd     *exec.Cmd
	srv     *http.Server
	ln      net.Listener
	started time.Time
	initDur time.Duration

	invokes   chan *invocation // the next invocation, taken by /next
	ready     chan struct{}    // closed by the first /next: init is over
	readyOnce sync.Once
	exited    chan struct{} // closed once the process has ended
	exitErr   error         // set before exited closes

	mu        sync.Mutex
	current   *invocation // handed out by /next, not yet answered
	initError *FunctionError
}

// ServeHTTP is the Runtime API.
func (s *sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == nextPath && r.Method == http.MethodGet:
		s.next(w, r)
	case p == initErrorPath && r.Method == http.MethodPost:
		fe := readRuntimeError(w, r, "Runtime.InitError")
		if fe == nil {
			return
		}
		s.mu.Lock()
		s.initError = fe
		s.mu.Unlock()
		runtimeAnswer(w, http.StatusAccepted, `{"status":"OK"}`)
	case strings.HasPrefix(p, invocationPath) && r.Method == http.MethodPost:
		rest := strings.TrimPrefix(p, invocationPath)
		id, what, ok := strings.Cut(rest, "/")
		if !ok || (what != "response" && what != "error") {
			runtimeError(w, http.StatusNotFound, "InvalidRequest", "no such Runtime API path: "+p)
			return
		}
		s.mu.Lock()
		inv := s.current
		if inv != nil && inv.id == id {
			s.current = nil
		}
		s.mu.Unlock()
		if inv == nil || inv.id != id {
			runtimeError(w, http.StatusBadRequest, "InvalidRequestID", "Invalid request ID: "+strconv.Quote(id))
			return
		}
		if what == "error" {
			fe := readRuntimeError(w, r, "Unhandled")
			if fe == nil {
				fe = &FunctionError{Type: "Runtime.InvalidErrorPayload", Message: "the runtime's error body could not be read"}
			} else {
				runtimeAnswer(w, http.StatusAccepted, `{"status":"OK"}`)
			}
			inv.result <- invokeResult{err: fe}
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPayloadBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				runtimeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", fmt.Sprintf("the response is larger than %d bytes", maxPayloadBytes))
				inv.result <- invokeResult{err: &FunctionError{Type: "Function.ResponseSizeTooLarge", Message: fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxPayloadBytes)}}
				return
			}
			inv.result <- invokeResult{err: &FunctionError{Type: "Runtime.ResponseError", Message: "the runtime's response could not be read: " + err.Error()}}
			return
		}
		runtimeAnswer(w, http.StatusAccepted, `{"status":"OK"}`)
		inv.result <- invokeResult{body: body}
	default:
		runtimeError(w, http.StatusNotFound, "InvalidRequest", "no such Runtime API path: "+r.Method+" "+p)
	}
}

// next hands the runtime its next invocation, waiting as long as it takes.
func (s *sandbox) next(w http.ResponseWriter, r *http.Request) {
	s.readyOnce.Do(func() {
		s.initDur = time.Since(s.started)
		close(s.ready)
	})
	var inv *invocation
	select {
	case inv = <-s.invokes:
	case <-r.Context().Done():
		return
	}
	s.mu.Lock()
	s.current = inv
	s.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", inv.arn)
	h.Set("Lambda-Runtime-Trace-Id", traceID(inv.id))
	w.WriteHeader(http.StatusOK)
	w.Write(inv.payload)
}

// traceID is an X-Ray trace header for the invocation, in X-Ray's format.
func traceID(reqID string) string {
	hex := strings.ReplaceAll(reqID, "-", "")
	for len(hex) < 32 {
		hex += "0"
	}
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), hex[:24], hex[16:32])
}

// readRuntimeError reads an error a runtime posts ({"errorMessage",
// "errorType"}, the type also in Lambda-Runtime-Function-Error-Type). It
// answers the runtime itself, and returns nil, when the body is too large.
func readRuntimeError(w http.ResponseWriter, r *http.Request, defaultType string) *FunctionError {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxErrorBody))
	if err != nil {
		runtimeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", fmt.Sprintf("the error body is larger than %d bytes", maxErrorBody))
		return nil
	}
	var e struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}
	fe := &FunctionError{Type: r.Header.Get("Lambda-Runtime-Function-Error-Type")}
	if json.Unmarshal(body, &e) == nil {
		fe.Message = e.Message
		if e.Type != "" {
			fe.Type = e.Type
		}
	} else {
		fe.Message = string(bytes.TrimSpace(body))
	}
	if fe.Type == "" {
		fe.Type = defaultType
	}
	return fe
}

func runtimeAnswer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func runtimeError(w http.ResponseWriter, status int, typ, msg string) {
	b, _ := json.Marshal(map[string]string{"errorType": typ, "errorMessage": msg})
	runtimeAnswer(w, status, string(b))
}

// peakRSS is the process's peak resident set in MiB (VmHWM while it runs,
// ru_maxrss once it has ended; Linux), or 0 when it cannot be read.
func (s *sandbox) peakRSS() int {
	if s.dead() {
		// An ended process's peak is in its rusage (ru_maxrss, in KiB).
		return int((maxRSSKiB(s.cmd.ProcessState) + 1023) / 1024)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				return 0
			}
			return (kb + 1023) / 1024
		}
	}
	return 0
}

// kill ends the process and its children, and the Runtime API server, and
// waits for the process to be reaped.
func (s *sandbox) kill() {
	killGroup(s.cmd.Process)
	<-s.exited
	s.srv.Close()
}

// dead reports whether the process has ended.
func (s *sandbox) dead() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// exitError is the invocation's failure when the process ended during it.
func (s *sandbox) exitError(reqID string) *FunctionError {
	<-s.exited
	msg := "Runtime exited without providing a reason"
	if s.exitErr != nil {
		msg = "Runtime exited with error: " + s.exitErr.Error()
	}
	return &FunctionError{Type: "Runtime.ExitError", Message: "RequestId: " + reqID + " Error: " + msg}
}

// lineWriter passes whole lines to w, one Write per line, so that lines of
// several processes do not interleave inside the log sink.
type lineWriter struct {
	w   io.Writer
	mu  sync.Mutex
	buf []byte
}

const maxLogLine = 256 << 10 // CloudWatch Logs' event size limit

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			if len(l.buf) >= maxLogLine {
				l.w.Write(append(l.buf[:maxLogLine:maxLogLine], '\n'))
				l.buf = append(l.buf[:0], l.buf[maxLogLine:]...)
				continue
			}
			return len(p), nil
		}
		l.w.Write(l.buf[:i+1])
		l.buf = l.buf[i+1:]
	}
}

// flush writes a last line that has no newline.
func (l *lineWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.w.Write(append(l.buf, '\n'))
		l.buf = nil
	}
}
