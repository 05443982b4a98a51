package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslogs "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/dynamodb"
)

//go:embed console
var consoleFiles embed.FS

func consoleCommand(e *env, tf *targetFlags) *cobra.Command {
	var (
		addr  string
		since time.Duration
	)
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Serve the web console: the live pipeline, its dead letters, orders and each order's story",
		Long: `console serves a web console on this machine's loopback for the target
(the local cloud, --endpoint or --aws), through the same API calls as the
other commands: the pipeline with live figures and rates, the dead letters
(redrive, purge), orders by id or by user, and each order's story (as
orderflow trace tells it). It reads the target only while a page is open.

Every change (redrive, purge) is asked for in the page and must come from
the console's own page: other sites cannot make a browser send one. Against
--aws the page says so on every screen and asks for the stack's name before
any change.`,
		Example: "  orderflow console\n  orderflow console --addr 127.0.0.1:4600\n  orderflow console --aws --region eu-west-1",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since <= 0 {
				return usageError{errors.New("--since must be positive")}
			}
			if beyondLoopback(addr) {
				return usageError{fmt.Errorf("--addr %s is beyond this machine's loopback; the console has no login, so it listens on loopback only (e.g. 127.0.0.1:4600)", addr)}
			}
			ctx := cmd.Context()
			t, res, err := resolveAll(ctx, e, tf)
			if err != nil {
				return err
			}
			c := newConsole(consoleOptions{target: t, res: res, since: since})
			srv, err := c.listen(addr)
			if err != nil {
				return fmt.Errorf("the console cannot listen on %s (%v); choose another --addr", addr, rootCause(err))
			}
			fmt.Fprintf(e.stdout, "Console for %s (stack %s) at %s\nPress Ctrl-C to stop.\n", t.where(), t.stack, srv.URL)
			<-ctx.Done()
			return srv.Close()
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "the loopback address to listen on (port 0: any free port)")
	cmd.Flags().DurationVar(&since, "since", 24*time.Hour, "count the function's outcomes in its log lines from this far back")
	return cmd
}

// consoleOptions configure a console.
type consoleOptions struct {
	target *target
	res    resources
	// since is how far back the outcome counts start; default 24h.
	since time.Duration
	// now is the clock; default time.Now.
	now func() time.Time
}

// console serves the web console's pages and its JSON API.
type console struct {
	t     *target
	res   resources
	token string
	now   func() time.Time
	sqs   *awssqs.Client
	ddb   *awsddb.Client
	logs  *awslogs.Client
	pages *template.Template

	mu      sync.Mutex
	sampled time.Time
	last    *pipelineView
	series  []sample
	counter *logCounter

	jobMu sync.Mutex
	job   *consoleJob
}

func newConsole(o consoleOptions) *console {
	if o.since <= 0 {
		o.since = 24 * time.Hour
	}
	if o.now == nil {
		o.now = time.Now
	}
	b := make([]byte, 16)
	rand.Read(b)
	c := &console{t: o.target, res: o.res, token: hex.EncodeToString(b), now: o.now,
		sqs: awssqs.NewFromConfig(o.target.cfg), ddb: awsddb.NewFromConfig(o.target.cfg), logs: awslogs.NewFromConfig(o.target.cfg),
		pages: template.Must(template.ParseFS(consoleFiles, "console/index.html"))}
	c.counter = &logCounter{from: o.now().Add(-o.since).UnixMilli(), atFrom: map[string]bool{}, counts: map[string]int{}}
	return c
}

// consoleServer is a console listening on loopback.
type consoleServer struct {
	URL string
	srv *http.Server
}

func (s *consoleServer) Close() error { return s.srv.Close() }

// listen serves the console on addr, which must be on loopback.
func (c *console) listen(addr string) (*consoleServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	go srv.Serve(ln)
	return &consoleServer{URL: "http://" + ln.Addr().String() + "/", srv: srv}, nil
}

