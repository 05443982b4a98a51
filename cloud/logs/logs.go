// Package logs is the embedded cloud's CloudWatch Logs: log groups and
// streams in memory, written by the cloud itself (the function host's lines)
// or by clients (PutLogEvents), and read with DescribeLogGroups,
// DescribeLogStreams, GetLogEvents and FilterLogEvents, so that `aws logs
// tail` and operators' tools read a local function's logs as on AWS.
//
// Memory is bounded: a group keeps its newest MaxEventsPerGroup events.
// Under a data directory the groups, streams and events are kept in the
// data file (durable.go) and outlive restarts.
// Filter patterns support plain terms (all must appear), "quoted phrases",
// and ?term alternatives (any must appear); JSON and metric patterns are
// refused with InvalidParameterException.
package logs

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/journal"
)

// MaxEventsPerGroup bounds a group's memory: older events are dropped.
const MaxEventsPerGroup = 100_000

var proto = awsproto.JSONProtocol{}

// Service is CloudWatch Logs.
type Service struct {
	clock   clock.Clock
	region  string
	account string

	j       *journal.Journal     // nil: in memory only
	metrics func(message string) // nil: no metrics from EMF lines

	mu     sync.Mutex
	groups map[string]*group
	seq    int64
}

type group struct {
	name      string
	created   int64
	retention int
	streams   map[string]*stream
	events    []event // in ingestion order
	dropped   []int64 // ids of events dropped from memory, not yet deleted from the data file
}

type stream struct {
	name                string
	created             int64
	first, last, ingest int64
}

type event struct {
	id     int64
	ts     int64 // ms
	ingest int64 // ms
	stream string
	msg    string
}

// Options configure a Service. The zero value is usable.
type Options struct {
	// Env gives the region and account in log group ARNs; its zero fields
	// take awsenv's defaults.
	awsenv.Env
	// Clock stamps ingestion and creation times; default clock.Real().
	Clock clock.Clock
	// DB and Journal, when set, keep the logs in the data file: New reads
	// what it holds, and changes are written through the journal.
	DB      *bbolt.DB
	Journal *journal.Journal
	// Metrics, when set, receives each stored event that may be an
	// Embedded Metric Format document (a JSON object with an "_aws"
	// member), as CloudWatch Logs hands those to CloudWatch to become
	// metrics. Other events cost one cheap check.
	Metrics func(message string)
}

