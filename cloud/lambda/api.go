package lambda

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// apiPrefix is the Lambda REST API's path prefix.
const apiPrefix = "/2015-03-31/"

// API returns the Lambda API (REST JSON) over the host: reading functions
// and event source mappings, and enabling or disabling a mapping.
func (h *Host) API() *API { return &API{h: h} }

// API is the host's Lambda API for the edge.
type API struct{ h *Host }

// Name is the SigV4 signing name.
func (a *API) Name() string { return "lambda" }

// TargetPrefix is empty: Lambda's API is REST JSON.
func (a *API) TargetPrefix() string { return "" }

// Actions is empty: no Query protocol.
func (a *API) Actions() []string { return nil }

// PathPrefixes claims the REST API's paths.
func (a *API) PathPrefixes() []string { return []string{apiPrefix} }

// Operations lists what ServeHTTP answers, as the method and the first
// path segment after the prefix ("GET functions"): the names the edge
// counts calls by.
func (a *API) Operations() []string {
	return []string{"GET functions", "GET event-source-mappings", "PUT event-source-mappings"}
}

type apiError struct {
	status  int
	code    string
	message string
}

func (a *API) fail(w http.ResponseWriter, e apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", e.code)
	w.Header().Set("X-Amzn-Requestid", awsproto.NewRequestID())
	w.WriteHeader(e.status)
	b, _ := json.Marshal(map[string]string{"Type": "User", "Message": e.message})
	w.Write(b)
}

func (a *API) reply(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		a.fail(w, apiError{http.StatusInternalServerError, "ServiceException", err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", awsproto.NewRequestID())
	w.WriteHeader(status)
	w.Write(b)
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, apiPrefix)
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case parts[0] == "functions" && len(parts) == 1 && r.Method == http.MethodGet:
		a.listFunctions(w, r)
	case parts[0] == "functions" && len(parts) == 2 && r.Method == http.MethodGet:
		a.getFunction(w, parts[1], false)
	case parts[0] == "functions" && len(parts) == 3 && parts[2] == "configuration" && r.Method == http.MethodGet:
		a.getFunction(w, parts[1], true)
	case parts[0] == "event-source-mappings" && len(parts) == 1 && r.Method == http.MethodGet:
		a.listMappings(w, r)
	case parts[0] == "event-source-mappings" && len(parts) == 2 && r.Method == http.MethodGet:
		a.getMapping(w, parts[1])
	case parts[0] == "event-source-mappings" && len(parts) == 2 && r.Method == http.MethodPut:
		a.updateMapping(w, r, parts[1])
	default:
		a.fail(w, apiError{http.StatusNotFound, "UnknownOperationException", fmt.Sprintf("the embedded Lambda does not implement %s %s", r.Method, r.URL.Path)})
	}
}

// functionJSON is a FunctionConfiguration.
type functionJSON struct {
	FunctionName  string
	FunctionArn   string
	Runtime       string `json:",omitempty"`
	Handler       string `json:",omitempty"`
	Role          string `json:",omitempty"`
	Timeout       int
	MemorySize    int
	Architectures []string `json:",omitempty"`
	Environment   struct {
		Variables map[string]string
	}
	LoggingConfig struct {
		LogGroup  string
		LogFormat string
	}
	State        string
	PackageType  string
	LastModified string
}

func (a *API) functionJSON(fn *function) functionJSON {
	f := functionJSON{
		FunctionName: fn.cfg.Name, FunctionArn: fn.cfg.ARN, Runtime: fn.spec.Runtime, Handler: fn.spec.Handler,
		Role: fn.spec.Role, Timeout: fn.cfg.TimeoutSec, MemorySize: fn.cfg.MemoryMB, Architectures: fn.spec.Architectures,
		State: "Active", PackageType: "Zip", LastModified: fn.created.UTC().Format("2006-01-02T15:04:05.000+0000"),
	}
	f.Environment.Variables = fn.cfg.Environment
	f.LoggingConfig.LogGroup, f.LoggingConfig.LogFormat = fn.cfg.LogGroup, "Text"
	return f
}

func (a *API) function(name string) (*function, bool) {
	a.h.mu.Lock()
	defer a.h.mu.Unlock()
	fn, ok := a.h.functions[functionName(name)]
	return fn, ok
}

func (a *API) listFunctions(w http.ResponseWriter, _ *http.Request) {
	a.h.mu.Lock()
	var out []functionJSON
	for _, fn := range a.h.functions {
		out = append(out, a.functionJSON(fn))
	}
	a.h.mu.Unlock()
	slices.SortFunc(out, func(x, y functionJSON) int { return strings.Compare(x.FunctionName, y.FunctionName) })
	if out == nil {
		out = []functionJSON{}
	}
	a.reply(w, http.StatusOK, map[string]any{"Functions": out})
}