// maxConsoleBody bounds a request's body: the largest is a selection of
// message ids.
const maxConsoleBody = 64 << 10

func (c *console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	// A name other than loopback's is a page elsewhere that had its own
	// name point at 127.0.0.1 (DNS rebinding): it reads nothing here.
	if !hostIsLoopback(r.Host) {
		http.Error(w, "the console answers only to loopback host names (127.0.0.1, localhost, [::1])", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxConsoleBody)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := c.sameOrigin(r); err != nil {
			writeAPIError(w, http.StatusForbidden, err.Error())
			return
		}
	} else if strings.HasPrefix(r.URL.Path, "/api/") {
		// Reads have effects too (listing the DLQ receives its messages,
		// raising their receive counts; every read costs the target a
		// call): a page elsewhere could make a browser send a plain GET
		// (an <img>, a no-cors fetch), but not with the token header.
		if err := c.ownPage(r); err != nil {
			writeAPIError(w, http.StatusForbidden, err.Error())
			return
		}
	}
	switch p := r.URL.Path; {
	case p == "/":
		c.index(w, r)
	case strings.HasPrefix(p, "/static/"):
		sub, _ := fs.Sub(consoleFiles, "console")
		w.Header().Set("Cache-Control", "no-cache")
		http.StripPrefix("/static/", http.FileServerFS(sub)).ServeHTTP(w, r)
	case p == "/api/pipeline" && r.Method == http.MethodGet:
		c.apiPipeline(w, r)
	case p == "/api/dlq" && r.Method == http.MethodGet:
		c.apiDLQ(w, r)
	case p == "/api/dlq/redrive" && r.Method == http.MethodPost:
		c.apiRedrive(w, r)
	case p == "/api/dlq/purge" && r.Method == http.MethodPost:
		c.apiPurge(w, r)
	case p == "/api/job" && r.Method == http.MethodGet:
		c.apiJob(w)
	case p == "/api/orders" && r.Method == http.MethodGet:
		c.apiOrders(w, r)
	case strings.HasPrefix(p, "/api/trace/") && r.Method == http.MethodGet:
		c.apiTrace(w, r, strings.TrimPrefix(p, "/api/trace/"))
	case strings.HasPrefix(p, "/api/"):
		writeAPIError(w, http.StatusNotFound, "no such API: "+r.Method+" "+p)
	default:
		http.NotFound(w, r)
	}
}

// hostIsLoopback reports whether a request's Host names loopback.
func hostIsLoopback(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// sameOrigin checks that a changing request comes from the console's own
// page: a browser sends Origin (and Sec-Fetch-Site) with every POST, which
// a page elsewhere cannot forge, and only the console's page knows the
// token it puts in X-Orderflow-Token.
func (c *console) sameOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return fmt.Errorf("refused: a %s request; the console takes changes only from its own page", site)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return errors.New("refused: no Origin header; the console takes changes only from its own page")
	}
	if u, err := url.Parse(origin); err != nil || u.Scheme != "http" || u.Host != r.Host {
		return fmt.Errorf("refused: Origin %s is not the console's own", origin)
	}
	if err := c.ownPage(r); err != nil {
		return err
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return errors.New("refused: a change is sent as application/json")
	}
	return nil
}

// ownPage checks what every API request of the console's page carries:
// no cross-site fetch metadata, and the per-process token (compared in
// constant time).
func (c *console) ownPage(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return fmt.Errorf("refused: a %s request; the console answers only its own page", site)
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Orderflow-Token")), []byte(c.token)) != 1 {
		return errors.New("refused: the X-Orderflow-Token header is missing or wrong; reload the console's page")
	}
	return nil
}

func (c *console) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	c.pages.Execute(w, map[string]any{
		"Token": c.token, "Where": c.t.where(), "Stack": c.t.stack, "AWS": c.t.endpoint == "",
	})
}

func writeAPIJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

