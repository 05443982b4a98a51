package lambda

import (
	"archive/zip"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/internal/poll"
	"github.com/orderflow/orderflow/internal/slowtest"
	"github.com/orderflow/orderflow/internal/syncbuf"
)

// The tests' bootstraps are this test binary: a zip's bootstrap is a shell
// script that runs it again, and TestMain, seeing AWS_LAMBDA_RUNTIME_API
// and FAKE_RUNTIME in its environment, plays a runtime that behaves as the
// function's Environment says (FAKE_RUNTIME) or as each event's first
// record body says.
func TestMain(m *testing.M) {
	if api, mode := os.Getenv("AWS_LAMBDA_RUNTIME_API"), os.Getenv("FAKE_RUNTIME"); api != "" && mode != "" {
		os.Exit(fakeRuntime(api, mode))
	}
	os.Exit(m.Run())
}

func fakeRuntime(api, mode string) int {
	base := "http://" + api + "/2018-06-01/runtime/"
	post := func(path, body string, header ...string) int {
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake runtime:", err)
			return 0
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("post %s: %d %s\n", path, resp.StatusCode, b)
		return resp.StatusCode
	}
	switch mode {
	case "exit":
		fmt.Fprintln(os.Stderr, "bootstrap: cannot start: ORDERS_TABLE is not set")
		return 3
	case "nonext":
		time.Sleep(time.Hour)
		return 0
	case "slowinit":
		time.Sleep(1500 * time.Millisecond)
		mode = "loop"
	case "initerror":
		post("init/error", `{"errorMessage":"missing ORDERS_TABLE","errorType":"ConfigError"}`, "Lambda-Runtime-Function-Error-Type", "ConfigError")
		return 1
	}
	if mode != "loop" {
		return 9
	}
	fmt.Printf("started pid %d\n", os.Getpid())
	for {
		resp, err := http.Get(base + "invocation/next")
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake runtime: next:", err)
			return 1
		}
		payload, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		var ev events.SQSEvent
		json.Unmarshal(payload, &ev)
		body := ""
		if len(ev.Records) > 0 {
			body = ev.Records[0].Body
		}
		fmt.Printf("stdout: got %s for %s\n", id, body)
		fmt.Fprintf(os.Stderr, "stderr: working on %s\n", id)
		switch body {
		case "env":
			for _, k := range []string{"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION", "AWS_DEFAULT_REGION",
				"_HANDLER", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "ORDERS_TABLE", "AMBIENT_SECRET"} {
				fmt.Printf("env %s=%s\n", k, os.Getenv(k))
			}
			fmt.Printf("env LAMBDA_TASK_ROOT is the working directory: %v\n", func() bool { wd, _ := os.Getwd(); return wd == os.Getenv("LAMBDA_TASK_ROOT") }())
			fmt.Printf("env AWS_LAMBDA_RUNTIME_API on loopback: %v\n", strings.HasPrefix(api, "127.0.0.1:"))
			fmt.Printf("header deadline %s arn %s trace %v\n", resp.Header.Get("Lambda-Runtime-Deadline-Ms"),
				resp.Header.Get("Lambda-Runtime-Invoked-Function-Arn"), strings.HasPrefix(resp.Header.Get("Lambda-Runtime-Trace-Id"), "Root=1-"))
		case "slow":
			time.Sleep(300 * time.Millisecond)
		case "fail":
			post("invocation/"+id+"/error", `{"errorMessage":"order O1 is not valid","errorType":"OrderError"}`, "Lambda-Runtime-Function-Error-Type", "OrderError")
			continue
		case "crash":
			return 2
		case "hang":
			child := exec.Command("sleep", "300")
			child.Start()
			fmt.Printf("child pid %d\n", child.Process.Pid)
			time.Sleep(time.Hour)
		case "badid":
			post("invocation/not-"+id+"/response", `{}`)
		case "huge":
			post("invocation/"+id+"/response", strings.Repeat(" ", maxPayloadBytes+1))
			continue
		case "notjson":
			post("invocation/"+id+"/response", `oops`)
			continue
		}
		post("invocation/"+id+"/response", `{"batchItemFailures":[{"itemIdentifier":"m2"}]}`)
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 200 {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("waited 10 s for %s", what)
}

type zipEntry struct {
	name string
	mode os.FileMode
	body string
}

func makeZip(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		hdr := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		hdr.SetMode(e.mode)
		w, err := zw.CreateHeader(hdr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, e.body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fakeZip is a zip whose bootstrap runs this test binary as a runtime.
func fakeZip(t testing.TB) []byte {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return makeZip(t, zipEntry{"bootstrap", 0o755, "#!/bin/sh\nexec '" + exe + "' \"$@\"\n"})
}

type noQueues struct{ Queues }

func newTestHost(t testing.TB, logs io.Writer, tweak func(*Options)) *Host {
	t.Helper()
	opts := Options{Queues: noQueues{}, Logs: logs, Env: awsenv.Env{BaseURL: func() string { return "http://127.0.0.1:4566" }},
		Credentials: Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}}
	if tweak != nil {
		tweak(&opts)
	}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

// fakeFunction creates function name from the fake runtime in mode.
func fakeFunction(t testing.TB, h *Host, name, mode string) *procFunction {
	t.Helper()
	h.RegisterZip(name, fakeZip(t))
	_, err := h.CreateFunction(context.Background(), Function{Name: name, Runtime: "provided.al2023", Handler: "bootstrap", MemoryMB: 128, TimeoutSec: 5,
		Environment: map[string]string{"FAKE_RUNTIME": mode, "ORDERS_TABLE": "Orders", "AWS_REGION": "mars-1"}})
	if err != nil {
		t.Fatal(err)
	}
	return h.functions[name].proc
}

// invokeOnce runs one event (one record with body) as the mapping does:
// with a request id, a deadline and REPORT notes.
func invokeOnce(p *procFunction, reqID, body string, timeout time.Duration) (events.SQSEventResponse, *reportNotes, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: reqID})
	notes := &reportNotes{}
	ctx = withReportNotes(ctx, notes)
	resp, err := p.handle(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: body}, {MessageId: "m2", Body: "x"}}})
	return resp, notes, err
}