func (a *API) getFunction(w http.ResponseWriter, name string, configOnly bool) {
	fn, ok := a.function(name)
	if !ok {
		a.fail(w, apiError{http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf("Function not found: arn:aws:lambda:%s:%s:function:%s", a.h.opts.Region, a.h.opts.AccountID, name)})
		return
	}
	if configOnly {
		a.reply(w, http.StatusOK, a.functionJSON(fn))
		return
	}
	a.reply(w, http.StatusOK, map[string]any{
		"Configuration": a.functionJSON(fn),
		"Code":          map[string]string{"RepositoryType": "S3", "Location": "embedded:" + fn.cfg.Name},
	})
}

// mappingJSON is an EventSourceMappingConfiguration.
type mappingJSON struct {
	UUID                           string
	EventSourceArn                 string
	FunctionArn                    string
	BatchSize                      int
	MaximumBatchingWindowInSeconds int
	FunctionResponseTypes          []string
	ScalingConfig                  *struct{ MaximumConcurrency int } `json:",omitempty"`
	State                          string
	StateTransitionReason          string
	LastModified                   float64
	LastProcessingResult           string
}

func (m *mapping) json() mappingJSON {
	m.mu.Lock()
	modified := m.modified
	m.mu.Unlock()
	j := mappingJSON{
		UUID: m.id, EventSourceArn: m.q.ARN, FunctionArn: m.fn.cfg.ARN, BatchSize: m.cfg.BatchSize,
		MaximumBatchingWindowInSeconds: m.cfg.MaximumBatchingWindow, FunctionResponseTypes: []string{},
		State: m.state().State, StateTransitionReason: "USER_INITIATED",
		LastModified: float64(modified.UnixMilli()) / 1000, LastProcessingResult: *m.result.Load(),
	}
	if m.cfg.ReportBatchItemFailure {
		j.FunctionResponseTypes = []string{"ReportBatchItemFailures"}
	}
	if m.cfg.MaximumConcurrency > 0 {
		j.ScalingConfig = &struct{ MaximumConcurrency int }{m.cfg.MaximumConcurrency}
	}
	return j
}

func (a *API) mapping(id string) (*mapping, bool) {
	a.h.mu.Lock()
	defer a.h.mu.Unlock()
	m, ok := a.h.mappings[id]
	return m, ok
}

func (a *API) listMappings(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fnFilter, srcFilter := functionName(q.Get("FunctionName")), q.Get("EventSourceArn")
	maxItems := 100
	if s := q.Get("MaxItems"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			a.fail(w, apiError{http.StatusBadRequest, "InvalidParameterValueException", fmt.Sprintf("MaxItems %q must be between 1 and 10000", s)})
			return
		}
		maxItems = n
	}
	a.h.mu.Lock()
	var all []*mapping
	for _, m := range a.h.mappings {
		if (fnFilter == "" || m.fn.cfg.Name == fnFilter) && (srcFilter == "" || m.q.ARN == srcFilter) {
			all = append(all, m)
		}
	}
	a.h.mu.Unlock()
	slices.SortFunc(all, func(x, y *mapping) int { return strings.Compare(x.id, y.id) })
	start := 0
	if marker := q.Get("Marker"); marker != "" {
		start = slices.IndexFunc(all, func(m *mapping) bool { return m.id > marker })
		if start < 0 {
			start = len(all)
		}
	}
	out := map[string]any{}
	page := all[start:min(len(all), start+maxItems)]
	list := make([]mappingJSON, 0, len(page))
	for _, m := range page {
		list = append(list, m.json())
	}
	out["EventSourceMappings"] = list
	if start+maxItems < len(all) {
		out["NextMarker"] = page[len(page)-1].id
	}
	a.reply(w, http.StatusOK, out)
}

func (a *API) getMapping(w http.ResponseWriter, id string) {
	m, ok := a.mapping(id)
	if !ok {
		a.fail(w, apiError{http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf("The resource you requested does not exist. (Service: Lambda, Status Code: 404, Request ID: %s)", awsproto.NewRequestID())})
		return
	}
	a.reply(w, http.StatusOK, m.json())
}

// updateMapping enables or disables a mapping; other changes are refused
// rather than ignored.
func (a *API) updateMapping(w http.ResponseWriter, r *http.Request, id string) {
	m, ok := a.mapping(id)
	if !ok {
		a.fail(w, apiError{http.StatusNotFound, "ResourceNotFoundException", "The resource you requested does not exist."})
		return
	}
	var in map[string]json.RawMessage
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
		a.fail(w, apiError{http.StatusBadRequest, "InvalidParameterValueException", "the request body is not JSON: " + err.Error()})
		return
	}
	for k := range in {
		if k != "Enabled" && k != "UUID" {
			a.fail(w, apiError{http.StatusBadRequest, "InvalidParameterValueException", fmt.Sprintf("the embedded Lambda can change only Enabled, not %s", k)})
			return
		}
	}
	if raw, ok := in["Enabled"]; ok {
		var on bool
		if err := json.Unmarshal(raw, &on); err != nil {
			a.fail(w, apiError{http.StatusBadRequest, "InvalidParameterValueException", "Enabled must be true or false"})
			return
		}
		if err := m.setEnabled(on); err != nil {
			a.fail(w, apiError{http.StatusConflict, "ResourceConflictException", err.Error()})
			return
		}
	}
	a.reply(w, http.StatusAccepted, m.json())
}