func writeAPIError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// topology is what the stack's outputs name, for the pipeline's drawing.
type topology struct {
	Topic, Queue, DLQ, Function, Table, LogGroup string
}

// pipelineView is what the pipeline page shows.
type pipelineView struct {
	Where    string         `json:"where"`
	Stack    string         `json:"stack"`
	AWS      bool           `json:"aws"`
	Topology topology       `json:"topology"`
	At       time.Time      `json:"at"`
	Queue    depth          `json:"queue"`
	DLQ      depth          `json:"dlq"`
	Items    int64          `json:"items"`
	Outcomes map[string]int `json:"outcomes"`
	// Invocations counts the function's REPORT lines.
	Invocations int `json:"invocations"`
	// Published is what reached OrderQueue as far as the public APIs
	// tell: the events the function settled (every outcome but failed,
	// which comes again) and those waiting in OrderQueue.
	Published int `json:"published"`
	// CatchingUp says the log lines are not all read yet.
	CatchingUp bool     `json:"catchingUp"`
	Series     []sample `json:"series"`
	Errors     []string `json:"errors,omitempty"`
}

// sample is the cumulative figures at one time, for the rate charts.
type sample struct {
	T         int64 `json:"t"` // ms
	Stored    int   `json:"stored"`
	Duplicate int   `json:"duplicate"`
	Stale     int   `json:"stale"`
	Invalid   int   `json:"invalid"`
	Failed    int   `json:"failed"`
	Items     int64 `json:"items"`
	Queue     int   `json:"queue"`
	DLQ       int   `json:"dlq"`
}

// sampleEvery is how often at most the pipeline page's figures are read,
// however many pages ask; seriesSpan is how far back its charts go.
const (
	sampleEvery = time.Second
	seriesSpan  = 5 * time.Minute
)

// pipeline reads the figures, at most once a sampleEvery: the pages that
// ask meanwhile share them. Nothing reads them while no page asks.
func (c *console) pipeline(ctx context.Context) *pipelineView {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.last != nil && now.Sub(c.sampled) < sampleEvery {
		return c.last
	}
	v := &pipelineView{Where: c.t.where(), Stack: c.t.stack, AWS: c.t.endpoint == "", At: now.UTC(),
		Topology: topology{Topic: c.res.TopicArn, Queue: queueName(c.res.QueueURL), DLQ: queueName(c.res.DLQURL), Function: c.res.Function, Table: c.res.Table, LogGroup: c.res.LogGroup}}
	var err error
	if v.Queue, err = queueDepth(ctx, c.sqs, c.res.QueueURL); err != nil {
		v.Errors = append(v.Errors, c.t.explain("read OrderQueue's depth", err).Error())
	}
	if v.DLQ, err = queueDepth(ctx, c.sqs, c.res.DLQURL); err != nil {
		v.Errors = append(v.Errors, c.t.explain("read OrderDLQ's depth", err).Error())
	}
	if table, err := c.ddb.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String(c.res.Table)}); err != nil {
		v.Errors = append(v.Errors, c.t.explain("describe table "+c.res.Table, err).Error())
	} else {
		v.Items = aws.ToInt64(table.Table.ItemCount)
	}
	more, err := c.counter.read(ctx, c.logs, c.res.LogGroup)
	if err != nil {
		v.Errors = append(v.Errors, c.t.explain("read log group "+c.res.LogGroup, err).Error())
	}
	v.CatchingUp = more
	v.Outcomes = map[string]int{}
	for _, k := range []string{"stored", "duplicate", "stale", "invalid", "failed"} {
		v.Outcomes[k] = c.counter.counts[k]
	}
	v.Invocations = c.counter.invocations
	settled := v.Outcomes["stored"] + v.Outcomes["duplicate"] + v.Outcomes["stale"] + v.Outcomes["invalid"]
	v.Published = settled + v.Queue.Visible + v.Queue.InFlight + v.Queue.Delayed
	s := sample{T: now.UnixMilli(), Stored: v.Outcomes["stored"], Duplicate: v.Outcomes["duplicate"], Stale: v.Outcomes["stale"],
		Invalid: v.Outcomes["invalid"], Failed: v.Outcomes["failed"], Items: v.Items, Queue: v.Queue.Visible + v.Queue.InFlight, DLQ: v.DLQ.Visible + v.DLQ.InFlight}
	c.series = append(c.series, s)
	cut := 0
	for cut < len(c.series) && now.UnixMilli()-c.series[cut].T > seriesSpan.Milliseconds() {
		cut++
	}
	c.series = c.series[cut:]
	v.Series = append([]sample(nil), c.series...)
	c.last, c.sampled = v, now
	return v
}

