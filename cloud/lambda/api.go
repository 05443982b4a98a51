package lambda

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// API returns the Lambda API (REST JSON) over the host: functions created,
// updated and deleted from a zip (given in the request or in the embedded
// S3), their published versions and aliases, invocations, and SQS event
// source mappings. Every other operation of Lambda's API answers in
// Lambda's JSON error shape, saying it is not implemented here.
//
// With a data file (Options.DB, Options.Journal) the functions the API
// creates are kept there, with their versions, aliases and mappings, and
// come back when the cloud restarts (durable.go). Changes the API makes to
// a stack's functions are not kept: after a restart, a stack's functions
// are what its template makes them.
func (h *Host) API() *API { return &API{h: h} }

// API is the host's Lambda API for the edge.
type API struct {
	h *Host

	// mu serialises the API's changes: each reads a function's spec,
	// changes it and builds it again, so two at once could lose one.
	mu sync.Mutex
}

// Name is the SigV4 signing name.
func (a *API) Name() string { return "lambda" }

// TargetPrefix is empty: Lambda's API is REST JSON.
func (a *API) TargetPrefix() string { return "" }

// Actions is empty: no Query protocol.
func (a *API) Actions() []string { return nil }

// PathPrefixes claims the REST API's paths: every API version's prefix
// ("/2015-03-31/", "/2018-10-31/" for layers, …), so that no Lambda call
// falls through to another protocol's answer.
func (a *API) PathPrefixes() []string {
	var out []string
	for _, rt := range routes {
		p := "/" + strings.SplitN(strings.TrimPrefix(rt.pattern, "/"), "/", 2)[0] + "/"
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// Operations lists what ServeHTTP answers, as the method and the first
// path segment after the version prefix ("GET functions"): the names the
// edge counts calls by.
func (a *API) Operations() []string {
	var out []string
	for _, rt := range routes {
		if rt.serve == nil {
			continue
		}
		op := rt.method + " " + strings.SplitN(strings.TrimPrefix(rt.pattern, "/"), "/", 3)[1]
		if !slices.Contains(out, op) {
			out = append(out, op)
		}
	}
	slices.Sort(out)
	return out
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

// route is one operation of Lambda's API: its method, its path (with
// {Param} segments), a query parameter that tells it from another
// operation on the same path ("find=LayerVersion"), and how it is served
// (nil: not implemented here).
type route struct {
	method, pattern, query, op string
	serve                      func(a *API, w http.ResponseWriter, r *http.Request, params []string)
}

// lambdaOperations is every operation of Lambda's API (aws-sdk-go-v2's
// model of it): method, path and name.
const lambdaOperations = `
POST /2014-11-13/functions/{FunctionName}/invoke-async InvokeAsync
POST /2015-03-31/event-source-mappings CreateEventSourceMapping
GET /2015-03-31/event-source-mappings ListEventSourceMappings
DELETE /2015-03-31/event-source-mappings/{UUID} DeleteEventSourceMapping
GET /2015-03-31/event-source-mappings/{UUID} GetEventSourceMapping
PUT /2015-03-31/event-source-mappings/{UUID} UpdateEventSourceMapping
POST /2015-03-31/functions CreateFunction
GET /2015-03-31/functions ListFunctions
DELETE /2015-03-31/functions/{FunctionName} DeleteFunction
GET /2015-03-31/functions/{FunctionName} GetFunction
POST /2015-03-31/functions/{FunctionName}/aliases CreateAlias
GET /2015-03-31/functions/{FunctionName}/aliases ListAliases
DELETE /2015-03-31/functions/{FunctionName}/aliases/{Name} DeleteAlias
GET /2015-03-31/functions/{FunctionName}/aliases/{Name} GetAlias
PUT /2015-03-31/functions/{FunctionName}/aliases/{Name} UpdateAlias
PUT /2015-03-31/functions/{FunctionName}/code UpdateFunctionCode
GET /2015-03-31/functions/{FunctionName}/configuration GetFunctionConfiguration
PUT /2015-03-31/functions/{FunctionName}/configuration UpdateFunctionConfiguration
POST /2015-03-31/functions/{FunctionName}/invocations Invoke
POST /2015-03-31/functions/{FunctionName}/policy AddPermission
GET /2015-03-31/functions/{FunctionName}/policy GetPolicy
DELETE /2015-03-31/functions/{FunctionName}/policy/{StatementId} RemovePermission
GET /2015-03-31/functions/{FunctionName}/versions ListVersionsByFunction
POST /2015-03-31/functions/{FunctionName}/versions PublishVersion
GET /2016-08-19/account-settings GetAccountSettings
GET /2017-03-31/tags/{Resource} ListTags
POST /2017-03-31/tags/{Resource} TagResource
DELETE /2017-03-31/tags/{Resource} UntagResource
DELETE /2017-10-31/functions/{FunctionName}/concurrency DeleteFunctionConcurrency
PUT /2017-10-31/functions/{FunctionName}/concurrency PutFunctionConcurrency
GET /2018-10-31/layers?find=LayerVersion GetLayerVersionByArn
GET /2018-10-31/layers ListLayers
GET /2018-10-31/layers/{LayerName}/versions ListLayerVersions
POST /2018-10-31/layers/{LayerName}/versions PublishLayerVersion
DELETE /2018-10-31/layers/{LayerName}/versions/{VersionNumber} DeleteLayerVersion
GET /2018-10-31/layers/{LayerName}/versions/{VersionNumber} GetLayerVersion
POST /2018-10-31/layers/{LayerName}/versions/{VersionNumber}/policy AddLayerVersionPermission
GET /2018-10-31/layers/{LayerName}/versions/{VersionNumber}/policy GetLayerVersionPolicy
DELETE /2018-10-31/layers/{LayerName}/versions/{VersionNumber}/policy/{StatementId} RemoveLayerVersionPermission
DELETE /2019-09-25/functions/{FunctionName}/event-invoke-config DeleteFunctionEventInvokeConfig
GET /2019-09-25/functions/{FunctionName}/event-invoke-config GetFunctionEventInvokeConfig
PUT /2019-09-25/functions/{FunctionName}/event-invoke-config PutFunctionEventInvokeConfig
POST /2019-09-25/functions/{FunctionName}/event-invoke-config UpdateFunctionEventInvokeConfig
GET /2019-09-25/functions/{FunctionName}/event-invoke-config/list ListFunctionEventInvokeConfigs
GET /2019-09-30/functions/{FunctionName}/concurrency GetFunctionConcurrency
DELETE /2019-09-30/functions/{FunctionName}/provisioned-concurrency DeleteProvisionedConcurrencyConfig
GET /2019-09-30/functions/{FunctionName}/provisioned-concurrency?List=ALL ListProvisionedConcurrencyConfigs
GET /2019-09-30/functions/{FunctionName}/provisioned-concurrency GetProvisionedConcurrencyConfig
PUT /2019-09-30/functions/{FunctionName}/provisioned-concurrency PutProvisionedConcurrencyConfig
POST /2020-04-22/code-signing-configs CreateCodeSigningConfig
GET /2020-04-22/code-signing-configs ListCodeSigningConfigs
DELETE /2020-04-22/code-signing-configs/{CodeSigningConfigArn} DeleteCodeSigningConfig
GET /2020-04-22/code-signing-configs/{CodeSigningConfigArn} GetCodeSigningConfig
PUT /2020-04-22/code-signing-configs/{CodeSigningConfigArn} UpdateCodeSigningConfig
GET /2020-04-22/code-signing-configs/{CodeSigningConfigArn}/functions ListFunctionsByCodeSigningConfig
DELETE /2020-06-30/functions/{FunctionName}/code-signing-config DeleteFunctionCodeSigningConfig
GET /2020-06-30/functions/{FunctionName}/code-signing-config GetFunctionCodeSigningConfig
PUT /2020-06-30/functions/{FunctionName}/code-signing-config PutFunctionCodeSigningConfig
GET /2021-07-20/functions/{FunctionName}/runtime-management-config GetRuntimeManagementConfig
PUT /2021-07-20/functions/{FunctionName}/runtime-management-config PutRuntimeManagementConfig
POST /2021-10-31/functions/{FunctionName}/url CreateFunctionUrlConfig
DELETE /2021-10-31/functions/{FunctionName}/url DeleteFunctionUrlConfig
GET /2021-10-31/functions/{FunctionName}/url GetFunctionUrlConfig
PUT /2021-10-31/functions/{FunctionName}/url UpdateFunctionUrlConfig
GET /2021-10-31/functions/{FunctionName}/urls ListFunctionUrlConfigs
POST /2021-11-15/functions/{FunctionName}/response-streaming-invocations InvokeWithResponseStream
GET /2024-08-31/functions/{FunctionName}/recursion-config GetFunctionRecursionConfig
PUT /2024-08-31/functions/{FunctionName}/recursion-config PutFunctionRecursionConfig
POST /2025-11-30/capacity-providers CreateCapacityProvider
GET /2025-11-30/capacity-providers ListCapacityProviders
DELETE /2025-11-30/capacity-providers/{CapacityProviderName} DeleteCapacityProvider
GET /2025-11-30/capacity-providers/{CapacityProviderName} GetCapacityProvider
PUT /2025-11-30/capacity-providers/{CapacityProviderName} UpdateCapacityProvider
GET /2025-11-30/capacity-providers/{CapacityProviderName}/function-versions ListFunctionVersionsByCapacityProvider
GET /2025-11-30/functions/{FunctionName}/function-scaling-config GetFunctionScalingConfig
PUT /2025-11-30/functions/{FunctionName}/function-scaling-config PutFunctionScalingConfig
POST /2025-12-01/durable-execution-callbacks/{CallbackId}/fail SendDurableExecutionCallbackFailure
POST /2025-12-01/durable-execution-callbacks/{CallbackId}/heartbeat SendDurableExecutionCallbackHeartbeat
POST /2025-12-01/durable-execution-callbacks/{CallbackId}/succeed SendDurableExecutionCallbackSuccess
GET /2025-12-01/durable-executions/{DurableExecutionArn} GetDurableExecution
POST /2025-12-01/durable-executions/{DurableExecutionArn}/checkpoint CheckpointDurableExecution
GET /2025-12-01/durable-executions/{DurableExecutionArn}/history GetDurableExecutionHistory
GET /2025-12-01/durable-executions/{DurableExecutionArn}/state GetDurableExecutionState
POST /2025-12-01/durable-executions/{DurableExecutionArn}/stop StopDurableExecution
GET /2025-12-01/functions/{FunctionName}/durable-executions ListDurableExecutionsByFunction
DELETE /2026-07-09/resource-policy/{ResourceArn} DeleteResourcePolicy
GET /2026-07-09/resource-policy/{ResourceArn} GetResourcePolicy
PUT /2026-07-09/resource-policy/{ResourceArn} PutResourcePolicy
`

// implemented maps the operations served here to their handlers.
var implemented = map[string]func(a *API, w http.ResponseWriter, r *http.Request, params []string){
	"ListFunctions":               func(a *API, w http.ResponseWriter, r *http.Request, _ []string) { a.listFunctions(w, r) },
	"GetFunction":                 func(a *API, w http.ResponseWriter, r *http.Request, p []string) { a.getFunction(w, r, p[0], false) },
	"GetFunctionConfiguration":    func(a *API, w http.ResponseWriter, r *http.Request, p []string) { a.getFunction(w, r, p[0], true) },
	"ListEventSourceMappings":     func(a *API, w http.ResponseWriter, r *http.Request, _ []string) { a.listMappings(w, r) },
	"GetEventSourceMapping":       func(a *API, w http.ResponseWriter, _ *http.Request, p []string) { a.getMapping(w, p[0]) },
	"UpdateEventSourceMapping":    (*API).updateMapping,
	"Invoke":                      (*API).invoke,
	"InvokeAsync":                 (*API).invokeAsync,
	"ListVersionsByFunction":      (*API).listVersions,
	"PublishVersion":              (*API).publishVersion,
	"ListAliases":                 (*API).listAliases,
	"GetAlias":                    (*API).getAlias,
	"CreateAlias":                 (*API).createAlias,
	"UpdateAlias":                 (*API).updateAlias,
	"DeleteAlias":                 (*API).deleteAlias,
	"CreateFunction":              (*API).createFunction,
	"UpdateFunctionCode":          (*API).updateCode,
	"UpdateFunctionConfiguration": (*API).updateConfiguration,
	"DeleteFunction":              (*API).deleteFunction,
	"CreateEventSourceMapping":    (*API).createMapping,
	"DeleteEventSourceMapping":    (*API).deleteMapping,
	"GetFunctionConcurrency":      (*API).getConcurrency,
	"ListLayers": func(a *API, w http.ResponseWriter, _ *http.Request, _ []string) {
		a.reply(w, http.StatusOK, map[string]any{"Layers": []any{}})
	},
	"ListLayerVersions": func(a *API, w http.ResponseWriter, _ *http.Request, _ []string) {
		a.reply(w, http.StatusOK, map[string]any{"LayerVersions": []any{}})
	},
	"GetLayerVersion":      (*API).noLayer,
	"GetLayerVersionByArn": (*API).noLayer,
}

// routes is the API's routing table, built from lambdaOperations.
var routes = func() []route {
	var out []route
	for _, line := range strings.Split(strings.TrimSpace(lambdaOperations), "\n") {
		f := strings.Fields(line)
		rt := route{method: f[0], pattern: f[1], op: f[2], serve: implemented[f[2]]}
		rt.pattern, rt.query, _ = strings.Cut(rt.pattern, "?")
		out = append(out, rt)
	}
	return out
}()

// match finds the route of a request and the values of its {Param}
// segments (unescaped, so that a name may not smuggle a "/").
func match(r *http.Request) (route, []string, bool) {
	segs := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			return route{}, nil, false
		}
		segs[i] = u
	}
	q := r.URL.Query()
	for _, rt := range routes {
		if rt.method != r.Method {
			continue
		}
		if rt.query != "" {
			k, v, _ := strings.Cut(rt.query, "=")
			if q.Get(k) != v {
				continue
			}
		}
		pat := strings.Split(strings.Trim(rt.pattern, "/"), "/")
		if len(pat) != len(segs) {
			continue
		}
		var params []string
		ok := true
		for i, p := range pat {
			if strings.HasPrefix(p, "{") {
				if segs[i] == "" {
					ok = false
					break
				}
				params = append(params, segs[i])
			} else if p != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			return rt, params, true
		}
	}
	return route{}, nil, false
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, params, ok := match(r)
	switch {
	case !ok:
		a.fail(w, apiError{http.StatusNotFound, "UnknownOperationException", fmt.Sprintf("Lambda has no operation %s %s", r.Method, r.URL.Path)})
	case rt.serve == nil:
		a.fail(w, apiError{http.StatusNotImplemented, "NotImplemented",
			fmt.Sprintf("The embedded Lambda does not implement %s yet; it answers the functions' Create, Get, List, Update (code and configuration), Delete and Invoke, their versions and aliases, SQS event source mappings, and empty lists of layers.", rt.op)})
	default:
		rt.serve(a, w, r, params)
	}
}

// functionJSON is a FunctionConfiguration.
type functionJSON struct {
	FunctionName  string
	FunctionArn   string
	Description   string
	Runtime       string `json:",omitempty"`
	Handler       string `json:",omitempty"`
	Role          string `json:",omitempty"`
	Timeout       int
	MemorySize    int
	Architectures []string `json:",omitempty"`
	CodeSha256    string
	CodeSize      int
	RevisionId    string
	Environment   *environmentJSON `json:",omitempty"`
	LoggingConfig struct {
		LogGroup  string
		LogFormat string
	}
	TracingConfig    struct{ Mode string }
	EphemeralStorage struct{ Size int }
	State            string
	LastUpdateStatus string
	PackageType      string
	LastModified     string
	Version          string
}

type environmentJSON struct {
	Variables map[string]string
}

// functionJSON is fn's configuration: its $LATEST's or a version's.
func (a *API) functionJSON(fn *function) functionJSON {
	f := functionJSON{
		FunctionName: fn.cfg.Name, FunctionArn: fn.cfg.ARN, Description: fn.spec.Description, Runtime: fn.spec.Runtime, Handler: fn.spec.Handler,
		Role: fn.spec.Role, Timeout: fn.cfg.TimeoutSec, MemorySize: fn.cfg.MemoryMB, Architectures: fn.spec.Architectures,
		CodeSha256: fn.sha256, CodeSize: len(fn.code), RevisionId: fn.revision,
		State: "Active", LastUpdateStatus: "Successful", PackageType: "Zip", Version: fn.cfg.Version, LastModified: lastModified(fn.modified),
	}
	if len(f.Architectures) == 0 {
		f.Architectures = []string{"x86_64"}
	}
	if fn.cfg.Environment != nil {
		f.Environment = &environmentJSON{Variables: fn.cfg.Environment}
	}
	f.LoggingConfig.LogGroup, f.LoggingConfig.LogFormat = cmp.Or(fn.cfg.LogGroup, "/aws/lambda/"+fn.cfg.Name), "Text"
	f.TracingConfig.Mode, f.EphemeralStorage.Size = "PassThrough", 512
	return f
}

// function returns the function (its $LATEST) by name or ARN.
func (a *API) function(name string) (*function, bool) {
	a.h.mu.Lock()
	defer a.h.mu.Unlock()
	name = functionName(name)
	if strings.Contains(name, ":") {
		return nil, false
	}
	fn, ok := a.h.functions[name]
	return fn, ok
}

// listFunctions is ListFunctions: each function's $LATEST, and with
// FunctionVersion=ALL its published versions too.
func (a *API) listFunctions(w http.ResponseWriter, r *http.Request) {
	all := r.URL.Query().Get("FunctionVersion")
	if all != "" && all != "ALL" {
		a.fail(w, *validation(all, "functionVersion", "Member must satisfy enum value set: [ALL]"))
		return
	}
	a.h.mu.Lock()
	out := []functionJSON{}
	for key, fn := range a.h.functions {
		if all != "" || !strings.Contains(key, ":") {
			out = append(out, a.functionJSON(fn))
		}
	}
	a.h.mu.Unlock()
	slices.SortFunc(out, func(x, y functionJSON) int {
		return cmp.Or(strings.Compare(x.FunctionName, y.FunctionName), versionOrder(x.Version)-versionOrder(y.Version))
	})
	a.reply(w, http.StatusOK, map[string]any{"Functions": out})
}

func (a *API) getFunction(w http.ResponseWriter, r *http.Request, name string, configOnly bool) {
	fn, _, ok := a.resolve(w, r, name, false)
	if !ok {
		return
	}
	if configOnly {
		a.reply(w, http.StatusOK, a.functionJSON(fn))
		return
	}
	a.reply(w, http.StatusOK, map[string]any{
		"Configuration": a.functionJSON(fn),
		"Code":          map[string]string{"RepositoryType": "S3", "Location": "embedded:" + fn.key},
	})
}

// functionNamePattern is the FunctionName pattern of Lambda's API.
const functionNamePattern = `(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?`

// qualifierPattern is the Qualifier pattern of Lambda's API.
const qualifierPattern = `\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+`

var (
	functionNameRE = regexp.MustCompile(`^(?:` + functionNamePattern + `)$`)
	qualifierRE    = regexp.MustCompile(`^(?:` + qualifierPattern + `)$`)
)

// functionRef is a FunctionName as Lambda's API takes it: a name, a
// partial ARN (ACCOUNT:function:NAME) or an ARN, each perhaps with a
// qualifier (":$LATEST", a version or an alias).
type functionRef struct {
	region, account, name, qualifier string
}

// parseFunctionRef parses and validates a FunctionName (and the Qualifier
// query parameter, if any) as Lambda does, answering Lambda's error if it
// is not valid.
func parseFunctionRef(s, qualifier string) (functionRef, *apiError) {
	invalid := func(field, value, constraint string) *apiError {
		return &apiError{http.StatusBadRequest, "ValidationException",
			fmt.Sprintf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, field, constraint)}
	}
	if len(s) > 170 {
		return functionRef{}, invalid("functionName", s, "Member must have length less than or equal to 170")
	}
	if !functionNameRE.MatchString(s) {
		return functionRef{}, invalid("functionName", s, "Member must satisfy regular expression pattern: "+functionNamePattern)
	}
	if len(qualifier) > 128 {
		return functionRef{}, invalid("qualifier", qualifier, "Member must have length less than or equal to 128")
	}
	if qualifier != "" && !qualifierRE.MatchString(qualifier) {
		return functionRef{}, invalid("qualifier", qualifier, "Member must satisfy regular expression pattern: "+qualifierPattern)
	}
	var ref functionRef
	parts := strings.Split(s, ":")
	if i := slices.Index(parts, "function"); i >= 0 && i+1 < len(parts) {
		before := parts[:i]
		if len(before) >= 3 && before[0] == "arn" {
			before = before[3:] // arn, partition, lambda
		}
		switch len(before) {
		case 2:
			ref.region, ref.account = before[0], before[1]
		case 1:
			ref.account = before[0]
		}
		parts = parts[i+1:]
	}
	ref.name = parts[0]
	if len(parts) > 1 {
		ref.qualifier = parts[1]
	}
	if len(ref.name) > 64 {
		return functionRef{}, invalid("functionName", s, "Member must have length less than or equal to 64")
	}
	if qualifier != "" {
		if ref.qualifier != "" && ref.qualifier != qualifier {
			return functionRef{}, &apiError{http.StatusBadRequest, "InvalidParameterValueException", "The derived qualifier from the function name does not match the specified qualifier."}
		}
		ref.qualifier = qualifier
	}
	return ref, nil
}

