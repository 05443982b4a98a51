package main

// BenchmarkStartup measures `orderflow up` as a user meets it: the real
// binary (go build, not this test binary), exec'd afresh each iteration.
//
//	go test -run '^$' -bench Startup -benchtime 10x ./cmd/orderflow/
//
// Per start it records the time from exec to the edge answering
// GET /_orderflow/health (edge-ms), to up printing its banner, the
// template deployed (deployed-ms; GetQueueUrl(OrderQueue) then answers
// 200, or the start fails), and the process's VmRSS after
// two seconds idle (idle-rss-MiB); it reports each one's median over the
// iterations: in memory, on a new --data-dir, and on a --data-dir an
// earlier start made.

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func BenchmarkStartup(b *testing.B) {
	tmp := b.TempDir()
	bin := filepath.Join(tmp, "orderflow")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	// readyDir is a data directory one start made and stopped as Ctrl-C
	// does, made once, when first asked for.
	readyDir := sync.OnceValues(func() (string, error) {
		dir := filepath.Join(tmp, "ready")
		return dir, startAndStop(bin, dir)
	})
	for _, mode := range []struct {
		name string
		// dir returns the --data-dir of a start; nil: in memory.
		dir func(b *testing.B) string
	}{
		{"memory", nil},
		// A data directory's first start: it makes the data file, and
		// SNS's signing key (stored there).
		{"data-dir-new", func(b *testing.B) string { return filepath.Join(b.TempDir(), "data") }},
		// A start on a data directory of an earlier start (one start, so
		// each measured start finds the same state).
		{"data-dir-again", func(b *testing.B) string {
			ready, err := readyDir()
			if err != nil {
				b.Fatal(err)
			}
			dir := b.TempDir()
			if out, err := exec.Command("cp", "-a", ready, dir+"/data").CombinedOutput(); err != nil {
				b.Fatalf("cp: %v %s", err, out)
			}
			return dir + "/data"
		}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			var edge, deployed, rss []float64
			for range b.N {
				dataDir := ""
				if mode.dir != nil {
					b.StopTimer()
					dataDir = mode.dir(b)
					b.StartTimer()
				}
				s, err := startOnce(bin, dataDir, 2*time.Second)
				if err != nil {
					b.Fatal(err)
				}
				edge = append(edge, s.edge.Seconds()*1e3)
				deployed = append(deployed, s.deployed.Seconds()*1e3)
				rss = append(rss, float64(s.rss)/(1<<20))
			}
			b.ReportMetric(median(edge), "edge-ms")
			b.ReportMetric(median(deployed), "deployed-ms")
			b.ReportMetric(median(rss), "idle-rss-MiB")
			b.ReportMetric(0, "ns/op") // the figures above are what this measures
			b.Logf("edge ms %s; deployed ms %s; idle RSS MiB %s", figures(edge), figures(deployed), figures(rss))
		})
	}
}

type startSample struct {
	edge, deployed time.Duration
	rss            int64
}

// benchUp is orderflow up running as a child process.
type benchUp struct {
	cmd   *exec.Cmd
	base  string
	start time.Time
	out   *benchUpOutput
}

// launch execs bin up on a free loopback port, on dataDir unless empty.
func launch(bin, dataDir string) (*benchUp, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"up", "--addr", addr, "--quiet"}
	if dataDir != "" {
		args = append(args, "--data-dir", dataDir)
	}
	p := &benchUp{cmd: exec.Command(bin, args...), base: "http://" + addr, out: &benchUpOutput{up: make(chan time.Time, 1)}}
	p.cmd.Env = append(os.Environ(), "AWS_PROFILE=", "AWS_ACCESS_KEY_ID=", "AWS_ENDPOINT_URL=")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *benchUp) kill() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// benchUpOutput keeps what up prints, and sends the time its banner (printed
// once the template is deployed) arrived on up.
type benchUpOutput struct {
	mu       sync.Mutex
	b        bytes.Buffer
	up       chan time.Time
	bannered bool
}

func (o *benchUpOutput) Write(p []byte) (int, error) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.b.Write(p)
	if !o.bannered && strings.Contains(o.b.String(), "orderflow is up: ") {
		o.bannered = true
		o.up <- now
	}
	return len(p), nil
}

func (o *benchUpOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// deployed waits (20 s at most) for up's banner, then checks that
// GetQueueUrl(OrderQueue) answers; it returns the banner's time since exec.
func (p *benchUp) deployed(client *http.Client) (time.Duration, error) {
	select {
	case at := <-p.out.up:
		if !orderQueueAnswers(client, p.base) {
			return 0, fmt.Errorf("orderflow up printed its banner, and OrderQueue does not answer; its output:\n%s", p.out)
		}
		return at.Sub(p.start), nil
	case <-time.After(20 * time.Second):
		return 0, fmt.Errorf("orderflow up: not deployed within 20 s; its output:\n%s", p.out)
	}
}

// startAndStop starts bin up on dataDir, waits until it is deployed, and
// stops it as Ctrl-C does.
func startAndStop(bin, dataDir string) error {
	p, err := launch(bin, dataDir)
	if err != nil {
		return err
	}
	if _, err := p.deployed(&http.Client{Timeout: time.Second}); err != nil {
		p.kill()
		return err
	}
	p.cmd.Process.Signal(os.Interrupt)
	if err := p.cmd.Wait(); err != nil {
		return fmt.Errorf("orderflow up --data-dir stopped with %v; its output:\n%s", err, p.out)
	}
	return nil
}

// orderQueueAnswers says whether GetQueueUrl(OrderQueue) answers 200.
func orderQueueAnswers(client *http.Client, base string) bool {
	req, _ := http.NewRequest(http.MethodPost, base+"/", strings.NewReader(`{"QueueName":"OrderQueue"}`))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS.GetQueueUrl")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// startOnce execs bin up (on dataDir, unless empty) and times it; idle is
// how long it sits deployed before its RSS is read. The process is killed
// before startOnce returns.
func startOnce(bin, dataDir string, idle time.Duration) (startSample, error) {
	var s startSample
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	p, err := launch(bin, dataDir)
	if err != nil {
		return s, err
	}
	defer p.kill()
	health := func() bool {
		resp, err := client.Get(p.base + "/_orderflow/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	for deadline := p.start.Add(20 * time.Second); ; time.Sleep(200 * time.Microsecond) {
		if health() {
			s.edge = time.Since(p.start)
			break
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("orderflow up: no health answer within 20 s; its output:\n%s", p.out)
		}
	}
	if s.deployed, err = p.deployed(client); err != nil {
		return s, err
	}
	time.Sleep(idle)
	s.rss, err = vmRSS(p.cmd.Process.Pid)
	return s, err
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// vmRSS reads a process's resident set size from /proc.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func figures(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strings.Join(parts, " ")
}
