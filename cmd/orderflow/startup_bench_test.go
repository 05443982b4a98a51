package main

// BenchmarkStartup measures `orderflow up` as a user meets it: the real
// binary (go build, not this test binary), exec'd afresh each iteration.
//
//	go test -run '^$' -bench Startup -benchtime 10x ./cmd/orderflow/
//
// Per start it records the time from exec to the edge answering
// GET /_orderflow/health (edge-ms), to GetQueueUrl(OrderQueue) answering
// 200, the template deployed (deployed-ms), and the process's VmRSS after
// two seconds idle (idle-rss-MiB); it reports each one's median over the
// iterations, in memory and on a fresh --data-dir.

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
	"testing"
	"time"
)

func BenchmarkStartup(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "orderflow")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	for _, mode := range []struct {
		name    string
		durable bool
	}{{"memory", false}, {"data-dir", true}} {
		b.Run(mode.name, func(b *testing.B) {
			var edge, deployed, rss []float64
			for range b.N {
				s, err := startOnce(bin, mode.durable, b.TempDir(), 2*time.Second)
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

// startOnce execs bin up on a free loopback port and times it; idle is how
// long it sits deployed before its RSS is read. The process is killed
// before startOnce returns.
func startOnce(bin string, durable bool, dir string, idle time.Duration) (startSample, error) {
	var s startSample
	port, err := freePort()
	if err != nil {
		return s, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"up", "--addr", addr, "--quiet"}
	if durable {
		args = append(args, "--data-dir", filepath.Join(dir, "data"))
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "AWS_PROFILE=", "AWS_ACCESS_KEY_ID=", "AWS_ENDPOINT_URL=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return s, err
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	base := "http://" + addr
	health := func() bool {
		resp, err := client.Get(base + "/_orderflow/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	queue := func() bool {
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
	wait := func(what string, cond func() bool) (time.Duration, error) {
		for deadline := start.Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Microsecond) {
			if cond() {
				return time.Since(start), nil
			}
		}
		return 0, fmt.Errorf("orderflow up: no %s within 20 s; its output:\n%s", what, out.String())
	}
	if s.edge, err = wait("health answer", health); err != nil {
		return s, err
	}
	if s.deployed, err = wait("OrderQueue", queue); err != nil {
		return s, err
	}
	time.Sleep(idle)
	s.rss, err = vmRSS(cmd.Process.Pid)
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
