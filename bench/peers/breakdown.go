package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// breakdown reads a CPU profile written by -cpuprofile (through
// `go tool pprof -raw`) and sorts every sample into where the time went:
// orderflow's side of each request (the HTTP server, decoding, the engine,
// encoding, the journal, the edge, the service's own code), the function
// (host, handler, its SDK calls, its logs), the benchmark's clients, GC and
// the runtime. The first matching rule wins, walking the sample's whole
// stack; start-up (cloud.Start, the peers' servers starting, the orders
// generated) is shown but not counted per unit.
//
//	go run . -stacks orderflow -workloads sqs-cycle -durable=false -cpuprofile q.prof
//	go run . -breakdown q.prof -units 41880     # the messages the run moved
func breakdown(w io.Writer, profile string, units float64) error {
	raw, err := exec.Command("go", "tool", "pprof", "-raw", profile).Output()
	if err != nil {
		return fmt.Errorf("go tool pprof -raw %s: %w", profile, err)
	}
	type sample struct {
		ns   int64
		locs []int
	}
	var (
		samples []sample
		locs    = map[int][]string{} // location → its functions, inlined first
		section string
		cur     = -1
		sampleR = regexp.MustCompile(`^\s*\d+\s+(\d+):\s*(.*)$`)
		locR    = regexp.MustCompile(`^\s*(\d+): 0x[0-9a-f]+ M=\d+ (\S+)`)
		inlR    = regexp.MustCompile(`^\s+(\S+) \S+:\d+`)
	)
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Samples:"):
			section = "samples"
			continue
		case strings.HasPrefix(line, "Locations"):
			section = "locations"
			continue
		case strings.HasPrefix(line, "Mappings"):
			section = ""
			continue
		}
		switch section {
		case "samples":
			if m := sampleR.FindStringSubmatch(line); m != nil {
				ns, _ := strconv.ParseInt(m[1], 10, 64)
				var ids []int
				for _, f := range strings.Fields(m[2]) {
					id, _ := strconv.Atoi(f)
					ids = append(ids, id)
				}
				samples = append(samples, sample{ns, ids})
			}
		case "locations":
			if m := locR.FindStringSubmatch(line); m != nil {
				cur, _ = strconv.Atoi(m[1])
				locs[cur] = []string{m[2]}
			} else if m := inlR.FindStringSubmatch(line); m != nil && cur >= 0 {
				locs[cur] = append(locs[cur], m[1])
			}
		}
	}
	byCat := map[string]int64{}
	var total int64
	for _, s := range samples {
		var frames []string
		for _, id := range s.locs {
			frames = append(frames, locs[id]...)
		}
		c := classify(frames)
		byCat[c] += s.ns
		if c != startUp {
			total += s.ns
		}
	}
	cats := make([]string, 0, len(byCat))
	for c := range byCat {
		cats = append(cats, c)
	}
	slices.SortFunc(cats, func(a, b string) int { return int(byCat[b] - byCat[a]) })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "WHERE\tCPU\tSHARE\tPER UNIT\n")
	for _, c := range cats {
		ns := byCat[c]
		if c == startUp {
			fmt.Fprintf(tw, "%s\t%.2f s\t(not counted)\t\n", c, float64(ns)/1e9)
			continue
		}
		per := ""
		if units > 0 {
			per = fmt.Sprintf("%.1f µs", float64(ns)/1e3/units)
		}
		fmt.Fprintf(tw, "%s\t%.2f s\t%.1f%%\t%s\n", c, float64(ns)/1e9, 100*float64(ns)/float64(total), per)
	}
	per := ""
	if units > 0 {
		per = fmt.Sprintf("%.1f µs", float64(total)/1e3/units)
	}
	fmt.Fprintf(tw, "total (without start-up)\t%.2f s\t100%%\t%s\n", float64(total)/1e9, per)
	return tw.Flush()
}

const startUp = "start-up"

const of = "github.com/orderflow/orderflow/"

