package cloudformation

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/provision"
	"github.com/orderflow/orderflow/internal/cfntemplate"
)

// NoChanges is the reason a change set without changes FAILED, word for
// word as AWS gives it: the AWS CLI's deploy looks for it to say "No changes
// to deploy" and exit 0.
const NoChanges = "The submitted information didn't contain changes. Submit different information to create a change set."

// MaxTemplateBody is the longest TemplateBody CloudFormation accepts.
const MaxTemplateBody = 51200

var stackNamePattern = regexp.MustCompile(`^[a-zA-Z][-a-zA-Z0-9]*$`)

// stack is a stack and its history, live or deleted.
type stack struct {
	name, id     string
	uuid         string
	description  string
	template     string
	tpl          *cfntemplate.Template
	params       map[string]string // the values given (the template's defaults fill the rest)
	capabilities []string
	status       string
	reason       string
	created      time.Time
	updated      time.Time
	deleted      time.Time
	deployed     *provision.Stack // nil until created
	resState     map[string]resourceState
	events       []event
	changeSets   []*changeSet
	restored     bool // read from the data file and not resumed (see Resume)
}

type resourceState struct {
	status, reason string
	updated        time.Time
}

type event struct {
	id, logicalID, physicalID, typ, status, reason string
	at                                             time.Time
}

type changeSet struct {
	name, id, typ  string
	description    string
	status, reason string
	execStatus     string
	created        time.Time
	template       string
	tpl            *cfntemplate.Template
	params         map[string]string
	capabilities   []string
	changes        []provision.ResourceChange
}

func (st *stack) live() bool { return st.status != "DELETE_COMPLETE" }

// busy reports whether an operation is under way on the stack.
func (st *stack) busy() bool {
	return strings.HasSuffix(st.status, "_IN_PROGRESS") && st.status != "REVIEW_IN_PROGRESS"
}

// settled reports whether a stack can be updated.
func (st *stack) updatable() bool {
	switch st.status {
	case "CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE":
		return true
	}
	return false
}

func validationError(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "ValidationError", format, args...)
}