// resolve finds the function version a request names, or answers why
// not: a FunctionName Lambda would refuse, a function of another region or
// account, a version or alias that does not exist, or a function that does
// not exist. A qualifier is $LATEST, a published version or an alias (which
// resolves to its version). latest says how Lambda's not-found message
// names an unqualified function: with ":$LATEST" (Invoke) or without
// (GetFunction). It returns the function and its version.
func (a *API) resolve(w http.ResponseWriter, r *http.Request, name string, latest bool) (*function, string, bool) {
	return a.resolveName(w, name, r.URL.Query().Get("Qualifier"), latest)
}

// resolveName is resolve of a FunctionName and Qualifier.
func (a *API) resolveName(w http.ResponseWriter, name, qualifier string, latest bool) (*function, string, bool) {
	ref, bad := parseFunctionRef(name, qualifier)
	if bad != nil {
		a.fail(w, *bad)
		return nil, "", false
	}
	region, account := a.h.opts.Region, a.h.opts.AccountID
	if ref.region != "" && ref.region != region {
		a.fail(w, apiError{http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf("Functions from '%s' are not reachable in this region ('%s')", ref.region, region)})
		return nil, "", false
	}
	arn := fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region, cmp.Or(ref.account, account), ref.name)
	switch {
	case ref.qualifier != "":
		arn += ":" + ref.qualifier
	case latest:
		arn += ":$LATEST"
	}
	notFound := func() (*function, string, bool) {
		a.fail(w, apiError{http.StatusNotFound, "ResourceNotFoundException", "Function not found: " + arn})
		return nil, "", false
	}
	if ref.account != "" && ref.account != account {
		return notFound()
	}
	version := cmp.Or(ref.qualifier, "$LATEST")
	if version != "$LATEST" && !isVersion(version) {
		al, err := a.h.alias(ref.name, version)
		if err != nil {
			return notFound()
		}
		version = al.FunctionVersion
	}
	key := ref.name
	if version != "$LATEST" {
		key += ":" + version
	}
	a.h.mu.Lock()
	fn, ok := a.h.functions[key]
	a.h.mu.Unlock()
	if !ok {
		return notFound()
	}
	return fn, version, true
}