// logCounter counts the function's outcomes and invocations in its log
// group, reading only the lines it has not read yet.
type logCounter struct {
	from        int64           // ms: lines from here on are read next
	atFrom      map[string]bool // ids of the lines read at exactly from
	counts      map[string]int
	invocations int
}

// logPagesPerRead bounds the pages one read takes, so that a page opened on
// a group of millions of lines answers at once and catches up over reads.
const logPagesPerRead = 20

// read reads the lines since the last read; more reports that it stopped
// before the end.
func (lc *logCounter) read(ctx context.Context, client *awslogs.Client, group string) (more bool, err error) {
	in := &awslogs.FilterLogEventsInput{LogGroupName: aws.String(group), StartTime: aws.Int64(lc.from)}
	p := awslogs.NewFilterLogEventsPaginator(client, in)
	for pages := 0; p.HasMorePages(); pages++ {
		if pages == logPagesPerRead {
			return true, nil
		}
		page, err := p.NextPage(ctx)
		var noGroup *logstypes.ResourceNotFoundException
		if errors.As(err, &noGroup) {
			return false, nil // the function has not run yet
		}
		if err != nil {
			return false, err
		}
		for _, le := range page.Events {
			id, ts := aws.ToString(le.EventId), aws.ToInt64(le.Timestamp)
			if ts < lc.from || (ts == lc.from && lc.atFrom[id]) {
				continue
			}
			if ts > lc.from {
				lc.from, lc.atFrom = ts, map[string]bool{}
			}
			lc.atFrom[id] = true
			msg := aws.ToString(le.Message)
			if strings.HasPrefix(msg, "REPORT RequestId:") {
				lc.invocations++
				continue
			}
			if _, rest, ok := strings.Cut(msg, `"outcome":"`); ok {
				if o, _, ok := strings.Cut(rest, `"`); ok {
					lc.counts[o]++
				}
			}
		}
	}
	return false, nil
}

func (c *console) apiPipeline(w http.ResponseWriter, r *http.Request) {
	writeAPIJSON(w, c.pipeline(r.Context()))
}

// consoleDLQMax bounds the dead letters the page lists.
const consoleDLQMax = 200

func (c *console) apiDLQ(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	st, err := readDLQState(ctx, c.sqs, c.res.DLQURL)
	if err != nil {
		writeAPIError(w, http.StatusBadGateway, c.t.explain("read OrderDLQ's attributes", err).Error())
		return
	}
	views := []deadLetterView{}
	if st.Visible > 0 {
		if views, err = peekDLQ(ctx, c.sqs, c.res.DLQURL, consoleDLQMax, st.Visible); err != nil {
			writeAPIError(w, http.StatusBadGateway, c.t.explain("read OrderDLQ", err).Error())
			return
		}
	}
	if views == nil {
		views = []deadLetterView{}
	}
	writeAPIJSON(w, dlqListing{Visible: st.Visible, InFlight: st.InFlight, Delayed: st.Delayed,
		VisibilityTimeout: st.VisibilityTimeout, Listed: len(views), Messages: views})
}

// consoleJob is a redrive or purge the page started, with its progress.
type consoleJob struct {
	ID      int       `json:"id"`
	Kind    string    `json:"kind"`
	Started time.Time `json:"started"`
	Total   int       `json:"total"`
	Done    int       `json:"done"`
	Over    bool      `json:"over"`
	Outcome string    `json:"outcome,omitempty"`
	Error   string    `json:"error,omitempty"`
	prog    *progress
}

