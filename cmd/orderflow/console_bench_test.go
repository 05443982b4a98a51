package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/chromedp/chromedp"
)

// The console's page load, in chromium: from navigation until the pipeline
// page shows its first figures (ms/op), and the bytes the page and its
// first reading weigh (bytes/load: the HTML, its script and style sheet,
// and one /api/pipeline answer).
//
//	go test -run '^$' -bench BenchmarkConsolePageLoad ./cmd/orderflow/
func BenchmarkConsolePageLoad(b *testing.B) {
	ctx := benchBrowser(b)
	f := benchConsole(b)
	size := 0
	for _, p := range []string{"", "static/app.js", "static/app.css", "api/pipeline"} {
		resp, err := http.Get(f.url + p)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		size += int(n)
	}
	b.ResetTimer()
	for range b.N {
		if err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(f.url), chromedp.WaitVisible(chromedp.CSS("#items"))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size), "bytes/load")
}

// The pipeline's throughput with one console page open on the pipeline
// page (polling every 2 s) against none: each op publishes 2,000 orders
// and waits until Orders holds them all; orders/s is the figure. Run it
// with -count to alternate the two.
//
//	go test -run '^$' -bench BenchmarkPipelineWithAConsolePage -benchtime 1x -count 4 ./cmd/orderflow/
func BenchmarkPipelineWithAConsolePage(b *testing.B) {
	for _, open := range []bool{false, true} {
		name := "no page"
		if open {
			name = "one page"
		}
		b.Run(name, func(b *testing.B) {
			ctx := benchBrowser(b)
			f := benchConsole(b)
			page := "about:blank"
			if open {
				page = f.url
			}
			if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
				b.Fatal(err)
			}
			const n = 2000
			ddb := awsddb.NewFromConfig(f.l.Cloud.Config())
			var total time.Duration
			for i := range b.N {
				start := time.Now()
				var out, errOut strings.Builder
				args := []string{"publish", "--endpoint", f.cloud, "--count", strconv.Itoa(n), "--seed", strconv.Itoa(i + 1)}
				if code := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); code != 0 {
					b.Fatalf("publish: %s", errOut.String())
				}
				for want := int64((i + 1) * n); ; {
					t, err := ddb.DescribeTable(context.Background(), &awsddb.DescribeTableInput{TableName: aws.String(f.c.res.Table)})
					if err != nil {
						b.Fatal(err)
					}
					if aws.ToInt64(t.Table.ItemCount) >= want {
						break
					}
					if time.Since(start) > 2*time.Minute {
						b.Fatalf("Orders holds %d of %d after 2 minutes", aws.ToInt64(t.Table.ItemCount), want)
					}
					time.Sleep(20 * time.Millisecond)
				}
				total += time.Since(start)
			}
			b.ReportMetric(float64(n*b.N)/total.Seconds(), "orders/s")
		})
	}
}

func benchBrowser(b *testing.B) context.Context {
	b.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		b.Skip("missing: chromium (Debian's package); run make deps, or apt-get install chromium as root")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		b.Fatal(err)
	}
	return ctx
}

// benchConsole is startConsoleFixture for a benchmark.
func benchConsole(b *testing.B) *consoleFixture {
	b.Helper()
	l, err := startLocal(context.Background(), localOptions{addr: "127.0.0.1:0", functionLogs: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	tg := &target{cfg: sdkConfig(l.Cloud.URL()), endpoint: l.Cloud.URL(), stack: stackName}
	res, err := tg.resources(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	c := newConsole(consoleOptions{target: tg, res: res})
	srv, err := c.listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	return &consoleFixture{l: l, c: c, srv: srv, url: srv.URL, cloud: l.Cloud.URL()}
}