// versionOrder sorts $LATEST before the published versions, in order.
func versionOrder(v string) int {
	n, err := strconv.Atoi(v)
	if err != nil {
		return -1
	}
	return n
}

// isVersion reports whether a qualifier is a version number.
func isVersion(q string) bool {
	_, err := strconv.ParseUint(q, 10, 32)
	return err == nil
}

// maxAsyncPayloadBytes is the largest payload of an asynchronous (Event)
// invocation: 1 MB, as AWS's Invoke reference gives it since October 2025
// (256 KB before).
const maxAsyncPayloadBytes = 1 << 20

// maxSyncPayloadBytes is the largest payload of a synchronous invocation.
const maxSyncPayloadBytes = 6 << 20

// invoke is Invoke: RequestResponse (the default), Event or DryRun, with
// LogType Tail returning the end of the invocation's log.
func (a *API) invoke(w http.ResponseWriter, r *http.Request, params []string) {
	invocationType := cmp.Or(r.Header.Get("X-Amz-Invocation-Type"), "RequestResponse")
	logType := cmp.Or(r.Header.Get("X-Amz-Log-Type"), "None")
	if !slices.Contains([]string{"Event", "RequestResponse", "DryRun"}, invocationType) {
		a.fail(w, apiError{http.StatusBadRequest, "ValidationException", fmt.Sprintf("1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]", invocationType)})
		return
	}
	if !slices.Contains([]string{"None", "Tail"}, logType) {
		a.fail(w, apiError{http.StatusBadRequest, "ValidationException", fmt.Sprintf("1 validation error detected: Value '%s' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]", logType)})
		return
	}
	fn, version, ok := a.resolve(w, r, params[0], true)
	if !ok {
		return
	}
	limit := maxSyncPayloadBytes
	if invocationType == "Event" {
		limit = maxAsyncPayloadBytes
	}
	payload, ok := a.payload(w, r, limit)
	if !ok {
		return
	}
	switch invocationType {
	case "DryRun":
		w.Header().Set("X-Amzn-Requestid", awsproto.NewRequestID())
		w.WriteHeader(http.StatusNoContent)
	case "Event":
		a.startAsync(w, fn, payload, http.StatusAccepted, nil)
	default:
		res, err := a.h.Invoke(r.Context(), fn.key, payload)
		if err != nil {
			a.invokeFailed(w, fn, err)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("X-Amzn-Requestid", res.RequestID)
		h.Set("X-Amz-Executed-Version", version)
		if res.FunctionError != "" {
			h.Set("X-Amz-Function-Error", res.FunctionError)
		}
		if logType == "Tail" {
			h.Set("X-Amz-Log-Result", base64.StdEncoding.EncodeToString(res.LogTail))
		}
		w.WriteHeader(http.StatusOK)
		w.Write(res.Payload)
	}
}

// invokeAsync is the deprecated InvokeAsync: an Event invocation whose
// answer is {"Status":202}.
func (a *API) invokeAsync(w http.ResponseWriter, r *http.Request, params []string) {
	fn, _, ok := a.resolve(w, r, params[0], false)
	if !ok {
		return
	}
	payload, ok := a.payload(w, r, 256<<10)
	if !ok {
		return
	}
	a.startAsync(w, fn, payload, http.StatusAccepted, map[string]int{"Status": http.StatusAccepted})
}

func (a *API) startAsync(w http.ResponseWriter, fn *function, payload []byte, status int, body any) {
	reqID, err := a.h.InvokeAsync(fn.key, payload)
	if err != nil {
		a.invokeFailed(w, fn, err)
		return
	}
	if body != nil {
		b, _ := json.Marshal(body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-Requestid", reqID)
		w.WriteHeader(status)
		w.Write(b)
		return
	}
	w.Header().Set("X-Amzn-Requestid", reqID)
	w.WriteHeader(status)
}

// invokeFailed answers an invocation the host refused.
func (a *API) invokeFailed(w http.ResponseWriter, fn *function, err error) {
	switch {
	case errors.Is(err, ErrFunctionNotFound):
		a.fail(w, apiError{http.StatusNotFound, "ResourceNotFoundException", "Function not found: " + fn.cfg.ARN + map[bool]string{true: ":$LATEST"}[fn.cfg.Version == "$LATEST"]})
	case errors.Is(err, ErrTooManyInvocations):
		a.fail(w, apiError{http.StatusTooManyRequests, "TooManyRequestsException", fmt.Sprintf("Rate Exceeded: %d asynchronous invocations are already running; retry when they have finished.", maxAsyncInFlight)})
	case errors.Is(err, errClosed):
		a.fail(w, apiError{http.StatusServiceUnavailable, "ServiceException", "The embedded Lambda is shutting down."})
	default:
		a.fail(w, apiError{http.StatusInternalServerError, "ServiceException", err.Error()})
	}
}

// payload reads an invocation's payload, at most limit bytes of JSON in
// UTF-8 (none means {}), or answers Lambda's error.
func (a *API) payload(w http.ResponseWriter, r *http.Request, limit int) ([]byte, bool) {
	b, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		a.fail(w, apiError{http.StatusBadRequest, "InvalidRequestContentException", "Could not read the request body: " + err.Error()})
		return nil, false
	}
	if len(b) > limit {
		a.fail(w, apiError{http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException", fmt.Sprintf("Request must be smaller than %d bytes for the InvokeFunction operation", limit)})
		return nil, false
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return []byte("{}"), true
	}
	if !utf8.Valid(b) {
		a.fail(w, apiError{http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json: Could not parse payload into json: the payload is not valid UTF-8"})
		return nil, false
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		a.fail(w, apiError{http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json: Could not parse payload into json: " + err.Error()})
		return nil, false
	}
	return b, true
}

// getConcurrency is GetFunctionConcurrency: no function reserves any.
func (a *API) getConcurrency(w http.ResponseWriter, r *http.Request, params []string) {
	if _, _, ok := a.resolve(w, r, params[0], false); !ok {
		return
	}
	a.reply(w, http.StatusOK, map[string]any{})
}

// noLayer answers GetLayerVersion and GetLayerVersionByArn: the host has
// no layers.
func (a *API) noLayer(w http.ResponseWriter, _ *http.Request, _ []string) {
	a.fail(w, apiError{http.StatusNotFound, "ResourceNotFoundException", "The resource you requested does not exist."})
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
		UUID: m.id, EventSourceArn: m.q.ARN, FunctionArn: m.fn().cfg.ARN, BatchSize: m.cfg().BatchSize,
		MaximumBatchingWindowInSeconds: m.cfg().MaximumBatchingWindow, FunctionResponseTypes: []string{},
		State: m.state().State, StateTransitionReason: "USER_INITIATED",
		LastModified: float64(modified.UnixMilli()) / 1000, LastProcessingResult: *m.result.Load(),
	}
	if m.cfg().ReportBatchItemFailure {
		j.FunctionResponseTypes = []string{"ReportBatchItemFailures"}
	}
	if m.cfg().MaximumConcurrency > 0 {
		j.ScalingConfig = &struct{ MaximumConcurrency int }{m.cfg().MaximumConcurrency}
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
		if (fnFilter == "" || m.fn().cfg.Name == fnFilter) && (srcFilter == "" || m.q.ARN == srcFilter) {
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