func checkStackName(name string) *awsproto.Error {
	if name == "" {
		return validationError("1 validation error detected: Value null at 'stackName' failed to satisfy constraint: Member must not be null")
	}
	if len(name) > 128 || !stackNamePattern.MatchString(name) {
		return validationError("1 validation error detected: Value '%s' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]* and have length less than or equal to 128", truncate(name, 140))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// parseTemplate reads a template as CloudFormation's API receives it: as
// TemplateBody, or from the S3 object TemplateURL names. It returns the
// template's text too (GetTemplate gives it back).
func (s *Service) parseTemplate(body, templateURL string) (*cfntemplate.Template, string, *awsproto.Error) {
	if templateURL != "" {
		if body != "" {
			return nil, "", validationError("Specify exactly one of TemplateBody or TemplateUrl.")
		}
		b, err := s.templateAt(templateURL)
		if err != nil {
			return nil, "", err
		}
		body = string(b)
	} else if len(body) > MaxTemplateBody {
		return nil, "", validationError("1 validation error detected: Value at 'templateBody' failed to satisfy constraint: Member must have length less than or equal to %d", MaxTemplateBody)
	}
	tpl, err := parseTemplateBody(body)
	return tpl, body, err
}

// MaxTemplateURLBytes is the largest template CloudFormation reads from S3.
const MaxTemplateURLBytes = 1 << 20

// templateAt reads the template a TemplateURL names. The URL names an S3
// object in any of the forms S3 has (https://BUCKET.s3.REGION.amazonaws.com/KEY,
// https://s3.REGION.amazonaws.com/BUCKET/KEY, …) or, path-style, on this
// cloud's own endpoint (http://127.0.0.1:4566/BUCKET/KEY); it is read from
// the embedded S3, never fetched.
func (s *Service) templateAt(raw string) ([]byte, *awsproto.Error) {
	bad := validationError("TemplateURL must be a supported URL.")
	if len(raw) > 1024 {
		return nil, validationError("1 validation error detected: Value at 'templateURL' failed to satisfy constraint: Member must have length less than or equal to 1024")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return nil, bad
	}
	bucket, key := "", strings.TrimPrefix(u.Path, "/")
	host := strings.ToLower(u.Hostname())
	if name, rest, ok := strings.Cut(host, ".s3"); ok && name != "" && strings.HasSuffix(rest, ".amazonaws.com") {
		bucket = name // virtual-hosted style
	} else {
		bucket, key, _ = strings.Cut(key, "/")
	}
	if bucket == "" || key == "" {
		return nil, bad
	}
	if s.opts.TemplateObject == nil {
		return nil, validationError("TemplateURL cannot be read here (this cloud has no S3): send the template as TemplateBody")
	}
	b, err := s.opts.TemplateObject(s.ctx, bucket, key, MaxTemplateURLBytes+1)
	if err != nil {
		return nil, validationError("S3 error: %v", err)
	}
	if len(b) > MaxTemplateURLBytes {
		return nil, validationError("Template file referenced by %s exceeds the maximum size of %d bytes", raw, MaxTemplateURLBytes)
	}
	return b, nil
}

// parseTemplateBody parses a template's text.
func parseTemplateBody(body string) (*cfntemplate.Template, *awsproto.Error) {
	switch {
	case body == "":
		return nil, validationError("Either Template URL or Template Body must be specified.")
	}
	tpl, err := cfntemplate.Parse([]byte(body))
	if err != nil {
		return nil, validationError("Template format error: %v", err)
	}
	if len(tpl.Resources) == 0 {
		return nil, validationError("Template format error: At least one Resources member must be defined.")
	}
	return tpl, nil
}

// requiredCapability is the capability a template needs: CAPABILITY_IAM
// for IAM resources, CAPABILITY_NAMED_IAM if one of them has a custom name.
func requiredCapability(tpl *cfntemplate.Template) (capability string, types []string) {
	for _, name := range slices.Sorted(maps.Keys(tpl.Resources)) {
		r := tpl.Resources[name]
		if !strings.HasPrefix(r.Type, "AWS::IAM::") {
			continue
		}
		if !slices.Contains(types, r.Type) {
			types = append(types, r.Type)
		}
		if capability == "" {
			capability = "CAPABILITY_IAM"
		}
		for _, p := range []string{"RoleName", "UserName", "GroupName", "ManagedPolicyName", "InstanceProfileName"} {
			if _, ok := r.Properties[p]; ok {
				capability = "CAPABILITY_NAMED_IAM"
			}
		}
	}
	return capability, types
}

func checkCapabilities(tpl *cfntemplate.Template, given []string) *awsproto.Error {
	for _, c := range given {
		switch c {
		case "CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND":
		default:
			return validationError("1 validation error detected: Value '[%s]' at 'capabilities' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [CAPABILITY_AUTO_EXPAND, CAPABILITY_NAMED_IAM, CAPABILITY_IAM]]", truncate(c, 64))
		}
	}
	need, _ := requiredCapability(tpl)
	switch {
	case need == "":
	case need == "CAPABILITY_IAM" && (slices.Contains(given, "CAPABILITY_IAM") || slices.Contains(given, "CAPABILITY_NAMED_IAM")):
	case need == "CAPABILITY_NAMED_IAM" && slices.Contains(given, "CAPABILITY_NAMED_IAM"):
	default:
		return awsproto.Errorf(http.StatusBadRequest, "InsufficientCapabilitiesException", "Requires capabilities : [%s]", need)
	}
	return nil
}

// request is a create, update or change set request, checked.
type request struct {
	name         string
	template     string
	tpl          *cfntemplate.Template
	params       map[string]string
	capabilities []string
}

// readRequest reads and checks the template, parameters and capabilities of
// a create, update or change set request. prev is the stack being updated
// (nil for a create): UsePreviousTemplate and UsePreviousValue refer to it.
func (s *Service) readRequest(f awsproto.Form, prev *stack) (request, *awsproto.Error) {
	req := request{name: f.Get("StackName"), params: map[string]string{}, capabilities: f.Strings("Capabilities.member")}
	if f.Get("UsePreviousTemplate") == "true" {
		if prev == nil || prev.tpl == nil {
			return req, validationError("UsePreviousTemplate is only valid for a stack that has a template.")
		}
		req.template, req.tpl = prev.template, prev.tpl
	} else {
		tpl, body, err := s.parseTemplate(f.Get("TemplateBody"), f.Get("TemplateURL"))
		if err != nil {
			return req, err
		}
		req.template, req.tpl = body, tpl
	}
	for _, p := range f.Structs("Parameters.member") {
		key := p.Get("ParameterKey")
		if _, ok := req.tpl.Parameters[key]; !ok {
			return req, validationError("Parameters: [%s] do not exist in the template", truncate(key, 255))
		}
		if p.Get("UsePreviousValue") == "true" {
			if prev == nil || prev.deployed == nil {
				return req, validationError("Invalid input for parameter key %s. Cannot specify usePreviousValue as true for a new stack", truncate(key, 255))
			}
			v, ok := prev.deployed.Parameters[key]
			if !ok {
				return req, validationError("Invalid input for parameter key %s. Cannot specify usePreviousValue as true for a parameter that the stack does not have", key)
			}
			req.params[key] = v
			continue
		}
		req.params[key] = p.Get("ParameterValue")
	}
	if err := checkCapabilities(req.tpl, req.capabilities); err != nil {
		return req, err
	}
	return req, nil
}

// plan checks a request completely (parameter constraints, rules,
// properties) and returns the changes it makes to prev.
func (s *Service) plan(req request, prev *stack) ([]provision.ResourceChange, *awsproto.Error) {
	var deployed *provision.Stack
	if prev != nil {
		deployed = prev.deployed
	}
	changes, err := provision.Plan(req.tpl, s.provisionOptions(req.name, "", req.params, false), deployed)
	if err != nil {
		return nil, validationError("%s", strings.TrimPrefix(err.Error(), "provision: "))
	}
	return changes, nil
}

// unchanged reports whether a request changes nothing of st: the same
// template, the same parameter values, no resource changes.
func unchanged(req request, st *stack, changes []provision.ResourceChange) bool {
	if len(changes) > 0 || st.deployed == nil || req.template != st.template {
		return false
	}
	return maps.Equal(withDefaults(req.tpl, req.params), st.deployed.Parameters)
}

// withDefaults fills in the parameters a request leaves at their default.
func withDefaults(tpl *cfntemplate.Template, given map[string]string) map[string]string {
	out := maps.Clone(given)
	for name, p := range tpl.Parameters {
		if _, ok := out[name]; !ok && p.Default != nil {
			out[name] = p.DefaultString()
		}
	}
	return out
}

func (s *Service) provisionOptions(name, uuid string, params map[string]string, adopt bool) provision.Options {
	var providers map[string]provision.Provider
	if s.opts.Providers != nil {
		providers = s.opts.Providers()
	}
	return provision.Options{
		Parameters: params,
		Pseudo:     provision.Pseudo{Region: s.opts.Region, AccountID: s.opts.AccountID, StackName: name, StackUUID: uuid},
		Providers:  providers,
		Adopt:      adopt,
	}
}

// newStack registers a stack about to be created.
func (s *Service) newStack(req request, status string) *stack {
	st := s.stackFor(req, status)
	s.stacks = append(s.stacks, st)
	return st
}

// stackFor makes a stack about to be created, unregistered.
func (s *Service) stackFor(req request, status string) *stack {
	uuid := strings.ToLower(awsproto.NewRequestID())
	st := &stack{
		name: req.name, uuid: uuid,
		id:       provision.Pseudo{Region: s.opts.Region, AccountID: s.opts.AccountID, Partition: "aws", StackName: req.name, StackUUID: uuid}.StackID(),
		status:   status,
		created:  s.opts.Now(),
		resState: map[string]resourceState{},
	}
	return st
}

// setStatus changes a stack's status and records the event. Callers hold s.mu.
func (s *Service) setStatus(st *stack, status, reason string) {
	st.status, st.reason = status, reason
	s.addEvent(st, eventFor(st, status, reason))
	if settled(status) {
		s.persist(st)
	}
}

func (s *Service) addEvent(st *stack, e provision.Event) {
	now := s.opts.Now()
	st.events = append(st.events, event{id: strings.ToLower(awsproto.NewRequestID()), logicalID: e.LogicalID, physicalID: e.PhysicalID, typ: e.Type, status: e.Status, reason: e.Reason, at: now})
	if e.Type != "AWS::CloudFormation::Stack" {
		st.resState[e.LogicalID] = resourceState{status: e.Status, reason: e.Reason, updated: now}
	}
}

// emitter records a stack's resource events as the provisioner reports
// them, and the resources that failed.
func (s *Service) emitter(st *stack, failed *[]string) func(provision.Event) {
	return func(e provision.Event) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.addEvent(st, e)
		if strings.HasSuffix(e.Status, "_FAILED") && !slices.Contains(*failed, e.LogicalID) {
			*failed = append(*failed, e.LogicalID)
		}
	}
}

// create creates st's resources; on failure it rolls back (or not, for
// OnFailure DO_NOTHING). It returns the error that failed the create.
func (s *Service) create(ctx context.Context, st *stack, req request, rollback, adopt bool) error {
	s.mu.Lock()
	st.template, st.tpl, st.params, st.capabilities, st.description = req.template, req.tpl, req.params, req.capabilities, req.tpl.Description
	s.setStatus(st, "CREATE_IN_PROGRESS", "User Initiated")
	s.mu.Unlock()
	var failed []string
	a, err := provision.Apply(ctx, req.tpl, s.provisionOptions(st.name, st.uuid, req.params, adopt), nil, s.emitter(st, &failed))
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		st.deployed = a.Stack
		s.setStatus(st, "CREATE_COMPLETE", "")
		return nil
	}
	reason := failureReason("create", failed, err)
	if !rollback {
		s.setStatus(st, "CREATE_FAILED", reason)
		if a != nil {
			st.deployed = a.Stack // what was created stays, for DeleteStack to delete
		}
		return err
	}
	s.setStatus(st, "ROLLBACK_IN_PROGRESS", reason+" Rollback requested by user.")
	var rbErr error
	if a != nil {
		s.mu.Unlock()
		rbErr = a.Rollback(ctx)
		s.mu.Lock()
	}
	if rbErr != nil {
		if a != nil {
			st.deployed = a.Stack
		}
		s.setStatus(st, "ROLLBACK_FAILED", failureReason("delete", nil, rbErr))
		return err
	}
	s.setStatus(st, "ROLLBACK_COMPLETE", "")
	st.reason = reason + " Rollback requested by user."
	s.persist(st)
	return err
}