var (
	reStart     = regexp.MustCompile(`^main\.startOrderflow|cloud\.Start$|local\.Start$|ordergen\.Generate|^main\.startCeiling|^main\.startGoaws|kumo\.NewServer`)
	reGC        = regexp.MustCompile(`^runtime\.(gcBgMarkWorker|bgsweep|bgscavenge)`)
	reServe     = regexp.MustCompile(`^net/http\.\(\*conn\)\.serve`)
	reCeiling   = regexp.MustCompile(`^main\.\(\*ceiling\)`)
	reJournal   = regexp.MustCompile(`cloud/journal\.`)
	reEncode    = regexp.MustCompile(`awsproto\.Write(JSON|XML|QueryError)|awsproto\.writeXML|encoding/(json|xml)\.(Marshal|\(\*Encoder\))`)
	reDecode    = regexp.MustCompile(`encoding/json\.Unmarshal|\(\*Request\)\.ParseForm|awsproto\.ValidText|^net/url\.|^io\.ReadAll|awsproto\.Form\.`)
	reClient    = regexp.MustCompile(`^main\.|aws-sdk-go-v2|smithy-go|^net/http\.\(\*persistConn\)|^net/http\.\(\*Transport\)|internal/ownbody\.`)
	reDynamoSDK = regexp.MustCompile(`aws-sdk-go-v2/service/dynamodb\.`)
	reSDK       = regexp.MustCompile(`aws-sdk-go-v2|smithy-go|^net/http\.\(\*persistConn\)|^net/http\.\(\*Transport\)`)
	reFunction  = regexp.MustCompile(regexp.QuoteMeta(of) + `(cloud/lambda|internal/processorder|handler)\.`)
	reFnLogs    = regexp.MustCompile(regexp.QuoteMeta(of) + `cloud/(logs|cloudwatch)\.`)
	reFnQueues  = regexp.MustCompile(`cloud\.engineQueues`)
	reFnHandler = regexp.MustCompile(regexp.QuoteMeta(of) + `(internal/processorder|handler)\.`)
	engines     = []struct {
		re   *regexp.Regexp
		name string
	}{
		{regexp.MustCompile(`cloud/sqs\.\(\*(Engine|queue)\)`), "SQS"},
		{regexp.MustCompile(`cloud/sns\.\(\*Engine\)`), "SNS (with its delivery to SQS)"},
		{regexp.MustCompile(`cloud/dynamodb/engine\.`), "DynamoDB"},
	}
	rePkg = regexp.MustCompile(`^` + regexp.QuoteMeta(of) + `([\w/]+)\.`)
)

func hasFrame(frames []string, re *regexp.Regexp) bool {
	return slices.ContainsFunc(frames, re.MatchString)
}

// classify names where a sample's time went; frames run from the leaf.
func classify(frames []string) string {
	switch {
	case hasFrame(frames, reStart):
		return startUp
	case hasFrame(frames, reGC):
		return "GC (background)"
	case hasFrame(frames, reServe):
		i := slices.IndexFunc(frames, func(f string) bool { return strings.HasPrefix(f, of) })
		if i < 0 {
			if hasFrame(frames, reCeiling) {
				return "server: the ceiling's handler"
			}
			return "server: net/http (read, parse, write)"
		}
		switch {
		case hasFrame(frames, reJournal):
			return "server: journal"
		case hasFrame(frames, reEncode):
			return "server: encode"
		case hasFrame(frames, reDecode):
			return "server: decode"
		}
		for _, e := range engines {
			if hasFrame(frames, e.re) {
				return "server: engine, " + e.name
			}
		}
		switch pkg := rePkg.FindStringSubmatch(frames[i])[1]; pkg {
		case "cloud":
			return "server: edge (routing, auth, faults, limits)"
		case "cloud/awsproto":
			return "server: awsproto helpers (request ids, errors)"
		default:
			return "server: the service's own code (" + pkg + ")"
		}
	case hasFrame(frames, reFunction):
		switch {
		case hasFrame(frames, reFnLogs):
			return "function: its log lines into CloudWatch Logs, EMF metrics"
		case hasFrame(frames, reFnQueues):
			return "function: the host's receive/delete on the engine"
		case hasFrame(frames, reSDK):
			return "function: the handler's SDK calls (client side)"
		case hasFrame(frames, reFnHandler):
			return "function: handler (decode, validate, log)"
		default:
			return "function: host (invoke, log, settle)"
		}
	// Profiles keep a stack's innermost frames only, so a deep SDK call may
	// have lost the frames saying whose it is: DynamoDB is called by the
	// handler alone in the pipeline (by the bench in ddb-puts).
	case hasFrame(frames, reDynamoSDK):
		return "function: the handler's SDK calls (client side)"
	case hasFrame(frames, reClient):
		return "client (the bench's SDK or Query client, HTTP client)"
	case hasFrame(frames, reJournal):
		return "journal (committer, applier)"
	case slices.ContainsFunc(frames, func(f string) bool { return strings.HasPrefix(f, of) }):
		return "orderflow in the background (deliveries, timers)"
	default:
		return "runtime (scheduler, netpoll, other)"
	}
}