// alive says whether pid is a process that has not ended (a zombie has).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestAZipFunctionAnswersThroughTheRuntimeAPIWithLambdasEnvironment(t *testing.T) {
	slowtest.Skip(t, "runs functions as child processes")
	t.Setenv("AMBIENT_SECRET", "leaked")
	logs := &syncbuf.Buffer{}
	h := newTestHost(t, logs, nil)
	p := fakeFunction(t, h, "EnvFunction", "loop")

	resp, notes, err := invokeOnce(p, "req-env", "env", 5*time.Second)
	if err != nil {
		t.Fatalf("invoke: %v\nlogs:\n%s", err, logs)
	}
	if got, want := fmt.Sprint(resp.BatchItemFailures), "[{m2}]"; got != want {
		t.Errorf("response's failures = %s, want %s", got, want)
	}
	waitFor(t, "the process's lines in the log", func() bool { return strings.Contains(logs.String(), "header deadline") })
	got := logs.String()
	for _, want := range []string{
		"stdout: got req-env for env\n",
		"stderr: working on req-env\n",
		"env AWS_LAMBDA_FUNCTION_NAME=EnvFunction\n",
		"env AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128\n",
		"env AWS_REGION=us-east-1\n", // Lambda's reserved variables win over the function's
		"env AWS_DEFAULT_REGION=us-east-1\n",
		"env _HANDLER=bootstrap\n",
		"env AWS_ENDPOINT_URL=http://127.0.0.1:4566\n",
		"env AWS_ACCESS_KEY_ID=AKIDTEST\n",
		"env AWS_SECRET_ACCESS_KEY=secret\n",
		"env ORDERS_TABLE=Orders\n",
		"env AMBIENT_SECRET=\n", // nothing of the host's environment reaches it
		"env LAMBDA_TASK_ROOT is the working directory: true\n",
		"env AWS_LAMBDA_RUNTIME_API on loopback: true\n",
		"arn arn:aws:lambda:us-east-1:000000000000:function:EnvFunction trace true\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the log lacks %q:\n%s", want, got)
		}
	}
	if notes.initDuration <= 0 || notes.maxMemoryMB <= 0 {
		t.Errorf("a cold start's REPORT notes = %q, want an Init Duration and a Max Memory Used", notes.suffix())
	}
	if s := notes.suffix(); !strings.HasPrefix(s, "\tMax Memory Used: ") || !strings.Contains(s, " MB\tInit Duration: ") || strings.Contains(s, "Emulation") {
		t.Errorf("REPORT suffix = %q, want Max Memory Used then Init Duration, no emulation", s)
	}
}