// change is a changing request's body.
type change struct {
	// Mode of a redrive: all, transient or selected.
	Mode string   `json:"mode"`
	IDs  []string `json:"ids"`
	// Confirm is the page's confirmation: "yes" locally; on AWS the
	// stack's name, typed by the person.
	Confirm string `json:"confirm"`
}

func (c *console) readChange(w http.ResponseWriter, r *http.Request) (change, bool) {
	var ch change
	if err := json.NewDecoder(r.Body).Decode(&ch); err != nil {
		writeAPIError(w, http.StatusBadRequest, "the request's body is not a change: "+err.Error())
		return ch, false
	}
	want := "yes"
	if c.t.endpoint == "" {
		want = c.t.stack
	}
	if ch.Confirm != want {
		msg := `not confirmed: the request must carry "confirm":"yes"`
		if c.t.endpoint == "" {
			msg = "not confirmed: this is AWS; type the stack's name (" + c.t.stack + ") to confirm"
		}
		writeAPIError(w, http.StatusPreconditionFailed, msg)
		return ch, false
	}
	return ch, true
}

// startJob starts run in the background unless a job is running.
func (c *console) startJob(w http.ResponseWriter, kind string, total int, run func(ctx context.Context, prog *progress) (string, error)) {
	c.jobMu.Lock()
	defer c.jobMu.Unlock()
	if c.job != nil && !c.job.Over {
		writeAPIError(w, http.StatusConflict, fmt.Sprintf("a %s is under way; wait until it ends", c.job.Kind))
		return
	}
	id := 1
	if c.job != nil {
		id = c.job.ID + 1
	}
	j := &consoleJob{ID: id, Kind: kind, Started: c.now().UTC(), Total: total, prog: newProgress(&env{stderr: io.Discard}, 0, kind)}
	c.job = j
	go func() {
		// The page may close meanwhile: the job runs to its end.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		outcome, err := run(ctx, j.prog)
		c.mu.Lock()
		c.last = nil // the next figures are fresh
		c.mu.Unlock()
		c.jobMu.Lock()
		defer c.jobMu.Unlock()
		j.Over, j.Outcome = true, outcome
		if err != nil {
			j.Error = err.Error()
		}
	}()
	writeAPIJSON(w, c.jobView())
}

// jobView is the current job as the page reads it; the caller holds jobMu.
func (c *console) jobView() *consoleJob {
	if c.job == nil {
		return nil
	}
	j := *c.job
	j.prog.mu.Lock()
	j.Done = j.prog.n
	j.prog.mu.Unlock()
	return &j
}

func (c *console) apiJob(w http.ResponseWriter) {
	c.jobMu.Lock()
	defer c.jobMu.Unlock()
	writeAPIJSON(w, map[string]any{"job": c.jobView()})
}