// New returns a service with no log groups. Options documents the
// defaults.
func New(opts Options) (*Service, error) {
	opts.Env = opts.Env.WithDefaults()
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	s := &Service{clock: opts.Clock, region: opts.Region, account: opts.AccountID, groups: map[string]*group{}, j: opts.Journal, metrics: opts.Metrics}
	if opts.DB != nil {
		if err := s.load(opts.DB); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Name is the SigV4 signing name.
func (s *Service) Name() string { return "logs" }

// TargetPrefix is the JSON protocol's X-Amz-Target prefix.
func (s *Service) TargetPrefix() string { return "Logs_20140328" }

// Actions is empty: no Query protocol.
func (s *Service) Actions() []string { return nil }

func (s *Service) now() int64 { return s.clock.Now().UnixMilli() }

// groupLocked returns the group, creating it if create is set; ops gets
// the records of what it created.
func (s *Service) groupLocked(name string, create bool, ops *[]journal.Op) *group {
	g, ok := s.groups[name]
	if !ok && create {
		g = &group{name: name, created: s.now(), streams: map[string]*stream{}}
		s.groups[name] = g
		if s.j != nil {
			*ops = append(*ops, s.groupRecord(g))
		}
	}
	return g
}

func (s *Service) streamLocked(g *group, name string, now int64, ops *[]journal.Op) *stream {
	st, ok := g.streams[name]
	if !ok {
		st = &stream{name: name, created: now}
		g.streams[name] = st
		if s.j != nil {
			*ops = append(*ops, s.streamRecord(g.name, st))
		}
	}
	return st
}

// appendLocked adds an event, dropping the oldest beyond the bound; ops
// gets the records of the change.
func (s *Service) appendLocked(g *group, streamName string, ts int64, msg string, ops *[]journal.Op) {
	now := s.now()
	st := s.streamLocked(g, streamName, now, ops)
	s.seq++
	ev := event{id: s.seq, ts: ts, ingest: now, stream: streamName, msg: msg}
	g.events = append(g.events, ev)
	if s.j != nil {
		*ops = append(*ops, s.eventRecord(g.name, ev))
	}
	if over := len(g.events) - MaxEventsPerGroup; over > 0 {
		if s.j != nil {
			for _, d := range g.events[:over] {
				g.dropped = append(g.dropped, d.id)
			}
			*ops = append(*ops, s.dropOps(g)...)
		}
		g.events = slices.Delete(g.events, 0, over)
	}
	if st.first == 0 || ts < st.first {
		st.first = ts
	}
	st.last, st.ingest = max(st.last, ts), now
}

// Writer returns a writer whose every line becomes one event in the stream
// of the group (both created if need be), stamped with the clock.
func (s *Service) Writer(group, stream string) io.Writer {
	s.mu.Lock()
	var ops []journal.Op
	s.streamLocked(s.groupLocked(group, true, &ops), stream, s.now(), &ops)
	s.record(ops...) // the cloud's own lines: not waited for
	s.mu.Unlock()
	return &lineWriter{s: s, group: group, stream: stream}
}

type lineWriter struct {
	s             *Service
	group, stream string
	mu            sync.Mutex
	partial       []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := slices.Index(w.partial, '\n')
		if i < 0 {
			break
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		w.s.mu.Lock()
		var ops []journal.Op
		g := w.s.groupLocked(w.group, true, &ops)
		w.s.appendLocked(g, w.stream, w.s.now(), line, &ops)
		w.s.record(ops...) // the cloud's own lines: not waited for
		w.s.mu.Unlock()
		w.s.extract(line)
	}
	return len(p), nil
}

func notFound(what string) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "ResourceNotFoundException", "The specified %s does not exist.", what)
}

func invalid(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "InvalidParameterException", format, args...)
}

// handlers are the operations the service answers.
var handlers = map[string]func(*Service, request) (any, *awsproto.Error){
	"CreateLogGroup":        (*Service).createLogGroup,
	"DeleteLogGroup":        (*Service).deleteLogGroup,
	"DescribeLogGroups":     (*Service).describeLogGroups,
	"PutRetentionPolicy":    (*Service).putRetentionPolicy,
	"DeleteRetentionPolicy": (*Service).deleteRetentionPolicy,
	"CreateLogStream":       (*Service).createLogStream,
	"DescribeLogStreams":    (*Service).describeLogStreams,
	"PutLogEvents":          (*Service).putLogEvents,
	"GetLogEvents":          (*Service).getLogEvents,
	"FilterLogEvents":       (*Service).filterLogEvents,
}

// Operations lists the operations the service answers.
func (s *Service) Operations() []string { return slices.Sorted(maps.Keys(handlers)) }

// ServeHTTP answers the JSON 1.1 protocol.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	var in request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 2<<20)).Decode(&in); err != nil && err != io.EOF {
		proto.WriteError(w, awsproto.Errorf(http.StatusBadRequest, "SerializationException", "the request body is not valid JSON: %v", err))
		return
	}
	var (
		out any
		err *awsproto.Error
	)
	if h, ok := handlers[op]; ok {
		out, err = h(s, in)
	} else {
		err = awsproto.Errorf(http.StatusBadRequest, "UnknownOperationException", "the embedded CloudWatch Logs does not implement %q", op)
	}
	if err != nil {
		proto.WriteError(w, err)
		return
	}
	awsproto.WriteJSON(w, out)
}

