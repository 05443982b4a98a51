package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/chromedp/chromedp"
)

// The console's page load, in chromium: from navigation until the pipeline
// page shows its first figures, as chromedp sees it (ns/op, which includes
// the DevTools round trips and its polling for the element), the browser's
// own navigation-to-load-event time (ms-to-load-event), and the bytes the
// page and its first reading weigh (bytes/load: the HTML, its script and
// style sheet, and one /api/pipeline answer).
//
//	go test -run '^$' -bench BenchmarkConsolePageLoad ./cmd/orderflow/
func BenchmarkConsolePageLoad(b *testing.B) {
	ctx := benchBrowser(b)
	f, stop := benchConsole(b)
	b.Cleanup(stop)
	size := 0
	for _, p := range []string{"", "static/app.js", "static/app.css", "api/pipeline"} {
		req, err := http.NewRequest(http.MethodGet, f.url+p, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("X-Orderflow-Token", f.c.token) // as the page sends it
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		size += int(n)
	}
	b.ResetTimer()
	var loaded float64
	for range b.N {
		if err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(f.url), chromedp.WaitVisible(chromedp.CSS("#items"))); err != nil {
			b.Fatal(err)
		}
		// The browser's own account: navigation start to the load event.
		ms, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`performance.getEntriesByType("navigation")[0].loadEventEnd`))
		if err != nil {
			b.Fatal(err)
		}
		loaded += ms
	}
	b.ReportMetric(float64(size), "bytes/load")
	b.ReportMetric(loaded/float64(b.N), "ms-to-load-event")
}

// The pipeline's throughput with one console page open on the pipeline
// page (polling every 2 s) against none (the browser on about:blank):
// rounds of one run of each, alternating which goes first, each run on a
// new cloud publishing 3,000 orders and waiting until Orders holds them
// all. It reports each mode's median orders/s and their ratio.
//
//	go test -run '^$' -bench BenchmarkPipelineWithAConsolePage -benchtime 1x ./cmd/orderflow/
func BenchmarkPipelineWithAConsolePage(b *testing.B) {
	const rounds, n = 5, 3000
	ctx := benchBrowser(b)
	runOnce := func(open bool) float64 {
		f, stop := benchConsole(b)
		defer stop()
		page := "about:blank"
		if open {
			page = f.url
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
			b.Fatal(err)
		}
		ddb := awsddb.NewFromConfig(f.l.Cloud.Config())
		start := time.Now()
		var out, errOut strings.Builder
		args := []string{"publish", "--endpoint", f.cloud, "--count", strconv.Itoa(n)}
		if code := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); code != 0 {
			b.Fatalf("publish: %s", errOut.String())
		}
		for {
			t, err := ddb.DescribeTable(context.Background(), &awsddb.DescribeTableInput{TableName: aws.String(f.c.res.Table)})
			if err != nil {
				b.Fatal(err)
			}
			if aws.ToInt64(t.Table.ItemCount) >= n {
				break
			}
			if time.Since(start) > 2*time.Minute {
				b.Fatalf("Orders holds %d of %d after 2 minutes", aws.ToInt64(t.Table.ItemCount), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return n / time.Since(start).Seconds()
	}
	for range b.N {
		var without, with []float64
		for r := range rounds {
			if r%2 == 0 {
				without = append(without, runOnce(false))
				with = append(with, runOnce(true))
			} else {
				with = append(with, runOnce(true))
				without = append(without, runOnce(false))
			}
		}
		b.Logf("orders/s without a page: %.0f; with one page open: %.0f", without, with)
		slices.Sort(without)
		slices.Sort(with)
		b.ReportMetric(without[rounds/2], "orders/s-no-page")
		b.ReportMetric(with[rounds/2], "orders/s-one-page")
		b.ReportMetric(with[rounds/2]/without[rounds/2], "ratio")
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

// benchConsole is startConsoleFixture for a benchmark; stop stops both.
func benchConsole(b *testing.B) (f *consoleFixture, stop func()) {
	b.Helper()
	l, err := startLocal(context.Background(), localOptions{addr: "127.0.0.1:0", functionLogs: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
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
	return &consoleFixture{l: l, c: c, srv: srv, url: srv.URL, cloud: l.Cloud.URL()}, func() { srv.Close(); l.Close() }
}
