package main

// BenchmarkStartup measures `orderflow up` as a user meets it: the real
// binary (go build, not this test binary), exec'd afresh each iteration.
//
//	go test -run '^$' -bench Startup -benchtime 10x ./cmd/orderflow/
//
// Per start it records the time from exec to the edge answering
// GET /_orderflow/health (edge-ms), to up printing its banner, the
// template deployed (deployed-ms; GetQueueUrl(OrderQueue) then answers
// 200, or the start fails), the process's VmRSS after
// two seconds idle (idle-rss-MiB), and its VmRSS again after a burst of
// requests through the SDK and two seconds idle (burst-rss-MiB: see
// burst); it reports each one's median over the iterations: in memory, on
// a new --data-dir, and on a --data-dir an earlier start made. The burst's
// figure is the one to judge a memory saving by: pages dropped at idle
// that the first requests fault back do not show in it.

import (
	"bytes"
	"context"
	"errors"
	"flag"
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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/internal/ordergen"
)

// startupBin, if set, is the binary BenchmarkStartup starts instead of
// building this package's: another build of orderflow (CGO_ENABLED=0, say),
// or the serving-only experiment of docs/experiments/serveonly.
var startupBin = flag.String("startup-bin", "", "BenchmarkStartup: the binary to start (its up subcommand) instead of go build of this package")

func BenchmarkStartup(b *testing.B) {
	tmp := b.TempDir()
	bin := *startupBin
	if bin == "" {
		bin = filepath.Join(tmp, "orderflow")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
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
			var edge, deployed, rss, burstRSS []float64
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
				burstRSS = append(burstRSS, float64(s.burstRSS)/(1<<20))
			}
			b.ReportMetric(median(edge), "edge-ms")
			b.ReportMetric(median(deployed), "deployed-ms")
			b.ReportMetric(median(rss), "idle-rss-MiB")
			b.ReportMetric(median(burstRSS), "burst-rss-MiB")
			b.ReportMetric(0, "ns/op") // the figures above are what this measures
			b.Logf("edge ms %s; deployed ms %s; idle RSS MiB %s; after a burst MiB %s", figures(edge), figures(deployed), figures(rss), figures(burstRSS))
		})
	}
}

type startSample struct {
	edge, deployed time.Duration
	rss, burstRSS  int64
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
	if s.rss, err = vmRSS(p.cmd.Process.Pid); err != nil {
		return s, err
	}
	if err := burst(p.base); err != nil {
		return s, fmt.Errorf("the burst: %w; up's output:\n%s", err, p.out)
	}
	time.Sleep(idle)
	s.burstRSS, err = vmRSS(p.cmd.Process.Pid)
	return s, err
}

// burstCount is how many requests of each kind burst makes.
const burstCount = 1000

// burst drives what a test suite drives through the SDK: burstCount
// SendMessage, ReceiveMessage and DeleteMessage on a queue of its own (JSON
// protocol), and burstCount orders published to OrderTopic, which the
// function stores in DynamoDB; it returns once OrderQueue is drained (the
// function has taken every order), in 30 s at most.
func burst(base string) error {
	ctx := context.Background()
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(base),
		Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", "")}
	q := awssqs.NewFromConfig(cfg)
	created, err := q.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("burst")})
	if err != nil {
		return err
	}
	for i := range burstCount {
		if _, err := q.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: created.QueueUrl, MessageBody: aws.String(fmt.Sprintf(`{"n":%d}`, i))}); err != nil {
			return err
		}
		got, err := q.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: created.QueueUrl, MaxNumberOfMessages: 1})
		if err != nil {
			return err
		}
		for _, m := range got.Messages {
			if _, err := q.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: created.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				return err
			}
		}
	}
	orders, err := ordergen.Generate(ordergen.Options{Count: burstCount, Seed: 18})
	if err != nil {
		return err
	}
	topic := "arn:aws:sns:us-east-1:" + awsenv.DefaultAccountID + ":OrderTopic"
	t := awssns.NewFromConfig(cfg)
	for _, ev := range orders.Events {
		if _, err := t.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(ev.Body)}); err != nil {
			return err
		}
	}
	orderQueue, err := q.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String("OrderQueue")})
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		attrs, err := q.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: orderQueue.QueueUrl,
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			return err
		}
		if attrs.Attributes["ApproximateNumberOfMessages"] == "0" && attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0" {
			return nil
		}
	}
	return errors.New("OrderQueue was not drained within 30 s of the burst")
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