func (c *console) apiRedrive(w http.ResponseWriter, r *http.Request) {
	ch, ok := c.readChange(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	st, err := readDLQState(ctx, c.sqs, c.res.DLQURL)
	if err != nil {
		writeAPIError(w, http.StatusBadGateway, c.t.explain("read OrderDLQ's attributes", err).Error())
		return
	}
	if st.Visible == 0 {
		writeAPIError(w, http.StatusConflict, "OrderDLQ has no visible messages to redrive")
		return
	}
	switch ch.Mode {
	case "all":
		c.startJob(w, "redrive", st.Visible, func(ctx context.Context, prog *progress) (string, error) {
			if _, err := c.sqs.StartMessageMoveTask(ctx, &awssqs.StartMessageMoveTaskInput{SourceArn: aws.String(c.res.DLQArn), DestinationArn: aws.String(c.res.QueueArn)}); err != nil {
				return "", c.t.explain("start moving messages out of OrderDLQ", err)
			}
			task, err := followMoveTask(ctx, c.sqs, c.res.DLQArn, prog)
			if err != nil {
				return "", c.t.explain("follow the move task", err)
			}
			moved := int(task.ApproximateNumberOfMessagesMoved)
			if s := aws.ToString(task.Status); s != "COMPLETED" {
				return "", fmt.Errorf("the move task ended %s after moving %s: %s", s, plural(moved, "message"), aws.ToString(task.FailureReason))
			}
			return fmt.Sprintf("Moved %s from OrderDLQ to OrderQueue.", plural(moved, "message")), nil
		})
	case "transient", "selected":
		if ch.Mode == "selected" && len(ch.IDs) == 0 {
			writeAPIError(w, http.StatusBadRequest, "select the messages to redrive")
			return
		}
		pick := map[string]bool{}
		for _, id := range ch.IDs {
			pick[id] = true
		}
		c.startJob(w, "redrive", st.Visible, func(ctx context.Context, prog *progress) (string, error) {
			move := func(m sqstypes.Message) bool { return pick[aws.ToString(m.MessageId)] }
			if ch.Mode == "transient" {
				move = func(m sqstypes.Message) bool { return viewOf(m).Code == codeMaxReceives }
			}
			moved, kept, err := moveMatching(ctx, c.sqs, c.res.DLQURL, c.res.QueueURL, st.Visible, prog, move)
			if err != nil {
				return "", c.t.explain("move messages out of OrderDLQ", err)
			}
			return fmt.Sprintf("Moved %s from OrderDLQ to OrderQueue; %d left in OrderDLQ.", plural(moved, "message"), kept), nil
		})
	default:
		writeAPIError(w, http.StatusBadRequest, `a redrive's mode is "all", "transient" or "selected"`)
	}
}

func (c *console) apiPurge(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.readChange(w, r); !ok {
		return
	}
	d, err := queueDepth(r.Context(), c.sqs, c.res.DLQURL)
	if err != nil {
		writeAPIError(w, http.StatusBadGateway, c.t.explain("read OrderDLQ's depth", err).Error())
		return
	}
	n := d.Visible + d.InFlight + d.Delayed
	c.startJob(w, "purge", n, func(ctx context.Context, prog *progress) (string, error) {
		if _, err := c.sqs.PurgeQueue(ctx, &awssqs.PurgeQueueInput{QueueUrl: aws.String(c.res.DLQURL)}); err != nil {
			var inProgress *sqstypes.PurgeQueueInProgress
			if errors.As(err, &inProgress) {
				return "", errors.New("OrderDLQ was purged less than a minute ago (PurgeQueueInProgress); SQS allows one purge a minute: try again in a minute")
			}
			return "", c.t.explain("purge OrderDLQ", err)
		}
		prog.add(n)
		return fmt.Sprintf("Purged OrderDLQ (%s).", plural(n, "message")), nil
	})
}

// ordersPage is a page of orders and the token of the next.
type ordersPage struct {
	Orders []orderflow.Order `json:"orders"`
	Next   string            `json:"next,omitempty"`
}

// ordersPageSize is how many orders a page of the console lists.
const ordersPageSize = 25

func (c *console) apiOrders(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	if id := q.Get("id"); id != "" {
		o, err := dynamodb.New(c.ddb, c.res.Table).GetOrder(ctx, id)
		if errors.Is(err, dynamodb.ErrNotFound) {
			writeAPIJSON(w, ordersPage{Orders: []orderflow.Order{}})
			return
		}
		if err != nil {
			writeAPIError(w, http.StatusBadGateway, c.t.explain("read order "+id, errors.Unwrap(err)).Error())
			return
		}
		writeAPIJSON(w, ordersPage{Orders: []orderflow.Order{o}})
		return
	}
	start, err := decodePageToken(q.Get("next"))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "the next page's token is not one the console gave: "+err.Error())
		return
	}
	var items, last []map[string]ddbtypes.AttributeValue
	if user := q.Get("user"); user != "" {
		out, err := c.ddb.Query(ctx, &awsddb.QueryInput{
			TableName: aws.String(c.res.Table), IndexName: aws.String(dynamodb.UserIndex),
			KeyConditionExpression:    aws.String("#u = :u"),
			ExpressionAttributeNames:  map[string]string{"#u": dynamodb.AttrUserID},
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":u": &ddbtypes.AttributeValueMemberS{Value: user}},
			ScanIndexForward:          aws.Bool(false), Limit: aws.Int32(ordersPageSize), ExclusiveStartKey: start,
		})
		if err != nil {
			writeAPIError(w, http.StatusBadGateway, c.t.explain("read the orders of user "+user, err).Error())
			return
		}
		items = out.Items
		if len(out.LastEvaluatedKey) > 0 {
			last = append(last, out.LastEvaluatedKey)
		}
	} else {
		out, err := c.ddb.Scan(ctx, &awsddb.ScanInput{TableName: aws.String(c.res.Table), Limit: aws.Int32(ordersPageSize), ExclusiveStartKey: start})
		if err != nil {
			writeAPIError(w, http.StatusBadGateway, c.t.explain("list orders", err).Error())
			return
		}
		items = out.Items
		if len(out.LastEvaluatedKey) > 0 {
			last = append(last, out.LastEvaluatedKey)
		}
	}
	page := ordersPage{Orders: []orderflow.Order{}}
	for _, it := range items {
		o, err := dynamodb.OrderFromItem(it)
		if err != nil {
			writeAPIError(w, http.StatusBadGateway, fmt.Sprintf("an item in %s is not an order: %v", c.res.Table, err))
			return
		}
		page.Orders = append(page.Orders, o)
	}
	if len(last) > 0 {
		page.Next = encodePageToken(last[0])
	}
	writeAPIJSON(w, page)
}

