package dynamodb_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cloud/dynamodb"
	"github.com/orderflow/orderflow/cloud/journal"
)

// childEnv names the data file a re-executed test binary serves DynamoDB
// from, until it is killed or told to stop.
const childEnv = "ORDERFLOW_DYNAMODB_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		serveChild(path)
	}
	os.Exit(m.Run())
}

// serveChild is the child's side: it serves the file on a loopback port,
// prints the port, and serves until SIGKILL, or SIGTERM (then it closes
// cleanly and exits 0), or until its standard input ends (the parent died).
func serveChild(path string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	db, err := journal.Open(path)
	if err != nil {
		fail(err)
	}
	svc, err := dynamodb.Open(dynamodb.Options{DB: db})
	if err != nil {
		fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	srv := &http.Server{Handler: svc}
	go srv.Serve(ln)
	fmt.Printf("listening %s\n", ln.Addr())
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	orphaned := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(orphaned)
	}()
	select {
	case <-term:
	case <-orphaned:
		os.Exit(3)
	}
	srv.Close()
	if err := svc.Close(); err != nil {
		fail(err)
	}
	if err := db.Close(); err != nil {
		fail(err)
	}
	os.Exit(0)
}

// child is a running child process serving DynamoDB on a data file.
type child struct {
	cmd   *exec.Cmd
	stdin io.Closer
	url   string
	http  *http.Client
	done  chan error
}

// startChild starts a child serving the data file at path.
func startChild(t testing.TB, path string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := &child{cmd: cmd, stdin: stdin, done: make(chan error, 1),
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 30 * time.Second}}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				addr <- a
			}
		}
		ch.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		stdin.Close()
	})
	select {
	case a := <-addr:
		ch.url = "http://" + a
	case err := <-ch.done:
		t.Fatalf("the child exited before serving: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the child did not start serving in 30 s")
	}
	return ch
}

// kill ends the child with SIGKILL, as a crash would.
func (ch *child) kill(t testing.TB) {
	t.Helper()
	if err := ch.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-ch.done
	ch.http.CloseIdleConnections()
}

// stop asks the child to close cleanly and waits for it.
func (ch *child) stop(t testing.TB) {
	t.Helper()
	if err := ch.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ch.done:
		if err != nil {
			t.Fatalf("the child's clean stop: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the child did not stop in 30 s")
	}
	ch.http.CloseIdleConnections()
}