// request holds the members of every operation's input that are used.
type request struct {
	LogGroupName        string
	LogGroupIdentifier  string
	LogGroupNamePrefix  string
	LogStreamName       string
	LogStreamNamePrefix string
	LogStreamNames      []string
	OrderBy             string
	Descending          bool
	StartTime           *int64
	EndTime             *int64
	FilterPattern       string
	Limit               *int
	NextToken           string
	StartFromHead       *bool
	RetentionInDays     int
	LogEvents           []struct {
		Timestamp int64
		Message   string
	}
}

func (in request) groupName() string {
	if in.LogGroupName != "" {
		return in.LogGroupName
	}
	// An identifier may be the group's ARN: arn:aws:logs:region:account:log-group:NAME[:*]
	id := in.LogGroupIdentifier
	if _, after, ok := strings.Cut(id, ":log-group:"); ok {
		return strings.TrimSuffix(after, ":*")
	}
	return id
}

func limit(l *int, def, most int) (int, *awsproto.Error) {
	if l == nil {
		return def, nil
	}
	if *l < 1 || *l > most {
		return 0, invalid("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d", *l, most)
	}
	return *l, nil
}

func token(t string) (int, *awsproto.Error) {
	if t == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(t, "f/"), "b/"), "n/"))
	if err != nil || n < 0 {
		return 0, invalid("The specified nextToken is invalid.")
	}
	return n, nil
}

func (s *Service) arn(group string) string {
	return fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", s.region, s.account, group)
}

