package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/journal"
	"github.com/orderflow/orderflow/cloud/sqs"
	"github.com/orderflow/orderflow/internal/human"
	"github.com/orderflow/orderflow/internal/local"
)

func upCommand(e *env) *cobra.Command {
	var (
		addr       string
		params     []string
		faults     []string
		faultSeed  uint64
		auth       bool
		creds      []string
		hosts      []string
		dataDir    string
		recoverDir bool
		syncEvery  time.Duration
		lim        limitFlags
		queueMiB   int64
		queuedMiB  int64
		quiet      bool
		logFile    string
		zf         zipFlags
		consoleAt  string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the embedded cloud with the pipeline deployed, until Ctrl-C",
		Long: `up starts the embedded cloud on one endpoint for every service, deploys
deploy/template.yaml into it, registers ProcessOrderFunction, prints the
resources and how to point the AWS CLI at them, and streams the function's
logs until interrupted (SIGINT or SIGTERM), then shuts down gracefully.

State is kept in memory and ends with the process, unless --data-dir names a
directory: then every request acknowledged to a client (a publish, a send, a
delete, a write) is on disk first and survives kill -9 and a restart; start
again with the same --data-dir to carry on. If the data directory's disk
fills up (or the process runs out of file descriptors), up keeps running:
it says so on stderr, refuses requests with 503 ServiceUnavailable
meanwhile (acknowledging nothing it has not saved), and carries on by
itself once space or descriptors are free again. A write error that does
not pass (an I/O error) stops it, with every acknowledged request on disk.

--sync-every DURATION (with --data-dir) trades the last moments before a
power loss for speed: a request is still written to the data directory's
log before it is answered, so kill -9 of orderflow loses nothing
acknowledged, but it is answered without waiting for the disk to confirm
the write (fdatasync); the log is synced in the background at least every
DURATION, and on shutdown. A power loss or an OS crash may then lose the
requests acknowledged in the last DURATION (and up may then find the log's
end damaged and ask for --recover). The default, 0, syncs before every
answer.

If the data directory is damaged (a file cut short, overwritten or missing;
anything a crash cannot leave), up refuses to start and changes nothing.
--recover starts anyway, accepting the loss: it applies what can be read,
keeps the damaged files beside them under new names and says what was lost.

Requests are not authenticated unless --require-auth, which accepts only
requests signed (SigV4) by a --credential key over the whole request; up
warns when it listens beyond loopback without it. In every mode the
endpoint refuses what a web page can make a browser send, and Host names
other than its own (--allow-host adds one). GET ` + cloud.HealthPath + ` answers
{"status":"ok"} (200) while the cloud serves and 503 once it no longer
does, without credentials: scripts and CI can poll it.

ProcessOrderFunction runs its Go code in-process, which starts at once.
--from-zip runs instead what orderflow deploy ships to AWS: up builds the
function from this clone as deploy does (linux/arm64, the template's
architecture, under qemu-aarch64-static when it is installed; else this
machine's), puts the zip in the embedded S3 where deploy would
(orderflow-artifacts-ACCOUNT-REGION, under a key carrying its digest) and
deploys the stack naming it: the function's bootstrap runs as child
processes speaking the Lambda Runtime API, and its REPORT lines carry Max
Memory Used. --zip FILE runs a zip built before (make zip) instead of
building one. With --data-dir, each start deploys the code it is given:
start again with --from-zip after a change to run the new build, or
without it to run the Go code in-process again.`,
		Example: `  orderflow up
  orderflow up --addr 127.0.0.1:4600 --param BatchSize=5 --param RawMessageDelivery=true
  orderflow up --fault dynamodb-writes=0.1 --fault duplicate-deliveries=0.05
  orderflow up --require-auth --credential AKIDLOCAL:local-secret
  orderflow up --addr 0.0.0.0:4566 --allow-host orders.internal --require-auth --credential AKIDLOCAL:local-secret
  orderflow up --data-dir ./orderflow-data
  orderflow up --data-dir ./orderflow-data --recover
  orderflow up --data-dir ./orderflow-data --sync-every 100ms   # faster; a power loss may lose the last 100ms
  orderflow up --log-file up.log &     # in the background: the function's logs go to up.log
  orderflow up --from-zip              # the function's deployment zip, as child processes
  orderflow up --zip dist/ProcessOrderFunction.zip

  # then, from another terminal (up prints what to export):
  curl -fsS http://127.0.0.1:4566/_orderflow/health    # {"status":"ok"} once it serves
  aws --endpoint-url http://127.0.0.1:4566 sns publish \
    --topic-arn arn:aws:sns:us-east-1:000000000000:OrderTopic \
    --message file://testdata/seed-order.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			overrides, err := parseParams(params)
			if err != nil {
				return err
			}
			f := cloud.Faults{Seed: faultSeed}
			for _, spec := range faults {
				if err := cloud.ParseFault(&f, spec); err != nil {
					return usageError{err}
				}
			}
			keys := map[string]string{}
			for _, c := range creds {
				id, secret, ok := strings.Cut(c, ":")
				if !ok || id == "" || secret == "" {
					return usageError{fmt.Errorf("--credential %q must be ACCESS_KEY_ID:SECRET_ACCESS_KEY", c)}
				}
				keys[id] = secret
			}
			if auth != (len(keys) > 0) {
				return usageError{errors.New("--require-auth and --credential go together: give the keys to accept")}
			}
			for _, h := range hosts {
				if h == "" || (net.ParseIP(h) == nil && strings.ContainsAny(h, " /:[]")) {
					return usageError{fmt.Errorf("--allow-host %q must be a host name or address, without a port", h)}
				}
			}
			if recoverDir && dataDir == "" {
				return usageError{errors.New("--recover goes with --data-dir: it recovers a damaged data directory")}
			}
			if err := checkSyncEvery(syncEvery, dataDir); err != nil {
				return err
			}
			if beyondLoopback(addr) && !auth {
				fmt.Fprintf(e.stderr, "orderflow: WARNING: listening on %s, beyond this machine's loopback, WITHOUT --require-auth:\n"+
					"orderflow: WARNING: anyone who can reach it can read, change and delete every queue, message, topic and table, with any credentials.\n"+
					"orderflow: WARNING: start it with --require-auth --credential KEY:SECRET, or listen on 127.0.0.1.\n", addr)
			}
			if consoleAt != "off" && beyondLoopback(consoleAt) {
				return usageError{fmt.Errorf("--console-addr %s is beyond this machine's loopback; the console has no login, so it listens on loopback only (e.g. 127.0.0.1:4600), or give off", consoleAt)}
			}
			if err := lim.check(); err != nil {
				return usageError{err}
			}
			if queueMiB < 1 || queuedMiB < 1 || queueMiB > 1<<20 || queuedMiB > 1<<20 {
				return usageError{fmt.Errorf("--max-queue-mib %d and --max-queued-mib %d must each be from 1 to %d", queueMiB, queuedMiB, 1<<20)}
			}
			if (zf.fromZip || zf.file != "") && (overrides["CodeS3Bucket"] != "" || overrides["CodeS3Key"] != "") {
				return usageError{errors.New("--from-zip and --zip name the function's code themselves: leave out --param CodeS3Bucket and CodeS3Key")}
			}
			zip, from, err := zf.artefact(cmd.Context(), e.stdout, "orderflow up")
			if err != nil {
				return err
			}
			resuming := dataDir != "" && hasState(dataDir)
			var resumed string
			logs, closeLogs, err := functionLogSink(e, quiet, logFile)
			if err != nil {
				return err
			}
			defer closeLogs()
			l, err := startLocal(cmd.Context(), localOptions{addr: addr, params: overrides, functionLogs: logs, getenv: e.getenv, faults: f, credentials: keys, allowedHosts: hosts, dataDir: dataDir, recover: recoverDir, syncEvery: syncEvery, limits: lim,
				maxQueueBytes: queueMiB << 20, maxQueuedBytes: queuedMiB << 20, functionZip: zip,
				beforeDeploy: func(c *cloud.Cloud) {
					if resuming {
						resumed = resumedSummary(c)
					}
				}})
			if err != nil {
				return startAdvice(addr, dataDir, err)
			}
			if rec := l.Cloud.Recovery(); rec.Damaged() {
				fmt.Fprintf(e.stdout, "orderflow: recovered %s, accepting the loss: %s.\n\n", dataDir, rec)
			}
			con, err := upConsole(cmd.Context(), l, consoleAt)
			if err != nil {
				l.Close()
				return err
			}
			if con != nil {
				defer con.Close()
			}
			printResources(e, l, keys, bannerOptions{resumed: resumed, quiet: quiet, logFile: logFile, codeFrom: from, console: con})
			watchDataFile(e, l.Cloud)
			if held := l.Cloud.SQS.Engine().QueuedBytes(); held > queuedMiB<<20 {
				fmt.Fprintf(e.stderr, "orderflow: the queues in %s hold %d MiB of messages, over --max-queued-mib %d: all of them are kept, and sends are refused until the queues are drained below it.\n", dataDir, held>>20, queuedMiB)
			}
			if len(faults) > 0 {
				fmt.Fprintf(e.stdout, "Injecting faults: %s (seed %d).\n\n", strings.Join(faults, ", "), faultSeed)
			}
			select {
			case <-cmd.Context().Done():
			case <-l.Cloud.DataFileFailed():
				// A failure that does not pass by itself (a full disk
				// does: see watchDataFile): every request is refused from
				// now on, so say so and stop, rather than serve errors
				// until someone notices.
				l.Close()
				return fmt.Errorf("the data directory %s can no longer be written (%v); orderflow stopped, having refused every request since, so nothing unacknowledged was shown to a client. Fix the cause (a failing disk, say) and start again with the same --data-dir: everything acknowledged is there", dataDir, l.Cloud.DataFileErr())
			}
			if len(faults) > 0 {
				fmt.Fprintf(e.stdout, "orderflow: faults fired: %v\n", l.Cloud.FaultsFired())
			}
			fmt.Fprintln(e.stdout, "orderflow: shutting down; letting invocations in flight finish (interrupt again to stop at once)")
			return l.Close()
		},
	}
	cmd.Flags().StringVar(&addr, "addr", cloud.DefaultAddr, "address to listen on (loopback by default; without --require-auth, requests are not authenticated)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "do not stream the function's logs (orderflow logs still reads them); for running up in the background")
	cmd.Flags().StringVar(&logFile, "log-file", "", "append the function's logs to this file instead of printing them")
	cmd.Flags().StringArrayVar(&params, "param", nil, "override a template parameter, as Name=Value (repeatable)")
	cmd.Flags().StringArrayVar(&faults, "fault", nil, "inject a fault for a share of operations, as KIND=SHARE (repeatable); KIND: "+strings.Join(cloud.FaultKinds, ", ")+"; dynamodb-writes=SHARE:5xx for 500s instead of throttling")
	cmd.Flags().Uint64Var(&faultSeed, "fault-seed", 1, "seed of the fault choices")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "keep the cloud's state (queues and their messages, topics, tables) in this directory across restarts and crashes; default: in memory")
	cmd.Flags().DurationVar(&syncEvery, "sync-every", 0, syncEveryUsage)
	cmd.Flags().BoolVar(&recoverDir, "recover", false, "with --data-dir: start even if the data directory is damaged, applying what can be read, keeping the damaged files beside them and saying what was lost")
	cmd.Flags().Int64Var(&queueMiB, "max-queue-mib", sqs.DefaultMaxQueueBytes>>20, "the most one SQS queue holds, in MiB of message bodies and attributes (plus 512 bytes a message); past it sends are refused with RequestThrottled until it is drained (AWS sets no such ceiling)")
	cmd.Flags().Int64Var(&queuedMiB, "max-queued-mib", sqs.DefaultMaxQueuedBytes>>20, "the most all SQS queues hold together, in MiB, counted likewise")
	cmd.Flags().BoolVar(&auth, "require-auth", false, "accept only requests signed (SigV4) with a --credential key; by default any credentials are accepted")
	cmd.Flags().StringArrayVar(&creds, "credential", nil, "with --require-auth: a key to accept, as ACCESS_KEY_ID:SECRET_ACCESS_KEY (repeatable)")
	cmd.Flags().StringVar(&consoleAt, "console-addr", "127.0.0.1:0", "the loopback address of the web console, a listener of its own (port 0: any free port; off: no console)")
	cmd.Flags().StringArrayVar(&hosts, "allow-host", nil, "a Host `name` the endpoint answers to beyond loopback names and the --addr host (repeatable); on 0.0.0.0, the only names it answers to besides those")
	lim.register(cmd)
	zf.register(cmd)
	return cmd
}

// watchDataFile says on stderr when the data file stops taking writes for
// want of a resource, and when it takes them again: up keeps running
// meanwhile, refusing requests with 503.
func watchDataFile(e *env, c *cloud.Cloud) {
	var mu sync.Mutex
	var since time.Time
	c.ObserveDataFile(func(stalled error) {
		mu.Lock()
		defer mu.Unlock()
		if stalled != nil {
			since = time.Now()
			fmt.Fprintf(e.stderr, "orderflow: the data directory %s cannot be written at the moment (%v). Every request is refused with 503 ServiceUnavailable until it can; nothing unsaved is acknowledged. Free space on its disk (or file descriptors): orderflow carries on by itself, no restart needed.\n", c.DataDir(), stalled)
			return
		}
		fmt.Fprintf(e.stderr, "orderflow: the data directory %s is written again after %s: requests are answered.\n", c.DataDir(), human.Duration(time.Since(since)))
	})
}

// parseParams reads Name=Value template parameter overrides.
func parseParams(list []string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range list {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, usageError{fmt.Errorf("--param %q must be Name=Value", p)}
		}
		out[k] = v
	}
	return out, nil
}

// bannerOptions are what the banner says beyond the resources.
type bannerOptions struct {
	// resumed says what the data directory held at this start; empty
	// for a new one.
	resumed string
	quiet   bool
	logFile string
	// codeFrom says what the function's zip was built from (or its
	// file), when it runs from one.
	codeFrom string
	// console is the web console, when up serves one.
	console *consoleServer
}

// printResources prints up's banner: where the cloud is, what it resumed
// from its data directory, its resources, the orderflow commands to try
// (with --endpoint when the cloud is not where they look by default), how
// to point any AWS client at it, and where the function's logs go.
func printResources(e *env, l *local.Pipeline, keys map[string]string, o bannerOptions) {
	url := l.Cloud.URL()
	w := e.stdout
	where := "state in memory"
	if l.Cloud.DataDir() != "" {
		where = "state in " + l.Cloud.DataDir()
	}
	fmt.Fprintf(w, "orderflow is up: embedded cloud at %s (%s)\n", url, where)
	switch {
	case o.resumed != "":
		fmt.Fprintf(w, "Resumed from %s: %s.\n", l.Cloud.DataDir(), o.resumed)
	case l.Cloud.DataDir() != "":
		fmt.Fprintf(w, "A new data directory: start again with --data-dir %s to carry on from here.\n", l.Cloud.DataDir())
	}
	fmt.Fprintln(w)
	rows := [][2]string{
		{"OrderTopic", l.Output("OrderTopicArn")},
		{"OrderQueue", l.Output("OrderQueueUrl")},
		{"OrderDLQ", l.Output("OrderDLQUrl")},
		{"Orders table", l.Output("OrdersTableName")},
		{"Function", l.Output("ProcessOrderFunctionName") + " (event source mapping " + l.Output("OrderEventSourceMappingId") + ")"},
		{"Health", url + cloud.HealthPath},
	}
	if o.console != nil {
		rows = append(rows, [2]string{"Console", o.console.URL})
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %-14s %s\n", r[0], r[1])
	}
	fmt.Fprintf(w, "\n%s\n", codeSentence(l, o.codeFrom))
	region := l.Cloud.Region()
	accepted, keyLine := "any credentials are accepted", ""
	if len(keys) > 0 {
		id := slices.Sorted(maps.Keys(keys))[0]
		// The secret is the user's to paste: up does not print it.
		accepted = "only requests signed with a --credential key are accepted"
		keyLine = fmt.Sprintf("  export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=...   # ... is %s's secret, as given to --credential\n", id, id)
	}
	// The orderflow commands look at the default endpoint unless told
	// otherwise; when up is elsewhere, every command needs --endpoint.
	endpoint := ""
	if url != "http://"+cloud.DefaultAddr {
		endpoint = " --endpoint " + url
	}
	fmt.Fprintf(w, "\nTry it from another terminal (%s):\n%s", accepted, keyLine)
	for _, c := range []string{
		"publish --file testdata/seed-order.json   # or --order-id O1 --user-id U1 ..., or --count 100",
		"status",
		"orders get O1234",
		"dlq list",
		"logs --follow",
	} {
		name, comment, _ := strings.Cut(c, "   #")
		line := "  orderflow " + name + endpoint
		if comment != "" {
			line += "   #" + comment
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, `
Or any AWS CLI or SDK:
  export AWS_ENDPOINT_URL=%s AWS_REGION=%s AWS_DEFAULT_REGION=%s
`, url, region, region)
	if keyLine == "" {
		fmt.Fprintln(w, "  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local")
	}
	fmt.Fprintf(w, `  aws --endpoint-url %s sns publish --topic-arn %s --message file://testdata/seed-order.json
  aws --endpoint-url %s dynamodb get-item --table-name %s --key '{"orderId":{"S":"O1234"}}'

`, url, l.Output("OrderTopicArn"), url, l.Output("OrdersTableName"))
	switch {
	case o.logFile != "":
		fmt.Fprintf(w, "The function's logs go to %s (orderflow logs --follow%s reads them too). Press Ctrl-C, or send SIGTERM, to stop.\n", o.logFile, endpoint)
	case o.quiet:
		fmt.Fprintf(w, "The function's logs are not shown (--quiet): orderflow logs --follow%s reads them. Press Ctrl-C, or send SIGTERM, to stop.\n", endpoint)
	default:
		fmt.Fprintln(w, "Function logs follow. Press Ctrl-C to stop.")
	}
}

// resumedSummary says what a cloud started on an existing data directory
// holds, before any function reads from it: each table's items and each
// queue's messages (those in flight were received before the stop and
// come back after the queue's visibility timeout). It asks the cloud
// through its public API.
func resumedSummary(c *cloud.Cloud) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cfg := c.Config()
	var parts []string
	d := awsddb.NewFromConfig(cfg)
	tables, err := d.ListTables(ctx, &awsddb.ListTablesInput{})
	if err != nil {
		return "its state could not be read back (" + err.Error() + ")"
	}
	for _, name := range tables.TableNames {
		t, err := d.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s holds %s", name, plural(int(aws.ToInt64(t.Table.ItemCount)), "item")))
	}
	q := awssqs.NewFromConfig(cfg)
	queues, err := q.ListQueues(ctx, &awssqs.ListQueuesInput{})
	if err != nil {
		return "its state could not be read back (" + err.Error() + ")"
	}
	urls := slices.Clone(queues.QueueUrls)
	slices.Sort(urls)
	for _, url := range urls {
		out, err := q.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
		if err != nil {
			continue
		}
		n := func(k sqstypes.QueueAttributeName) int64 {
			v, _ := strconv.ParseInt(out.Attributes[string(k)], 10, 64)
			return v
		}
		name := url[strings.LastIndexByte(url, '/')+1:]
		s := fmt.Sprintf("%s holds %s", name, plural(int(n(sqstypes.QueueAttributeNameApproximateNumberOfMessages)+n(sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed)), "message"))
		if f := n(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible); f > 0 {
			s += fmt.Sprintf(" and %d in flight (received before the stop: visible again within %s of their receive, the queue's visibility timeout)", f, human.Duration(time.Duration(n(sqstypes.QueueAttributeNameVisibilityTimeout))*time.Second))
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "no tables and no queues"
	}
	const most = 8 // a line, not a listing: status and the AWS CLI list more
	if len(parts) > most {
		parts = append(parts[:most], fmt.Sprintf("and %d more tables and queues", len(parts)-most))
	}
	return strings.Join(parts, "; ")
}

// hasState reports whether dir holds a data file from an earlier start.
func hasState(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "cloud.db"))
	return err == nil && fi.Size() > 0
}

// functionLogSink is where up sends the function's logs: stdout, nowhere
// (--quiet), or appended to --log-file.
func functionLogSink(e *env, quiet bool, logFile string) (io.Writer, func(), error) {
	switch {
	case quiet && logFile != "":
		return nil, nil, usageError{errors.New("--quiet and --log-file go apart: --quiet shows the logs nowhere, --log-file writes them to a file")}
	case quiet:
		return io.Discard, func() {}, nil
	case logFile != "":
		f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot open --log-file: %w", err)
		}
		return f, func() { f.Close() }, nil
	}
	return e.stdout, func() {}, nil
}

// beyondLoopback reports whether a listen address can be reached from
// other machines: every interface, an address not on loopback, or a name
// other than localhost.
func beyondLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// startAdvice turns a failure to start into one plain sentence with the
// next step: a port already taken (4566 is LocalStack's too), a damaged
// data directory.
func startAdvice(addr, dir string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s is already in use by another process (another orderflow up, or LocalStack, which uses 4566 too): stop it, or start this one elsewhere with --addr 127.0.0.1:4567 and pass --endpoint http://127.0.0.1:4567 to the other commands", addr)
	}
	return damageAdvice(dir, err)
}

// damageAdvice turns a refusal to start on a damaged data directory into
// one plain sentence: which file, what is wrong, and what to do.
func damageAdvice(dir string, err error) error {
	var what string
	var de *journal.DamageError
	switch {
	case errors.As(err, &de):
		what = fmt.Sprintf("%s is damaged: %s", de.Path, de.Problem)
		if de.Offset >= 0 {
			what = fmt.Sprintf("%s is damaged at byte %d: %s", de.Path, de.Offset, de.Problem)
		}
	case errors.Is(err, journal.ErrNotDataFile):
		what = fmt.Sprintf("the data file in %s cannot be read (%v)", dir, err)
	default:
		return err
	}
	return fmt.Errorf("%s; nothing was changed: keep the directory as it is and rerun with --recover "+
		"(orderflow up --data-dir %s --recover) to start from what can be read, keeping the damaged files beside them and saying what was lost", what, dir)
}

// upConsole serves the web console for up's cloud on a loopback listener
// of its own, apart from the cloud's endpoint: that one refuses what
// browsers send (its Origin guard), and may listen beyond loopback, while
// the console is a page of its own origin, on loopback only. addr "off"
// serves none.
func upConsole(ctx context.Context, l *local.Pipeline, addr string) (*consoleServer, error) {
	if addr == "off" {
		return nil, nil
	}
	if beyondLoopback(addr) {
		return nil, usageError{fmt.Errorf("--console-addr %s is beyond this machine's loopback; the console has no login, so it listens on loopback only (e.g. 127.0.0.1:4600), or give off", addr)}
	}
	t := &target{cfg: l.Cloud.Config(), endpoint: l.Cloud.URL(), stack: stackName}
	res, err := t.resources(ctx)
	if err != nil {
		return nil, err
	}
	srv, err := newConsole(consoleOptions{target: t, res: res}).listen(addr)
	if err != nil {
		return nil, fmt.Errorf("the console cannot listen on %s (%v); choose another --console-addr, or off", addr, rootCause(err))
	}
	return srv, nil
}

// syncEveryUsage is --sync-every's help, for up and bench.
const syncEveryUsage = "with --data-dir: answer a request once it is written to the log, and sync the log to disk in the background at least this often (e.g. 100ms) instead of before every answer; kill -9 still loses nothing acknowledged, a power loss or OS crash may lose the last interval's requests; at most 10s; 0 syncs before every answer"

// checkSyncEvery refuses a --sync-every that means nothing or too much.
// The ceiling is journal.MaxSyncEvery: past a tenth of a second the
// background sync is already a negligible share of the disk's time, so a
// longer interval buys no rate, only a larger loss on a power failure.
func checkSyncEvery(d time.Duration, dataDir string) error {
	switch {
	case d < 0:
		return usageError{fmt.Errorf("--sync-every %v is negative: give an interval from 0 (sync before every answer, the default) to %v", d, journal.MaxSyncEvery)}
	case d > journal.MaxSyncEvery:
		return usageError{fmt.Errorf("--sync-every %v is above %v, the most a power loss should be allowed to take; longer intervals make nothing faster", d, journal.MaxSyncEvery)}
	case d > 0 && dataDir == "":
		return usageError{errors.New("--sync-every goes with --data-dir: in memory there is no log to sync")}
	}
	return nil
}