func TestTheDeadlineHeaderIsTheInvocationsDeadline(t *testing.T) {
	slowtest.Skip(t, "runs functions as child processes")
	logs := &syncbuf.Buffer{}
	h := newTestHost(t, logs, nil)
	p := fakeFunction(t, h, "DeadlineFunction", "loop")
	before := time.Now().Add(4 * time.Second).UnixMilli()
	if _, _, err := invokeOnce(p, "req-1", "env", 4*time.Second); err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(4 * time.Second).UnixMilli()
	waitFor(t, "the header line", func() bool { return strings.Contains(logs.String(), "header deadline ") })
	line := logs.String()[strings.Index(logs.String(), "header deadline "):]
	ms, err := strconv.ParseInt(strings.Fields(line)[2], 10, 64)
	if err != nil || ms < before-1 || ms > after {
		t.Errorf("Lambda-Runtime-Deadline-Ms = %s, want between %d and %d", strings.Fields(line)[2], before, after)
	}
}

func TestAWarmEnvironmentIsReused(t *testing.T) {
	slowtest.Skip(t, "runs functions as child processes")
	h := newTestHost(t, &syncbuf.Buffer{}, nil)
	p := fakeFunction(t, h, "WarmFunction", "loop")
	_, cold, err := invokeOnce(p, "req-1", "a", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	first := p.pids()
	_, warm, err := invokeOnce(p, "req-2", "b", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if second := p.pids(); len(first) != 1 || !slices.Equal(first, second) {
		t.Errorf("pids after the first invocation %v, after the second %v: want the same one process", first, second)
	}
	if cold.initDuration == 0 || warm.initDuration != 0 {
		t.Errorf("init durations cold %v, warm %v: want one on the cold start only", cold.initDuration, warm.initDuration)
	}
	// A function error leaves the environment warm, as on Lambda.
	_, _, err = invokeOnce(p, "req-3", "fail", 5*time.Second)
	var fe *FunctionError
	if !errors.As(err, &fe) || fe.Type != "OrderError" || fe.Message != "order O1 is not valid" {
		t.Errorf("a function error = %v, want OrderError: order O1 is not valid", err)
	}
	if got := p.pids(); !slices.Equal(first, got) {
		t.Errorf("after a function error the pids are %v, want %v still", got, first)
	}
}

func TestConcurrentInvocationsRunInEnvironmentsOfTheirOwn(t *testing.T) {
	slowtest.Skip(t, "runs functions as child processes")
	h := newTestHost(t, &syncbuf.Buffer{}, nil)
	p := fakeFunction(t, h, "ConcurrentFunction", "loop")
	const n = 3
	round := func() {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				_, _, err := invokeOnce(p, fmt.Sprintf("req-%d", i), "slow", 5*time.Second)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	round()
	first := p.pids()
	slices.Sort(first)
	if len(first) != n {
		t.Fatalf("%d invocations at once ran in %d environments (%v), want %d", n, len(first), first, n)
	}
	round()
	second := p.pids()
	slices.Sort(second)
	if !slices.Equal(first, second) {
		t.Errorf("a second round ran in %v, want the warm %v", second, first)
	}
}

func TestBadArtefactsAreRefusedWhenTheFunctionIsCreated(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	elfBody, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	other := "arm64"
	if hostArch() == "arm64" {
		other = "x86_64"
	}
	script := zipEntry{"bootstrap", 0o755, "#!/bin/sh\n"}
	for _, tc := range []struct {
		name    string
		zip     []byte
		runtime string
		arch    string
		want    string
	}{
		{"a zip without bootstrap", makeZip(t, zipEntry{"main", 0o755, "#!/bin/sh\n"}), "", "",
			"lambda: function F: lambda: bad function artefact: the zip has no bootstrap at its root: a provided.al2023 function's zip must hold its executable named bootstrap (zip -j function.zip bootstrap)"},
		{"a bootstrap that is not executable", makeZip(t, zipEntry{"bootstrap", 0o644, "#!/bin/sh\n"}), "", "",
			"lambda: function F: lambda: bad function artefact: the zip's bootstrap is not executable: chmod +x bootstrap before zipping it"},
		{"a bootstrap that is a directory", makeZip(t, zipEntry{"bootstrap/", os.ModeDir | 0o755, ""}), "", "",
			"lambda: function F: lambda: bad function artefact: the zip's bootstrap is not a regular file"},
		{"an entry climbing out with ..", makeZip(t, script, zipEntry{"lib/../../evil", 0o644, "x"}), "", "",
			`lambda: function F: lambda: bad function artefact: the zip entry "lib/../../evil" climbs out of the function's directory (..)`},
		{"an absolute entry", makeZip(t, script, zipEntry{"/etc/evil", 0o644, "x"}), "", "",
			`lambda: function F: lambda: bad function artefact: the zip entry "/etc/evil" has an absolute path`},
		{"a Windows path", makeZip(t, script, zipEntry{`..\evil`, 0o644, "x"}), "", "",
			`lambda: function F: lambda: bad function artefact: the zip entry "..\\evil" has a backslash in its path: zip it on Linux or macOS, or with forward slashes`},
		{"two entries of one name", makeZip(t, script, script), "", "",
			`lambda: function F: lambda: bad function artefact: the zip holds "bootstrap" twice`},
		{"a symbolic link", makeZip(t, script, zipEntry{"passwd", os.ModeSymlink | 0o777, "/etc/passwd"}), "", "",
			`lambda: function F: lambda: bad function artefact: the zip entry "passwd" is a symbolic link, which the host does not unpack: put the file itself in the zip`},
		{"a zip bomb", makeZip(t, script, zipEntry{"big", 0o644, strings.Repeat("0", 2<<20)}), "", "",
			"lambda: function F: lambda: bad function artefact: the zip unpacks to more than 1 MiB, the limit for a function's code: make the function smaller"},
		{"not a zip", []byte("MZ not a zip"), "", "",
			"lambda: function F: lambda: bad function artefact: the code is not a zip file (zip: not a valid zip file): package the function with zip, bootstrap at its root"},
		{"a runtime the host cannot run", fakeZip(t), "python3.12", "",
			`lambda: function F's runtime "python3.12" cannot run here: the host runs zips of the provided.al2023 and provided.al2 runtimes (a bootstrap executable); register an in-process Go handler for it instead`},
		{"an architecture Lambda does not have", fakeZip(t), "", "mips",
			`lambda: function F's architecture "mips" is not x86_64 or arm64`},
		{"a bootstrap built for another architecture than declared", makeZip(t, zipEntry{"bootstrap", 0o755, string(elfBody)}), "", other,
			fmt.Sprintf("lambda: function F: its bootstrap is built for %s but its Architectures says %s: build it for %s, or declare %s", hostArch(), other, other, hostArch())},
		{"another architecture without an emulator", fakeZip(t), "", other,
			fmt.Sprintf("lambda: function F: it is built for %s and this host is %s, with no %s on PATH to emulate it: install qemu-user-static (apt-get install qemu-user-static), or build the function for %s",
				other, hostArch(), qemuName(other), hostArch())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHost(t, io.Discard, func(o *Options) {
				if !strings.Contains(tc.name, "built for another") { // the test binary is larger
					o.MaxUnpackedBytes = 1 << 20
				}
				o.Emulator = func(string) (string, error) { return "", exec.ErrNotFound }
				if strings.Contains(tc.name, "built for another") { // refused even where it could be emulated
					o.Emulator = func(string) (string, error) { return "/usr/bin/qemu-user-of-the-test", nil }
				}
			})
			rt := cmp.Or(tc.runtime, "provided.al2023")
			var archs []string
			if tc.arch != "" {
				archs = []string{tc.arch}
			}
			h.RegisterZip("F", tc.zip)
			_, err := h.CreateFunction(context.Background(), Function{Name: "F", Runtime: rt, Architectures: archs, TimeoutSec: 3, MemoryMB: 128})
			if err == nil || err.Error() != tc.want {
				t.Errorf("CreateFunction error\n got %v\nwant %s", err, tc.want)
			}
			if len(h.functions) != 0 {
				t.Errorf("a refused function exists: %v", h.functions)
			}
		})
	}
}

func TestBadBootstrapsFailTheirInvocationClearly(t *testing.T) {
	slowtest.Skip(t, "runs functions as child processes")
	for _, tc := range []struct {
		name, mode, body string
		wantType         string
		wantMessage      string // with REQ for the request id
		wantLog          string
		replaced         bool // the environment is replaced
	}{
		{name: "a bootstrap that exits at once", mode: "exit", body: "a", wantType: "Runtime.ExitError",
			wantMessage: "the bootstrap exited with error: exit status 3 before asking for an invocation (GET /2018-06-01/runtime/invocation/next): see its output in the function's log",
			wantLog:     "bootstrap: cannot start: ORDERS_TABLE is not set\n"},
		{name: "a bootstrap that never asks for an invocation", mode: "nonext", body: "a", wantType: "Runtime.InitTimeout",
			wantMessage: "the bootstrap did not ask for an invocation (GET /2018-06-01/runtime/invocation/next at AWS_LAMBDA_RUNTIME_API) within the init timeout of 500ms"},
		{name: "a bootstrap that reports an init error", mode: "initerror", body: "a", wantType: "ConfigError",
			wantMessage: "the function's init failed: missing ORDERS_TABLE"},
		{name: "a bootstrap that crashes mid-invocation", mode: "loop", body: "crash", wantType: "Runtime.ExitError",
			wantMessage: "RequestId: REQ Error: Runtime exited with error: exit status 2", replaced: true},
		{name: "a response that is not JSON", mode: "loop", body: "notjson", wantType: "Runtime.InvalidResponse",
			wantMessage: "the function's response is not an SQS batch response: invalid character 'o' looking for beginning of value"},
		{name: "a response over 6 MiB", mode: "loop", body: "huge", wantType: "Function.ResponseSizeTooLarge",
			wantMessage: "Response payload size exceeded maximum allowed payload size (6291456 bytes).",
			wantLog:     `post invocation/REQ/response: 413 {"errorMessage":"the response is larger than 6291456 bytes","errorType":"RequestEntityTooLarge"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncbuf.Buffer{}
			h := newTestHost(t, logs, func(o *Options) { o.InitTimeout = 500 * time.Millisecond })
			p := fakeFunction(t, h, "Bad", tc.mode)
			var before []int
			if tc.replaced {
				if _, _, err := invokeOnce(p, "warm-up", "a", 5*time.Second); err != nil {
					t.Fatal(err)
				}
				before = p.pids()
			}
			_, _, err := invokeOnce(p, "req-bad", tc.body, 5*time.Second)
			var fe *FunctionError
			if !errors.As(err, &fe) {
				t.Fatalf("error = %v (%T), want a *FunctionError", err, err)
			}
			if want := strings.ReplaceAll(tc.wantMessage, "REQ", "req-bad"); fe.Type != tc.wantType || fe.Message != want {
				t.Errorf("error\n got %s: %s\nwant %s: %s", fe.Type, fe.Message, tc.wantType, want)
			}
			if tc.wantLog != "" {
				want := strings.ReplaceAll(tc.wantLog, "REQ", "req-bad")
				waitFor(t, "the log line "+want, func() bool { return strings.Contains(logs.String(), want) })
			}
			if tc.replaced {
				if _, _, err := invokeOnce(p, "req-after", "a", 5*time.Second); err != nil {
					t.Fatalf("the invocation after: %v", err)
				}
				if after := p.pids(); len(after) != 1 || slices.Equal(before, after) || alive(before[0]) {
					t.Errorf("pids before %v, after %v: want the crashed one gone and a new one", before, after)
				}
			}
		})
	}
}

func TestTheRuntimeAPIRefusesAnAnswerForAnotherRequest(t *testing.T) {
	slowtest.Skip(t, "runs functions as child processes")
	logs := &syncbuf.Buffer{}
	h := newTestHost(t, logs, nil)
	p := fakeFunction(t, h, "BadID", "loop")
	if _, _, err := invokeOnce(p, "req-1", "badid", 5*time.Second); err != nil {
		t.Fatalf("the invocation after a refused answer: %v", err)
	}
	want := `post invocation/not-req-1/response: 400 {"errorMessage":"Invalid request ID: \"not-req-1\"","errorType":"InvalidRequestID"}`
	waitFor(t, "the refusal", func() bool { return strings.Contains(logs.String(), want) })
}

func TestATimedOutInvocationKillsTheProcessGroupAndTheNextStartsAFreshOne(t *testing.T) {
	slowtest.Skip(t, "runs functions as child processes")
	logs := &syncbuf.Buffer{}
	h := newTestHost(t, logs, nil)
	p := fakeFunction(t, h, "Hangs", "loop")
	if _, _, err := invokeOnce(p, "req-1", "a", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	first := p.pids()
	_, notes, err := invokeOnce(p, "req-2", "hang", time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a hung invocation's error = %v, want the deadline exceeded", err)
	}
	if notes.maxMemoryMB == 0 {
		t.Errorf("a timed out invocation's REPORT lacks Max Memory Used: %q", notes.suffix())
	}
	child := childPid(t, logs)
	// The group's SIGKILL has been sent; the kernel ends the bootstrap's
	// own child when it next runs, so give it a moment.
	if !poll.Within(2*time.Second, func() bool { return !alive(first[0]) && !alive(child) }) {
		t.Errorf("2 s after the timeout the bootstrap (pid %d) alive: %v, its child (pid %d) alive: %v; want both killed", first[0], alive(first[0]), child, alive(child))
	}
	if _, _, err := invokeOnce(p, "req-3", "a", 5*time.Second); err != nil {
		t.Fatalf("the invocation after the timeout: %v", err)
	}
	if got := p.pids(); len(got) != 1 || got[0] == first[0] {
		t.Errorf("after the timeout the pids are %v, want one new process (not %d)", got, first[0])
	}
}

func childPid(t *testing.T, logs *syncbuf.Buffer) int {
	t.Helper()
	waitFor(t, "the child's pid", func() bool { return strings.Contains(logs.String(), "child pid ") })
	s := logs.String()
	s = s[strings.Index(s, "child pid ")+len("child pid "):]
	pid, err := strconv.Atoi(s[:strings.IndexByte(s, '\n')])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestCloseLeavesNoProcessBehind(t *testing.T) {
	slowtest.Skip(t, "runs functions as child processes")
	logs := &syncbuf.Buffer{}
	h := newTestHost(t, logs, nil)
	p := fakeFunction(t, h, "Closing", "loop")
	var wg sync.WaitGroup
	for i := range 2 { // two environments
		wg.Go(func() {
			if _, _, err := invokeOnce(p, fmt.Sprint("req-slow-", i), "slow", 5*time.Second); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	done := make(chan error, 1)
	go func() { _, _, err := invokeOnce(p, "req-2", "hang", time.Minute); done <- err }()
	child := childPid(t, logs)
	pids := append(p.pids(), child)
	if len(pids) != 3 {
		t.Fatalf("pids = %v, want two environments and a child", pids)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	h.Close(ctx)
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("the hung invocation succeeded once the host closed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the hung invocation did not end when the host closed")
	}
	// SIGKILL to the group has been sent; the kernel ends the bootstrap's
	// own child when it next runs, so give it a moment.
	for _, pid := range pids {
		if !poll.Within(2*time.Second, func() bool { return !alive(pid) }) {
			t.Errorf("pid %d is still running 2 s after Close", pid)
		}
	}
	if _, err := os.Stat(p.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the unpacked code %s is still there after Close: %v", p.dir, err)
	}
	if _, _, err := invokeOnce(p, "req-3", "a", time.Second); !errors.Is(err, errClosed) {
		t.Errorf("an invocation after Close = %v, want %v", err, errClosed)
	}
}

// BenchmarkZipFunctionWarmInvocation measures the process runtime's
// overhead per batch on a warm environment: the event encoded, handed out
// by GET /next, the function's answer POSTed back and decoded (the fake
// runtime, this test binary, does no work of its own).
func BenchmarkZipFunctionWarmInvocation(b *testing.B) {
	h := newTestHost(b, io.Discard, nil)
	p := fakeFunction(b, h, "Warm", "loop")
	if _, _, err := invokeOnce(p, "warm-up", "a", 5*time.Second); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, _, err := invokeOnce(p, "req-"+strconv.Itoa(i), "a", 5*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkZipFunctionColdStart measures a cold start: a new process
// started (a shell script that execs a Go binary), its first GET /next,
// and one invocation answered; the environment is killed after each.
func BenchmarkZipFunctionColdStart(b *testing.B) {
	h := newTestHost(b, io.Discard, nil)
	p := fakeFunction(b, h, "Cold", "loop")
	var initTotal time.Duration
	for i := 0; b.Loop(); i++ {
		_, notes, err := invokeOnce(p, "req-"+strconv.Itoa(i), "a", 10*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		initTotal += notes.initDuration
		b.StopTimer()
		p.mu.Lock()
		idle := p.idle
		p.idle = nil
		p.mu.Unlock()
		for _, s := range idle {
			p.discard(s)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(initTotal.Microseconds())/1000/float64(b.N), "init-ms/op")
}

// chanQueue hands out the batches a test sends, on the machine's clock (the
// zip functions run in real time), and records what the mapping deletes.
type chanQueue struct {
	batches chan []events.SQSMessage
	mu      sync.Mutex
	deleted []string
}

func (q *chanQueue) Lookup(_ context.Context, arn string) (QueueInfo, error) {
	return QueueInfo{ARN: arn, URL: "http://q/Q", Region: "us-east-1", VisibilityTimeoutSec: 60}, nil
}

func (q *chanQueue) Receive(ctx context.Context, _ QueueInfo, _ int, wait time.Duration) ([]events.SQSMessage, error) {
	select {
	case b := <-q.batches:
		return b, nil
	case <-time.After(min(wait, time.Second)):
		return nil, nil
	case <-ctx.Done():
		return nil, nil
	}
}

func (q *chanQueue) Delete(_ context.Context, _ QueueInfo, recs []events.SQSMessage) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, r := range recs {
		q.deleted = append(q.deleted, r.Body)
	}
	return nil
}

func (q *chanQueue) deletedBodies() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.deleted)
}

func TestTheMappingReportsAZipFunctionsCrashAndTimeoutAsLambdaDoes(t *testing.T) {
	slowtest.Skip(t, "runs functions as child processes")
	q := &chanQueue{batches: make(chan []events.SQSMessage)}
	logs := &syncbuf.Buffer{}
	h := newTestHost(t, logs, func(o *Options) { o.Queues = q })
	h.RegisterZip("Mapped", fakeZip(t))
	if _, err := h.CreateFunction(context.Background(), Function{Name: "Mapped", Runtime: "provided.al2", TimeoutSec: 1, MemoryMB: 256,
		Environment: map[string]string{"FAKE_RUNTIME": "loop"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.CreateEventSourceMapping(context.Background(), EventSourceMapping{FunctionName: "Mapped", EventSourceArn: "arn:aws:sqs:us-east-1:000000000000:Q",
		BatchSize: 1, Enabled: true, MaximumConcurrency: 2}); err != nil {
		t.Fatal(err)
	}
	bodies := []string{"crash", "hang", "ok", "warm"}
	for i, body := range bodies {
		q.batches <- []events.SQSMessage{{MessageId: body, Body: body}}
		waitFor(t, "the batch "+body+" to end", func() bool { return strings.Count(logs.String(), "REPORT RequestId: ") == i+1 })
	}
	if got := q.deletedBodies(); !slices.Equal(got, []string{"ok", "warm"}) {
		t.Errorf("deleted %v, want only the batch that succeeded", got)
	}
	got := logs.String()
	for _, re := range []string{
		`(?m)^\S+ \S+ ERROR Invoke Error \{"errorMessage":"RequestId: \S+ Error: Runtime exited with error: exit status 2","errorType":"Runtime\.ExitError"\}\nEND RequestId: \S+\nREPORT RequestId: \S+\tDuration: [0-9.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 256 MB\tMax Memory Used: \d+ MB\tInit Duration: [0-9.]+ ms$`,
		`(?m)^\S+ \S+ Task timed out after 1\.00 seconds\nEND RequestId: \S+\nREPORT RequestId: \S+\tDuration: [0-9.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 256 MB\tMax Memory Used: \d+ MB\tInit Duration: [0-9.]+ ms$`,
		`(?m)^REPORT RequestId: \S+\tDuration: [0-9.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 256 MB\tMax Memory Used: \d+ MB\tInit Duration: [0-9.]+ ms$`,
		`(?m)^REPORT RequestId: \S+\tDuration: [0-9.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 256 MB\tMax Memory Used: \d+ MB$`,
	} {
		if !regexp.MustCompile(re).MatchString(got) {
			t.Errorf("the log has no line matching %s:\n%s", re, got)
		}
	}
}

// mappedFunction creates function name from the fake runtime in mode, with
// a timeout of 1 s, driven by a mapping of q.
func mappedFunction(t *testing.T, mode string) (*chanQueue, *syncbuf.Buffer) {
	t.Helper()
	q := &chanQueue{batches: make(chan []events.SQSMessage)}
	logs := &syncbuf.Buffer{}
	h := newTestHost(t, logs, func(o *Options) { o.Queues = q })
	h.RegisterZip("Mapped", fakeZip(t))
	if _, err := h.CreateFunction(context.Background(), Function{Name: "Mapped", Runtime: "provided.al2023", TimeoutSec: 1, MemoryMB: 128,
		Environment: map[string]string{"FAKE_RUNTIME": mode}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.CreateEventSourceMapping(context.Background(), EventSourceMapping{FunctionName: "Mapped", EventSourceArn: "arn:aws:sqs:us-east-1:000000000000:Q",
		BatchSize: 1, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	return q, logs
}

func TestAColdStartsInitIsNotCountedInTheInvocationsTimeout(t *testing.T) {
	slowtest.Skip(t, "runs functions as child processes")
	q, logs := mappedFunction(t, "slowinit") // 1.5 s of init, a timeout of 1 s
	q.batches <- []events.SQSMessage{{MessageId: "m1", Body: "ok"}}
	waitFor(t, "the REPORT line", func() bool { return strings.Contains(logs.String(), "REPORT RequestId: ") })
	if got := q.deletedBodies(); !slices.Equal(got, []string{"ok"}) {
		t.Errorf("deleted %v, want the batch: the init does not count against the timeout\n%s", got, logs)
	}
	re := regexp.MustCompile(`\tDuration: ([0-9.]+) ms\t.*\tInit Duration: (1[5-9]\d\d|[2-9]\d\d\d)\.\d\d ms\n`)
	m := re.FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no REPORT line with an Init Duration of 1.5 s or more:\n%s", logs)
	}
	if d, _ := strconv.ParseFloat(m[1], 64); d >= 1000 {
		t.Errorf("Duration %s ms includes the init", m[1])
	}
}

func TestAnInitFailureFailsTheBatchWithItsErrorType(t *testing.T) {
	slowtest.Skip(t, "runs functions as child processes")
	q, logs := mappedFunction(t, "exit")
	q.batches <- []events.SQSMessage{{MessageId: "m1", Body: "ok"}}
	waitFor(t, "the REPORT line", func() bool { return strings.Contains(logs.String(), "REPORT RequestId: ") })
	want := regexp.MustCompile(`(?m)^bootstrap: cannot start: ORDERS_TABLE is not set\n(.|\n)*\S+ \S+ ERROR Invoke Error \{"errorMessage":"the bootstrap exited with error: exit status 3 before asking for an invocation \(GET /2018-06-01/runtime/invocation/next\): see its output in the function's log","errorType":"Runtime.ExitError"\}\nEND RequestId`)
	if !want.MatchString(logs.String()) {
		t.Errorf("the log does not match %s:\n%s", want, logs)
	}
	if got := q.deletedBodies(); len(got) != 0 {
		t.Errorf("deleted %v after a failed init, want nothing", got)
	}
}