// update applies req over st; on failure it rolls back to what st was.
func (s *Service) update(ctx context.Context, st *stack, req request) error {
	s.mu.Lock()
	prev := st.deployed
	s.setStatus(st, "UPDATE_IN_PROGRESS", "User Initiated")
	s.mu.Unlock()
	var failed []string
	a, err := provision.Apply(ctx, req.tpl, s.provisionOptions(st.name, st.uuid, req.params, false), prev, s.emitter(st, &failed))
	if err == nil {
		s.mu.Lock()
		st.deployed, st.updated = a.Stack, s.opts.Now()
		st.template, st.tpl, st.params, st.capabilities, st.description = req.template, req.tpl, req.params, req.capabilities, req.tpl.Description
		s.setStatus(st, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "")
		s.mu.Unlock()
		a.Cleanup(ctx) // a resource that cannot be deleted is left, as AWS does, with its DELETE_FAILED event
		s.mu.Lock()
		s.setStatus(st, "UPDATE_COMPLETE", "")
		s.mu.Unlock()
		return nil
	}
	reason := failureReason("update", failed, err)
	s.mu.Lock()
	s.setStatus(st, "UPDATE_ROLLBACK_IN_PROGRESS", reason)
	s.mu.Unlock()
	var rbErr error
	if a != nil {
		rbErr = a.Rollback(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st.updated = s.opts.Now()
	if rbErr != nil {
		s.setStatus(st, "UPDATE_ROLLBACK_FAILED", failureReason("update", nil, rbErr))
		return err
	}
	s.setStatus(st, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "")
	s.setStatus(st, "UPDATE_ROLLBACK_COMPLETE", "")
	st.reason = reason
	s.persist(st)
	return err
}

// remove deletes st's resources, keeping those whose policy is Retain.
func (s *Service) remove(ctx context.Context, st *stack) error {
	s.mu.Lock()
	s.setStatus(st, "DELETE_IN_PROGRESS", "User Initiated")
	deployed := st.deployed
	s.mu.Unlock()
	var failed []string
	var err error
	if deployed != nil {
		err = provision.Delete(ctx, deployed, s.provisionOptions(st.name, st.uuid, nil, false).Providers, s.emitter(st, &failed))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.setStatus(st, "DELETE_FAILED", failureReason("delete", failed, err))
		return err
	}
	st.deleted = s.opts.Now()
	s.setStatus(st, "DELETE_COMPLETE", "")
	return nil
}

// failureReason says which resources failed, as CloudFormation's stack
// events do, or the error if no resource did.
func failureReason(what string, failed []string, err error) string {
	if len(failed) == 0 {
		msg := err.Error()
		msg = strings.TrimPrefix(msg, "provision: ")
		return msg
	}
	return fmt.Sprintf("The following resource(s) failed to %s: [%s].", what, strings.Join(failed, ", "))
}

// start runs an operation in the background, bounded by Options.Timeout,
// as CloudFormation does: the API call returns at once and clients poll.
func (s *Service) start(op func(ctx context.Context) error) {
	s.ops.Add(1)
	go func() {
		defer s.ops.Done()
		ctx, cancel := context.WithTimeout(s.ctx, s.opts.Timeout)
		defer cancel()
		op(ctx) // the outcome is in the stack's status and events
	}()
}

// Close cancels operations under way and waits for them to end (they roll
// back what they can within ctx).
func (s *Service) Close(ctx context.Context) error {
	s.cancel()
	done := make(chan struct{})
	go func() { s.ops.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cloudformation: stack operations still running: %w", ctx.Err())
	}
}

// Deploy creates the stack name from template, or updates it if it exists,
// and waits for the outcome. A stack the data directory kept and Resume
// did not resume is made again, and named resources that already exist
// are adopted, so a restart with other parameters updates them. It is
// `orderflow up`'s path; the API's callers use CreateStack and change sets.
func (s *Service) Deploy(ctx context.Context, template []byte, name string, params map[string]string) (*provision.Stack, error) {
	if err := checkStackName(name); err != nil {
		return nil, err
	}
	tpl, err := cfntemplate.Parse(template)
	if err != nil {
		return nil, err
	}
	req := request{name: name, template: string(template), tpl: tpl, params: params}
	s.mu.Lock()
	st := s.find(name)
	if st != nil && st.busy() {
		s.mu.Unlock()
		return nil, fmt.Errorf("cloudformation: stack %s is in %s state and can not be updated", name, st.status)
	}
	if st == nil || !st.updatable() || st.restored {
		if st != nil {
			// A failed create (what it made is adopted again), a stack
			// waiting for its first change set, or one a restarted cloud
			// kept and did not resume: replaced.
			st.status = "DELETE_COMPLETE"
			s.persist(st)
		}
		// The stack is registered once created, not before: up's callers
		// take a stack that DescribeStacks finds for a deployed pipeline.
		st = s.stackFor(req, "CREATE_IN_PROGRESS")
		s.mu.Unlock()
		err := s.create(ctx, st, req, false, true)
		s.mu.Lock()
		s.stacks = append(s.stacks, st)
		s.mu.Unlock()
		return s.snapshot(st), err
	}
	s.mu.Unlock()
	if err := s.update(ctx, st, req); err != nil {
		return nil, err
	}
	return s.snapshot(st), nil
}

func (s *Service) snapshot(st *stack) *provision.Stack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return st.deployed
}

// find returns the live stack named nameOrID, or the stack (deleted too)
// whose id it is. Callers hold s.mu.
func (s *Service) find(nameOrID string) *stack {
	for _, st := range slices.Backward(s.stacks) {
		if st.id == nameOrID || (st.name == nameOrID && st.live()) {
			return st
		}
	}
	return nil
}

// eventFor is a stack-level event.
func eventFor(st *stack, status, reason string) provision.Event {
	return provision.Event{LogicalID: st.name, PhysicalID: st.id, Type: "AWS::CloudFormation::Stack", Status: status, Reason: reason}
}