func (s *Service) createLogGroup(in request) (any, *awsproto.Error) {
	if in.LogGroupName == "" {
		return nil, invalid("logGroupName is required")
	}
	if err := s.writable(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.groups[in.LogGroupName] != nil {
		s.mu.Unlock()
		return nil, awsproto.Errorf(http.StatusBadRequest, "ResourceAlreadyExistsException", "The specified log group already exists")
	}
	var ops []journal.Op
	s.groupLocked(in.LogGroupName, true, &ops)
	t := s.record(ops...)
	s.mu.Unlock()
	if err := durable(t); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (s *Service) deleteLogGroup(in request) (any, *awsproto.Error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.groups[in.LogGroupName] == nil {
		s.mu.Unlock()
		return nil, notFound("log group")
	}
	delete(s.groups, in.LogGroupName)
	name := []byte(in.LogGroupName)
	t := s.record(journal.DeleteBucket(journal.Path(rootBucket, eventsBucket), name), journal.DeleteBucket(journal.Path(rootBucket, streamsBucket), name),
		journal.Delete(journal.Path(rootBucket, groupsBucket), name))
	s.mu.Unlock()
	if err := durable(t); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// retentions are the retentions CloudWatch Logs offers, in days.
var retentions = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

func (s *Service) putRetentionPolicy(in request) (any, *awsproto.Error) {
	if !slices.Contains(retentions, in.RetentionInDays) {
		return nil, invalid("1 validation error detected: Value '%d' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: %v", in.RetentionInDays, retentions)
	}
	return s.setRetention(in.LogGroupName, in.RetentionInDays)
}

// setRetention sets a group's retention (0: for ever).
func (s *Service) setRetention(name string, days int) (any, *awsproto.Error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	g := s.groups[name]
	if g == nil {
		s.mu.Unlock()
		return nil, notFound("log group")
	}
	g.retention = days
	var t journal.Ticket
	if s.j != nil {
		t = s.record(s.groupRecord(g))
	}
	s.mu.Unlock()
	if err := durable(t); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// deleteRetentionPolicy makes a group keep its events for ever, as AWS
// says it (no retentionInDays in DescribeLogGroups).
func (s *Service) deleteRetentionPolicy(in request) (any, *awsproto.Error) {
	return s.setRetention(in.LogGroupName, 0)
}

func (s *Service) describeLogGroups(in request) (any, *awsproto.Error) {
	n, err := limit(in.Limit, 50, 50)
	if err != nil {
		return nil, err
	}
	from, err := token(in.NextToken)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for name := range s.groups {
		if strings.HasPrefix(name, in.LogGroupNamePrefix) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	type groupJSON struct {
		LogGroupName      string `json:"logGroupName"`
		CreationTime      int64  `json:"creationTime"`
		RetentionInDays   int    `json:"retentionInDays,omitempty"`
		MetricFilterCount int    `json:"metricFilterCount"`
		Arn               string `json:"arn"`
		LogGroupArn       string `json:"logGroupArn"`
		StoredBytes       int64  `json:"storedBytes"`
	}
	out := struct {
		LogGroups []groupJSON `json:"logGroups"`
		NextToken string      `json:"nextToken,omitempty"`
	}{LogGroups: []groupJSON{}}
	for i := from; i < len(names) && i < from+n; i++ {
		g := s.groups[names[i]]
		var bytes int64
		for _, e := range g.events {
			bytes += int64(len(e.msg))
		}
		out.LogGroups = append(out.LogGroups, groupJSON{g.name, g.created, g.retention, 0, s.arn(g.name) + ":*", s.arn(g.name), bytes})
	}
	if from+n < len(names) {
		out.NextToken = "n/" + strconv.Itoa(from+n)
	}
	return out, nil
}

func (s *Service) createLogStream(in request) (any, *awsproto.Error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	g := s.groups[in.LogGroupName]
	if g == nil {
		s.mu.Unlock()
		return nil, notFound("log group")
	}
	if in.LogStreamName == "" || strings.ContainsAny(in.LogStreamName, ":*") {
		s.mu.Unlock()
		return nil, invalid("logStreamName %q is not valid", in.LogStreamName)
	}
	if g.streams[in.LogStreamName] != nil {
		s.mu.Unlock()
		return nil, awsproto.Errorf(http.StatusBadRequest, "ResourceAlreadyExistsException", "The specified log stream already exists")
	}
	var ops []journal.Op
	s.streamLocked(g, in.LogStreamName, s.now(), &ops)
	t := s.record(ops...)
	s.mu.Unlock()
	if err := durable(t); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (s *Service) describeLogStreams(in request) (any, *awsproto.Error) {
	n, err := limit(in.Limit, 50, 50)
	if err != nil {
		return nil, err
	}
	from, err := token(in.NextToken)
	if err != nil {
		return nil, err
	}
	if in.OrderBy == "LastEventTime" && in.LogStreamNamePrefix != "" {
		return nil, invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[in.groupName()]
	if g == nil {
		return nil, notFound("log group")
	}
	var streams []*stream
	for _, st := range g.streams {
		if strings.HasPrefix(st.name, in.LogStreamNamePrefix) {
			streams = append(streams, st)
		}
	}
	slices.SortFunc(streams, func(a, b *stream) int {
		if in.OrderBy == "LastEventTime" && a.last != b.last {
			return int(a.last - b.last)
		}
		return strings.Compare(a.name, b.name)
	})
	if in.Descending {
		slices.Reverse(streams)
	}
	type streamJSON struct {
		LogStreamName       string `json:"logStreamName"`
		CreationTime        int64  `json:"creationTime"`
		FirstEventTimestamp int64  `json:"firstEventTimestamp,omitempty"`
		LastEventTimestamp  int64  `json:"lastEventTimestamp,omitempty"`
		LastIngestionTime   int64  `json:"lastIngestionTime,omitempty"`
		Arn                 string `json:"arn"`
	}
	out := struct {
		LogStreams []streamJSON `json:"logStreams"`
		NextToken  string       `json:"nextToken,omitempty"`
	}{LogStreams: []streamJSON{}}
	for i := from; i < len(streams) && i < from+n; i++ {
		st := streams[i]
		out.LogStreams = append(out.LogStreams, streamJSON{st.name, st.created, st.first, st.last, st.ingest, s.arn(g.name) + ":log-stream:" + st.name})
	}
	if from+n < len(streams) {
		out.NextToken = "n/" + strconv.Itoa(from+n)
	}
	return out, nil
}

func (s *Service) putLogEvents(in request) (any, *awsproto.Error) {
	if len(in.LogEvents) == 0 || len(in.LogEvents) > 10000 {
		return nil, invalid("logEvents must hold 1 to 10000 events")
	}
	for i := 1; i < len(in.LogEvents); i++ {
		if in.LogEvents[i].Timestamp < in.LogEvents[i-1].Timestamp {
			return nil, invalid("Log events in a single PutLogEvents request must be in chronological order.")
		}
	}
	if err := s.writable(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	g := s.groups[in.LogGroupName]
	if g == nil {
		s.mu.Unlock()
		return nil, notFound("log group")
	}
	if g.streams[in.LogStreamName] == nil {
		s.mu.Unlock()
		return nil, notFound("log stream")
	}
	var ops []journal.Op
	for _, e := range in.LogEvents {
		s.appendLocked(g, in.LogStreamName, e.Timestamp, e.Message, &ops)
	}
	t := s.record(ops...)
	seq := s.seq
	s.mu.Unlock()
	if err := durable(t); err != nil {
		return nil, err
	}
	for _, e := range in.LogEvents {
		s.extract(e.Message)
	}
	return map[string]string{"nextSequenceToken": strconv.FormatInt(seq, 10)}, nil
}

// extract hands an event that may be an EMF document to Options.Metrics.
// The check is cheap: a JSON object whose text names "_aws".
func (s *Service) extract(msg string) {
	if s.metrics != nil && len(msg) > 8 && msg[0] == '{' && strings.Contains(msg, `"_aws"`) {
		s.metrics(msg)
	}
}

// inRange reports whether an event lies in [start, end).
func inRange(e event, start, end *int64) bool {
	return (start == nil || e.ts >= *start) && (end == nil || e.ts < *end)
}

func (s *Service) getLogEvents(in request) (any, *awsproto.Error) {
	n, err := limit(in.Limit, 10000, 10000)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[in.groupName()]
	if g == nil {
		return nil, notFound("log group")
	}
	if g.streams[in.LogStreamName] == nil {
		return nil, notFound("log stream")
	}
	var evs []event
	for _, e := range g.events {
		if e.stream == in.LogStreamName && inRange(e, in.StartTime, in.EndTime) {
			evs = append(evs, e)
		}
	}
	slices.SortStableFunc(evs, func(a, b event) int { return int(a.ts - b.ts) })
	// Tokens are positions in evs: f/N reads forward from N, b/N backward
	// to N. Without a token, read the newest n (or the oldest with
	// startFromHead).
	from, to := max(0, len(evs)-n), len(evs)
	if in.StartFromHead != nil && *in.StartFromHead {
		from, to = 0, min(n, len(evs))
	}
	if t := in.NextToken; t != "" {
		pos, err := token(t)
		if err != nil {
			return nil, err
		}
		pos = min(pos, len(evs))
		if strings.HasPrefix(t, "b/") {
			from, to = max(0, pos-n), pos
		} else {
			from, to = pos, min(pos+n, len(evs))
		}
	}
	type eventJSON struct {
		Timestamp     int64  `json:"timestamp"`
		Message       string `json:"message"`
		IngestionTime int64  `json:"ingestionTime"`
	}
	out := struct {
		Events            []eventJSON `json:"events"`
		NextForwardToken  string      `json:"nextForwardToken"`
		NextBackwardToken string      `json:"nextBackwardToken"`
	}{Events: []eventJSON{}, NextForwardToken: "f/" + strconv.Itoa(to), NextBackwardToken: "b/" + strconv.Itoa(from)}
	for _, e := range evs[from:to] {
		out.Events = append(out.Events, eventJSON{e.ts, e.msg, e.ingest})
	}
	return out, nil
}

// pattern is a parsed filter pattern.
type pattern struct {
	all []string // every term must appear
	any []string // at least one must appear, if there are any
}

func parsePattern(p string) (pattern, *awsproto.Error) {
	var pt pattern
	p = strings.TrimSpace(p)
	if strings.HasPrefix(p, "{") || strings.HasPrefix(p, "[") {
		return pt, invalid("JSON and space-delimited filter patterns are not supported by the embedded CloudWatch Logs; use terms, \"phrases\" and ?alternatives")
	}
	for p != "" {
		optional := strings.HasPrefix(p, "?")
		if optional {
			p = p[1:]
		}
		var term string
		if strings.HasPrefix(p, `"`) {
			end := strings.Index(p[1:], `"`)
			if end < 0 {
				return pt, invalid("Invalid filter pattern: unclosed quote")
			}
			term, p = p[1:1+end], p[2+end:]
		} else {
			i := strings.IndexAny(p, " \t")
			if i < 0 {
				i = len(p)
			}
			term, p = p[:i], p[i:]
		}
		p = strings.TrimSpace(p)
		if term == "" {
			continue
		}
		if optional {
			pt.any = append(pt.any, term)
		} else {
			pt.all = append(pt.all, term)
		}
	}
	return pt, nil
}

func (pt pattern) match(msg string) bool {
	for _, t := range pt.all {
		if !strings.Contains(msg, t) {
			return false
		}
	}
	if len(pt.any) == 0 {
		return true
	}
	for _, t := range pt.any {
		if strings.Contains(msg, t) {
			return true
		}
	}
	return false
}

func (s *Service) filterLogEvents(in request) (any, *awsproto.Error) {
	n, err := limit(in.Limit, 10000, 10000)
	if err != nil {
		return nil, err
	}
	from, err := token(in.NextToken)
	if err != nil {
		return nil, err
	}
	pt, err := parsePattern(in.FilterPattern)
	if err != nil {
		return nil, err
	}
	if len(in.LogStreamNames) > 0 && in.LogStreamNamePrefix != "" {
		return nil, invalid("logStreamNames and logStreamNamePrefix are mutually exclusive")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[in.groupName()]
	if g == nil {
		return nil, notFound("log group")
	}
	wanted := func(stream string) bool {
		if len(in.LogStreamNames) > 0 {
			return slices.Contains(in.LogStreamNames, stream)
		}
		return strings.HasPrefix(stream, in.LogStreamNamePrefix)
	}
	var evs []event
	for _, e := range g.events {
		if wanted(e.stream) && inRange(e, in.StartTime, in.EndTime) && pt.match(e.msg) {
			evs = append(evs, e)
		}
	}
	slices.SortStableFunc(evs, func(a, b event) int { return int(a.ts - b.ts) })
	type eventJSON struct {
		LogStreamName string `json:"logStreamName"`
		Timestamp     int64  `json:"timestamp"`
		Message       string `json:"message"`
		IngestionTime int64  `json:"ingestionTime"`
		EventID       string `json:"eventId"`
	}
	type searched struct {
		LogStreamName      string `json:"logStreamName"`
		SearchedCompletely bool   `json:"searchedCompletely"`
	}
	out := struct {
		Events             []eventJSON `json:"events"`
		SearchedLogStreams []searched  `json:"searchedLogStreams"`
		NextToken          string      `json:"nextToken,omitempty"`
	}{Events: []eventJSON{}, SearchedLogStreams: []searched{}}
	for i := from; i < len(evs) && i < from+n; i++ {
		e := evs[i]
		out.Events = append(out.Events, eventJSON{e.stream, e.ts, e.msg, e.ingest, strconv.FormatInt(e.id, 10)})
	}
	for _, name := range sortedStreams(g) {
		if wanted(name) {
			out.SearchedLogStreams = append(out.SearchedLogStreams, searched{name, true})
		}
	}
	if from+n < len(evs) {
		out.NextToken = "n/" + strconv.Itoa(from+n)
	}
	return out, nil
}

func sortedStreams(g *group) []string {
	names := make([]string, 0, len(g.streams))
	for n := range g.streams {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