// pageKey is one attribute of a DynamoDB pagination key, as a page token
// carries it: a key's attributes are strings or numbers.
type pageKey struct {
	S string `json:"S,omitempty"`
	N string `json:"N,omitempty"`
}

func encodePageToken(k map[string]ddbtypes.AttributeValue) string {
	m := map[string]pageKey{}
	for name, v := range k {
		switch v := v.(type) {
		case *ddbtypes.AttributeValueMemberS:
			m[name] = pageKey{S: v.Value}
		case *ddbtypes.AttributeValueMemberN:
			m[name] = pageKey{N: v.Value}
		}
	}
	b, _ := json.Marshal(m)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageToken(tok string) (map[string]ddbtypes.AttributeValue, error) {
	if tok == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return nil, err
	}
	var m map[string]pageKey
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if len(m) == 0 || len(m) > 4 {
		return nil, errors.New("a key has one to four attributes")
	}
	k := map[string]ddbtypes.AttributeValue{}
	for name, v := range m {
		switch {
		case v.S != "" && v.N == "":
			k[name] = &ddbtypes.AttributeValueMemberS{Value: v.S}
		case v.N != "" && v.S == "":
			k[name] = &ddbtypes.AttributeValueMemberN{Value: v.N}
		default:
			return nil, fmt.Errorf("attribute %s is neither a string nor a number", name)
		}
	}
	return k, nil
}

func (c *console) apiTrace(w http.ResponseWriter, r *http.Request, id string) {
	if id == "" {
		writeAPIError(w, http.StatusBadRequest, "give an order id")
		return
	}
	tr := &tracer{t: c.t, res: c.res, id: id, start: c.now().Add(-24 * time.Hour).UnixMilli(), seen: map[string]bool{},
		logs: c.logs, sqs: c.sqs, ddb: c.ddb}
	s, err := tr.read(r.Context())
	if err != nil {
		writeAPIError(w, http.StatusBadGateway, err.Error())
		return
	}
	writeAPIJSON(w, s)
}
