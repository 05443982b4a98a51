package lambda

import (
	"archive/zip"
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// This file is the API's writes of functions: CreateFunction,
// UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction and
// PublishVersion, with Lambda's validation and error codes.

// maxCodeRequestBytes is the largest CreateFunction or UpdateFunctionCode
// request Lambda takes: a 50 MB zip, base64-encoded in JSON.
const maxCodeRequestBytes = 70167211

// maxEnvironmentBytes is Lambda's limit on a function's environment
// variables, measured as their JSON.
const maxEnvironmentBytes = 4 << 10

// runtimes are the Runtime values Lambda's API accepts (its enum); the
// host runs the zipRuntimes among them.
var runtimes = []string{
	"nodejs", "nodejs4.3", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x", "nodejs16.x", "nodejs18.x", "nodejs20.x", "nodejs22.x",
	"java8", "java8.al2", "java11", "java17", "java21", "java25",
	"python2.7", "python3.6", "python3.7", "python3.8", "python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14",
	"dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1", "dotnet6", "dotnet8", "dotnet10",
	"nodejs4.3-edge", "go1.x", "ruby2.5", "ruby2.7", "ruby3.2", "ruby3.3", "ruby3.4",
	"provided", "provided.al2", "provided.al2023", "nodejs24.x",
}

// reservedEnvironment are the variables Lambda sets itself and refuses in
// a function's Environment.
var reservedEnvironment = []string{
	"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
	"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME",
	"AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
}

const (
	rolePattern    = `arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`
	handlerPattern = `[^\s]+`
	envKeyPattern  = `[a-zA-Z]([a-zA-Z0-9_])+`
)

var (
	roleRE    = regexp.MustCompile(`^(?:` + rolePattern + `)$`)
	handlerRE = regexp.MustCompile(`^(?:` + handlerPattern + `)$`)
	envKeyRE  = regexp.MustCompile(`^(?:` + envKeyPattern + `)$`)
)

func invalidParameter(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidParameterValueException", fmt.Sprintf(format, args...)}
}

func validation(value any, field, constraint string) *apiError {
	return &apiError{http.StatusBadRequest, "ValidationException",
		fmt.Sprintf("1 validation error detected: Value '%v' at '%s' failed to satisfy constraint: %s", value, field, constraint)}
}

// decode reads a request's JSON body, at most limit bytes, into v, or
// answers Lambda's error: RequestEntityTooLargeException for a body over
// the limit, InvalidRequestContentException for one that is not JSON or
// whose fields have the wrong type (a Timeout given as a string, a ZipFile
// that is not base64).
func (a *API) decode(w http.ResponseWriter, r *http.Request, op string, limit int64, v any) bool {
	if r.ContentLength > limit {
		a.fail(w, apiError{http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException", fmt.Sprintf("Request must be smaller than %d bytes for the %s operation", limit, op)})
		return false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		a.fail(w, apiError{http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException",
			fmt.Sprintf("Request must be smaller than %d bytes for the %s operation on the embedded cloud: upload the zip to S3 and give Code.S3Bucket and Code.S3Key instead", tooBig.Limit, op)})
		return false
	case err != nil:
		a.fail(w, apiError{http.StatusBadRequest, "InvalidRequestContentException", "Could not read the request body: " + err.Error()})
		return false
	case int64(len(body)) > limit:
		a.fail(w, apiError{http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException", fmt.Sprintf("Request must be smaller than %d bytes for the %s operation", limit, op)})
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		a.fail(w, apiError{http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json: " + jsonProblem(err)})
		return false
	}
	return true
}

// jsonProblem says what is wrong with a body in a client's words.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var b64 base64.CorruptInputError
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		// The request's embedded structs are no part of its fields' names.
		field := strings.NewReplacer("configurationJSON.", "", "codeJSON.", "").Replace(typeErr.Field)
		return fmt.Sprintf("the value of %s is a JSON %s, not the %s Lambda takes", cmp.Or(field, "the body"), typeErr.Value, jsonType(typeErr.Type.Kind().String()))
	case errors.As(err, &b64):
		return fmt.Sprintf("a blob (ZipFile) is not valid base64: %v", b64)
	case errors.As(err, &syntax):
		return fmt.Sprintf("the body is not valid JSON: %v (at byte %d)", syntax, syntax.Offset)
	}
	return err.Error()
}

func jsonType(kind string) string {
	switch kind {
	case "int", "int64", "int32", "float64":
		return "number"
	case "ptr", "struct", "map":
		return "object"
	case "slice":
		return "list"
	}
	return kind
}

// codeJSON is a FunctionCode.
type codeJSON struct {
	ZipFile         []byte
	S3Bucket        *string
	S3Key           *string
	S3ObjectVersion *string
	ImageUri        *string
}

// configurationJSON is what CreateFunction and UpdateFunctionConfiguration
// take of a function's configuration.
type configurationJSON struct {
	Runtime       *string
	Role          *string
	Handler       *string
	Description   *string
	Timeout       *int
	MemorySize    *int
	Environment   *environmentJSON
	Architectures []string
	Layers        []string
	LoggingConfig *struct{ LogGroup *string }
	RevisionId    *string
}

// apply validates c and applies it to spec.
func (c configurationJSON) apply(spec *Function) *apiError {
	if c.Role != nil {
		if !roleRE.MatchString(*c.Role) {
			return validation(*c.Role, "role", "Member must satisfy regular expression pattern: "+rolePattern)
		}
		spec.Role = *c.Role
	}
	if c.Handler != nil {
		if len(*c.Handler) > 128 {
			return validation(*c.Handler, "handler", "Member must have length less than or equal to 128")
		}
		if !handlerRE.MatchString(*c.Handler) {
			return validation(*c.Handler, "handler", "Member must satisfy regular expression pattern: "+handlerPattern)
		}
		spec.Handler = *c.Handler
	}
	if c.Description != nil {
		if len(*c.Description) > 256 {
			return validation(*c.Description, "description", "Member must have length less than or equal to 256")
		}
		spec.Description = *c.Description
	}
	if c.Timeout != nil {
		switch {
		case *c.Timeout < 1:
			return validation(*c.Timeout, "timeout", "Member must have value greater than or equal to 1")
		case *c.Timeout > 900:
			return validation(*c.Timeout, "timeout", "Member must have value less than or equal to 900")
		}
		spec.TimeoutSec = *c.Timeout
	}
	if c.MemorySize != nil {
		switch {
		case *c.MemorySize < 128:
			return validation(*c.MemorySize, "memorySize", "Member must have value greater than or equal to 128")
		case *c.MemorySize > 10240:
			return validation(*c.MemorySize, "memorySize", "Member must have value less than or equal to 10240")
		}
		spec.MemoryMB = *c.MemorySize
	}
	if c.Architectures != nil {
		if len(c.Architectures) != 1 {
			return validation("["+strings.Join(c.Architectures, ", ")+"]", "architectures", "Member must have length less than or equal to 1, Member must have length greater than or equal to 1")
		}
		if !slices.Contains([]string{"x86_64", "arm64"}, c.Architectures[0]) {
			return validation("["+c.Architectures[0]+"]", "architectures", "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]")
		}
		spec.Architectures = c.Architectures
	}
	if len(c.Layers) > 0 {
		return invalidParameter("Layer version %s does not exist: the embedded Lambda has no layers (package what the function needs in its zip).", c.Layers[0])
	}
	if c.Environment != nil {
		if bad := checkEnvironment(c.Environment.Variables); bad != nil {
			return bad
		}
		spec.Environment = c.Environment.Variables
	}
	if c.LoggingConfig != nil && c.LoggingConfig.LogGroup != nil {
		spec.LogGroup = *c.LoggingConfig.LogGroup
	}
	if c.Runtime != nil {
		if !slices.Contains(runtimes, *c.Runtime) {
			return validation(*c.Runtime, "runtime", "Member must satisfy enum value set: ["+strings.Join(runtimes, ", ")+"] or be a valid ARN")
		}
		if !zipRuntimes[*c.Runtime] {
			return invalidParameter("The embedded Lambda cannot run runtime %s: it runs zips of the provided.al2023 and provided.al2 runtimes (an executable named bootstrap speaking the Runtime API) and in-process Go handlers. Build the function as a bootstrap (GOOS=linux go build -tags lambda.norpc -o bootstrap) with Runtime provided.al2023, or register an in-process Go handler (lambda.Host.Register) under its name.", *c.Runtime)
		}
		spec.Runtime = *c.Runtime
	}
	return nil
}

// checkEnvironment refuses variables Lambda refuses: bad names, reserved
// names, more than 4 KB in all.
func checkEnvironment(vars map[string]string) *apiError {
	var reserved []string
	for k := range vars {
		if !envKeyRE.MatchString(k) {
			return validation(k, "environment.variables", "Member must satisfy regular expression pattern: "+envKeyPattern)
		}
		if slices.Contains(reservedEnvironment, k) {
			reserved = append(reserved, k)
		}
	}
	if len(reserved) > 0 {
		slices.Sort(reserved)
		return invalidParameter("Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: %s", strings.Join(reserved, ", "))
	}
	b, _ := json.Marshal(vars)
	if len(b) > maxEnvironmentBytes {
		return invalidParameter("Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: %s", b)
	}
	return nil
}

// code reads a function's zip from the request or from S3, or answers
// why not.
func (a *API) code(w http.ResponseWriter, r *http.Request, c codeJSON) ([]byte, bool) {
	fromS3 := c.S3Bucket != nil || c.S3Key != nil || c.S3ObjectVersion != nil
	switch {
	case c.ImageUri != nil:
		a.fail(w, *invalidParameter("The embedded Lambda runs zip packages only, not container images (ImageUri): package the function as a zip holding its bootstrap."))
		return nil, false
	case c.ZipFile != nil && fromS3:
		a.fail(w, *invalidParameter("Please do not provide other FunctionCode parameters when providing a FunctionCode ZipFile."))
		return nil, false
	case c.ZipFile == nil && !fromS3:
		a.fail(w, *invalidParameter("Please provide a source for function code."))
		return nil, false
	case c.ZipFile != nil:
		return a.checkZip(w, c.ZipFile)
	case c.S3Bucket == nil || c.S3Key == nil:
		a.fail(w, *invalidParameter("Please provide both S3Bucket and S3Key for the function's code in S3."))
		return nil, false
	case c.S3ObjectVersion != nil:
		a.fail(w, *invalidParameter("The embedded S3 keeps no object versions: give Code.S3Bucket and Code.S3Key without S3ObjectVersion."))
		return nil, false
	case a.h.opts.Code == nil:
		a.fail(w, *invalidParameter("This Lambda reads no code from S3: give the zip in Code.ZipFile."))
		return nil, false
	}
	zip, err := a.h.opts.Code.Object(r.Context(), *c.S3Bucket, *c.S3Key)
	switch {
	case errors.Is(err, fs.ErrNotExist) && strings.Contains(err.Error(), "bucket"):
		a.fail(w, *invalidParameter("Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: The specified bucket does not exist"))
		return nil, false
	case errors.Is(err, fs.ErrNotExist):
		a.fail(w, *invalidParameter("Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist."))
		return nil, false
	case err != nil:
		a.fail(w, *invalidParameter("Error occurred while GetObject of s3://%s/%s: %v", *c.S3Bucket, *c.S3Key, err))
		return nil, false
	}
	return a.checkZip(w, zip)
}

// checkZip refuses what is not a zip, as Lambda does, before the host
// unpacks it.
func (a *API) checkZip(w http.ResponseWriter, b []byte) ([]byte, bool) {
	if _, err := zip.NewReader(bytes.NewReader(b), int64(len(b))); err != nil {
		a.fail(w, *invalidParameter("Could not unzip uploaded file. Please check your file, then try to upload again."))
		return nil, false
	}
	return b, true
}

// buildFailed answers a function the host could not build.
func (a *API) buildFailed(w http.ResponseWriter, err error) {
	msg := strings.TrimPrefix(err.Error(), "lambda: ")
	if _, why, ok := strings.Cut(msg, ErrBadArtefact.Error()+": "); ok {
		msg = "The function's zip cannot run: " + why
	}
	switch {
	case errors.Is(err, errClosed):
		a.fail(w, apiError{http.StatusServiceUnavailable, "ServiceException", "The embedded Lambda is shutting down."})
	case errors.Is(err, ErrFunctionExists):
		a.fail(w, apiError{http.StatusConflict, "ResourceConflictException", msg})
	case errors.Is(err, ErrFunctionNotFound):
		a.fail(w, apiError{http.StatusNotFound, "ResourceNotFoundException", msg})
	default:
		// A bad artefact, a runtime or architecture the host cannot run,
		// a timeout longer than a mapped queue's visibility timeout.
		a.fail(w, *invalidParameter("%s", strings.TrimPrefix(msg, "InvalidParameterValueException: ")))
	}
}

// createFunction is CreateFunction.
func (a *API) createFunction(w http.ResponseWriter, r *http.Request, _ []string) {
	var in struct {
		configurationJSON
		FunctionName *string
		Code         *codeJSON
		PackageType  *string
		Publish      bool
	}
	if !a.decode(w, r, "CreateFunction", maxCodeRequestBytes, &in) {
		return
	}
	switch {
	case in.FunctionName == nil:
		a.fail(w, *validation("null", "functionName", "Member must not be null"))
		return
	case in.Role == nil:
		a.fail(w, *validation("null", "role", "Member must not be null"))
		return
	case in.Code == nil:
		a.fail(w, *validation("null", "code", "Member must not be null"))
		return
	case in.PackageType != nil && *in.PackageType == "Image":
		a.fail(w, *invalidParameter("The embedded Lambda runs zip packages only, not container images: package the function as a zip holding its bootstrap."))
		return
	case in.PackageType != nil && *in.PackageType != "Zip":
		a.fail(w, *validation(*in.PackageType, "packageType", "Member must satisfy enum value set: [Zip, Image]"))
		return
	case in.Runtime == nil || in.Handler == nil:
		a.fail(w, *invalidParameter("Runtime and Handler are mandatory parameters for functions created with deployment packages."))
		return
	}
	ref, bad := parseFunctionRef(*in.FunctionName, "")
	if bad != nil {
		a.fail(w, *bad)
		return
	}
	if ref.qualifier != "" {
		a.fail(w, *invalidParameter("FunctionName %s has a qualifier: CreateFunction takes a function's name without a version or alias.", *in.FunctionName))
		return
	}
	if (ref.region != "" && ref.region != a.h.opts.Region) || (ref.account != "" && ref.account != a.h.opts.AccountID) {
		a.fail(w, *invalidParameter("FunctionName %s is of another region or account than this endpoint's (%s, %s).", *in.FunctionName, a.h.opts.Region, a.h.opts.AccountID))
		return
	}
	spec := Function{Name: ref.name, TimeoutSec: 3, MemoryMB: 128, Architectures: []string{"x86_64"}, api: true}
	if bad := in.configurationJSON.apply(&spec); bad != nil {
		a.fail(w, *bad)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if fn, exists := a.function(spec.Name); exists {
		a.fail(w, apiError{http.StatusConflict, "ResourceConflictException", "Function already exist: " + fn.cfg.Name})
		return
	}
	zip, ok := a.code(w, r, *in.Code)
	if !ok {
		return
	}
	spec.Zip = zip
	if _, err := a.h.CreateFunction(r.Context(), spec); err != nil {
		a.buildFailed(w, err)
		return
	}
	a.answerUpdated(w, r, spec.Name, in.Publish, "", http.StatusCreated)
}

// answerUpdated answers a function just created or updated: its $LATEST,
// or, with publish, the version published from it.
func (a *API) answerUpdated(w http.ResponseWriter, r *http.Request, name string, publish bool, description string, status int) {
	key := name
	if publish {
		version, _, err := a.h.PublishVersion(r.Context(), name, description)
		if err != nil {
			a.buildFailed(w, err)
			return
		}
		key += ":" + version
	}
	if err := a.h.saveFunction(name); err != nil {
		a.notDurable(w, err)
		return
	}
	if key != name {
		if err := a.h.saveFunction(key); err != nil {
			a.notDurable(w, err)
			return
		}
	}
	a.h.mu.Lock()
	fn, ok := a.h.functions[key]
	a.h.mu.Unlock()
	if !ok { // deleted meanwhile
		a.fail(w, apiError{http.StatusNotFound, "ResourceNotFoundException", "Function not found: " + name})
		return
	}
	a.reply(w, status, a.functionJSON(fn))
}

// latest finds the function a write names, which must be unqualified (or
// $LATEST), and checks its RevisionId precondition.
func (a *API) latest(w http.ResponseWriter, r *http.Request, name string, revision *string) (*function, bool) {
	fn, version, ok := a.resolve(w, r, name, false)
	if !ok {
		return nil, false
	}
	if version != "$LATEST" {
		a.fail(w, *invalidParameter("Only $LATEST can be changed: a published version is immutable."))
		return nil, false
	}
	if revision != nil && *revision != fn.revision {
		a.fail(w, apiError{http.StatusPreconditionFailed, "PreconditionFailedException", "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"})
		return nil, false
	}
	return fn, true
}

// updateCode is UpdateFunctionCode: the zip's processes are drained and
// replaced; published versions keep running their code.
func (a *API) updateCode(w http.ResponseWriter, r *http.Request, params []string) {
	var in struct {
		codeJSON
		Publish       bool
		DryRun        bool
		RevisionId    *string
		Architectures []string
	}
	if !a.decode(w, r, "UpdateFunctionCode", maxCodeRequestBytes, &in) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	fn, ok := a.latest(w, r, params[0], in.RevisionId)
	if !ok {
		return
	}
	spec := fn.spec
	if bad := (configurationJSON{Architectures: in.Architectures}).apply(&spec); bad != nil {
		a.fail(w, *bad)
		return
	}
	zip, ok := a.code(w, r, in.codeJSON)
	if !ok {
		return
	}
	if !zipRuntimes[spec.Runtime] {
		a.fail(w, *invalidParameter("Function %s's runtime %q cannot run a zip here: change its Runtime to provided.al2023 (UpdateFunctionConfiguration) first.", spec.Name, spec.Runtime))
		return
	}
	if in.DryRun {
		a.reply(w, http.StatusOK, a.functionJSON(fn))
		return
	}
	spec.Zip = zip
	if err := a.h.UpdateFunction(r.Context(), spec); err != nil {
		a.buildFailed(w, err)
		return
	}
	a.answerUpdated(w, r, spec.Name, in.Publish, "", http.StatusOK)
}

// updateConfiguration is UpdateFunctionConfiguration: the function is
// built again from its code with the new configuration.
func (a *API) updateConfiguration(w http.ResponseWriter, r *http.Request, params []string) {
	var in configurationJSON
	if !a.decode(w, r, "UpdateFunctionConfiguration", 1<<20, &in) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	fn, ok := a.latest(w, r, params[0], in.RevisionId)
	if !ok {
		return
	}
	spec := fn.spec
	if bad := in.apply(&spec); bad != nil {
		a.fail(w, *bad)
		return
	}
	spec.Zip = fn.code // nil for an in-process function: its Go code again
	if err := a.h.UpdateFunction(r.Context(), spec); err != nil {
		a.buildFailed(w, err)
		return
	}
	a.answerUpdated(w, r, spec.Name, false, "", http.StatusOK)
}

// deleteFunction is DeleteFunction: the function with its versions and
// aliases, or, with a Qualifier, one version that no alias names.
func (a *API) deleteFunction(w http.ResponseWriter, r *http.Request, params []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ref, bad := parseFunctionRef(params[0], r.URL.Query().Get("Qualifier"))
	if bad != nil {
		a.fail(w, *bad)
		return
	}
	switch {
	case ref.qualifier == "$LATEST":
		a.fail(w, *invalidParameter("$LATEST version cannot be deleted without deleting the function."))
		return
	case ref.qualifier != "" && !isVersion(ref.qualifier):
		a.fail(w, *invalidParameter("Deletion of aliases is not supported: delete the alias with DeleteAlias."))
		return
	}
	fn, _, ok := a.resolve(w, r, params[0], false)
	if !ok {
		return
	}
	if ref.qualifier != "" {
		var using []string
		for _, al := range a.h.listAliases(fn.cfg.Name) {
			if al.FunctionVersion == ref.qualifier {
				using = append(using, al.Name)
			}
		}
		if len(using) > 0 {
			a.fail(w, apiError{http.StatusConflict, "ResourceConflictException", fmt.Sprintf("Unable to delete version because the following aliases reference it: [%s]", strings.Join(using, ", "))})
			return
		}
	}
	var versions, aliases []string
	if ref.qualifier == "" {
		a.h.mu.Lock()
		for _, v := range a.h.versionsOf(fn.cfg.Name) {
			versions = append(versions, v.cfg.Version)
		}
		a.h.mu.Unlock()
		for _, al := range a.h.listAliases(fn.cfg.Name) {
			aliases = append(aliases, al.Name)
		}
	}
	if err := a.h.DeleteFunction(r.Context(), fn.key); err != nil {
		a.buildFailed(w, err)
		return
	}
	if fn.spec.api {
		var err error
		if ref.qualifier == "" {
			err = a.h.forgetFunction(fn.cfg.Name, versions, aliases)
		} else {
			err = a.h.persist(del(versionsBkt, fn.key))
		}
		if err != nil {
			a.notDurable(w, err)
			return
		}
	}
	w.Header().Set("X-Amzn-Requestid", awsproto.NewRequestID())
	w.WriteHeader(http.StatusNoContent)
}

// publishVersion is PublishVersion: a new version when the code or the
// configuration changed since the last one, else the last one.
func (a *API) publishVersion(w http.ResponseWriter, r *http.Request, params []string) {
	var in struct {
		CodeSha256  *string
		Description *string
		RevisionId  *string
	}
	if !a.decode(w, r, "PublishVersion", 1<<20, &in) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	fn, ok := a.latest(w, r, params[0], in.RevisionId)
	if !ok {
		return
	}
	if in.CodeSha256 != nil && *in.CodeSha256 != fn.sha256 {
		a.fail(w, *invalidParameter("CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). Please try again with the CodeSHA256 in $LATEST.", *in.CodeSha256, fn.sha256))
		return
	}
	if in.Description != nil && len(*in.Description) > 256 {
		a.fail(w, *validation(*in.Description, "description", "Member must have length less than or equal to 256"))
		return
	}
	a.answerUpdated(w, r, fn.cfg.Name, true, cmp.Or(aws.ToString(in.Description), fn.spec.Description), http.StatusCreated)
}

// listVersions is ListVersionsByFunction: $LATEST, then the published
// versions, oldest first.
func (a *API) listVersions(w http.ResponseWriter, r *http.Request, params []string) {
	fn, _, ok := a.resolve(w, r, params[0], false)
	if !ok {
		return
	}
	a.h.mu.Lock()
	fns := append([]*function{}, a.h.functions[fn.cfg.Name])
	fns = append(fns, a.h.versionsOf(fn.cfg.Name)...)
	a.h.mu.Unlock()
	out := []functionJSON{}
	for _, f := range fns {
		if f != nil {
			out = append(out, a.functionJSON(f))
		}
	}
	a.reply(w, http.StatusOK, map[string]any{"Versions": out})
}

// notDurable answers a change made that could not be written to the data
// file: the client cannot know whether a restart keeps it, as after AWS's
// 5xx.
func (a *API) notDurable(w http.ResponseWriter, err error) {
	a.fail(w, apiError{http.StatusServiceUnavailable, "ServiceException", strings.TrimPrefix(err.Error(), "lambda: ") + "; the change may not survive a restart"})
}
