// Package cloudformation is the embedded cloud's CloudFormation API: stacks
// created, updated and deleted from templates (CreateStack, UpdateStack,
// DeleteStack, change sets), with the status transitions, events, rollbacks
// and read calls (DescribeStacks, DescribeStackEvents,
// DescribeStackResources, GetTemplate, ValidateTemplate, …) that AWS
// reports, so that deploy tools work the same way locally and on AWS.
// Operations run in the background as on AWS: callers poll. Creating,
// updating and deleting resources is the provisioner's job
// (cloud/provision); this package keeps the stacks, their history and
// their change sets. Under a data directory the stacks are kept
// (durable.go): a restarted cloud has them as their last operations left
// them, and Resume recreates what lives only in memory (functions and their
// mappings).
package cloudformation

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/awsenv"
	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/journal"
	"github.com/orderflow/orderflow/cloud/provision"
	"github.com/orderflow/orderflow/internal/cfntemplate"
)

const xmlns = "http://cloudformation.amazonaws.com/doc/2010-05-15/"

// Service answers the CloudFormation API.
type Service struct {
	opts   Options
	mu     sync.Mutex
	stacks []*stack // in creation order, deleted ones included (ListStacks shows them)
	ops    sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// Options configure a Service.
type Options struct {
	// Region and AccountID make stack ids; defaults awsenv's.
	Region, AccountID string
	// Now tells the time of events; default time.Now.
	Now func() time.Time
	// Providers returns the providers resources are made with (see
	// provision.AWS); without it, only templates whose resources need no
	// provider could be deployed, that is none.
	Providers func() map[string]provision.Provider
	// Timeout bounds one stack operation; default 10 minutes.
	Timeout time.Duration
	// TemplateObject reads at most limit bytes of the S3 object a
	// TemplateURL names; without it, TemplateURL is refused. Nothing is
	// fetched over the network: the URL only names a bucket and a key.
	TemplateObject func(ctx context.Context, bucket, key string, limit int64) ([]byte, error)
	// DB and Journal, when set, keep the stacks in the data file (see
	// durable.go): New reads those it holds, and Resume makes them whole.
	DB      *bbolt.DB
	Journal *journal.Journal
}

// New returns a service with no stacks.
func New(o Options) (*Service, error) {
	env := awsenv.Env{Region: o.Region, AccountID: o.AccountID}.WithDefaults()
	o.Region, o.AccountID = env.Region, env.AccountID
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("cloudformation: Timeout %v is negative", o.Timeout)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{opts: o, ctx: ctx, cancel: cancel}
	if o.DB != nil {
		if err := s.load(o.DB); err != nil {
			cancel()
			return nil, err
		}
	}
	return s, nil
}

// Name is the SigV4 signing name.
func (s *Service) Name() string { return "cloudformation" }

// TargetPrefix is empty: CloudFormation speaks the Query protocol.
func (s *Service) TargetPrefix() string { return "" }

// Actions lists the Query actions answered.
func (s *Service) Actions() []string {
	return []string{"CreateStack", "UpdateStack", "DeleteStack", "DescribeStacks", "ListStacks",
		"DescribeStackEvents", "DescribeStackResource", "DescribeStackResources", "ListStackResources",
		"GetTemplate", "ValidateTemplate", "GetTemplateSummary",
		"CreateChangeSet", "DescribeChangeSet", "ExecuteChangeSet", "DeleteChangeSet", "ListChangeSets"}
}

// The response shapes, as AWS's Query protocol writes them.
type (
	member[T any] struct {
		Items []T `xml:"member"`
	}
	parameter struct {
		ParameterKey   string
		ParameterValue string
	}
	output struct {
		OutputKey   string
		OutputValue string
	}
	stackXML struct {
		StackName         string
		StackId           string
		ChangeSetId       string `xml:",omitempty"`
		Description       string `xml:",omitempty"`
		Parameters        member[parameter]
		CreationTime      string
		LastUpdatedTime   string `xml:",omitempty"`
		DeletionTime      string `xml:",omitempty"`
		StackStatus       string
		StackStatusReason string `xml:",omitempty"`
		DisableRollback   bool
		Capabilities      member[string]
		Outputs           member[output]
	}
	summaryXML struct {
		StackName           string
		StackId             string
		TemplateDescription string `xml:",omitempty"`
		CreationTime        string
		LastUpdatedTime     string `xml:",omitempty"`
		DeletionTime        string `xml:",omitempty"`
		StackStatus         string
		StackStatusReason   string `xml:",omitempty"`
	}
	resourceXML struct {
		StackName            string `xml:",omitempty"`
		StackId              string `xml:",omitempty"`
		LogicalResourceId    string
		PhysicalResourceId   string `xml:",omitempty"`
		ResourceType         string
		Timestamp            string `xml:",omitempty"`
		LastUpdatedTimestamp string `xml:",omitempty"`
		ResourceStatus       string
		ResourceStatusReason string `xml:",omitempty"`
	}
	eventXML struct {
		StackId              string
		EventId              string
		StackName            string
		LogicalResourceId    string
		PhysicalResourceId   string `xml:",omitempty"`
		ResourceType         string
		Timestamp            string
		ResourceStatus       string
		ResourceStatusReason string `xml:",omitempty"`
	}
	templateParameterXML struct {
		ParameterKey string
		DefaultValue string `xml:",omitempty"`
		NoEcho       bool
		Description  string `xml:",omitempty"`
	}
	targetXML struct {
		Attribute          string
		Name               string
		RequiresRecreation string
	}
	detailXML struct {
		Target       targetXML
		Evaluation   string
		ChangeSource string
	}
	resourceChangeXML struct {
		Action             string
		LogicalResourceId  string
		PhysicalResourceId string `xml:",omitempty"`
		ResourceType       string
		Replacement        string `xml:",omitempty"`
		Scope              member[string]
		Details            member[detailXML]
	}
	changeXML struct {
		Type           string
		ResourceChange resourceChangeXML
	}
	changeSetSummaryXML struct {
		StackId         string
		StackName       string
		ChangeSetId     string
		ChangeSetName   string
		ExecutionStatus string
		Status          string
		StatusReason    string `xml:",omitempty"`
		CreationTime    string
		Description     string `xml:",omitempty"`
	}
	metadata struct {
		RequestId string
	}
)

func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func optTimestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return timestamp(t)
}

// xml describes a stack. Callers hold s.mu.
func (st *stack) xml() stackXML {
	x := stackXML{StackName: st.name, StackId: st.id, Description: st.description, CreationTime: timestamp(st.created),
		LastUpdatedTime: optTimestamp(st.updated), DeletionTime: optTimestamp(st.deleted),
		StackStatus: st.status, StackStatusReason: st.reason, Capabilities: member[string]{st.capabilities}}
	params := st.params
	if st.deployed != nil {
		params = st.deployed.Parameters
		for _, k := range sortedKeys(st.deployed.Outputs) {
			x.Outputs.Items = append(x.Outputs.Items, output{k, st.deployed.Outputs[k]})
		}
	} else if st.tpl != nil {
		params = withDefaults(st.tpl, st.params)
	}
	for _, k := range sortedKeys(params) {
		x.Parameters.Items = append(x.Parameters.Items, parameter{k, params[k]})
	}
	return x
}

// resources lists a stack's resources: those it has, then those whose last
// event left them without one (failed creations). Callers hold s.mu.
func (st *stack) resources(withStack bool) []resourceXML {
	var names []string
	if st.deployed != nil {
		names = slices.Clone(st.deployed.Order)
	}
	for _, n := range sortedKeys(st.resState) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	var out []resourceXML
	for _, id := range names {
		state, ok := st.resState[id]
		if !ok {
			state = resourceState{status: "CREATE_COMPLETE", updated: st.created} // adopted by Deploy before events existed
		}
		if state.status == "DELETE_COMPLETE" && (st.deployed == nil || !slices.Contains(st.deployed.Order, id)) {
			continue
		}
		r := resourceXML{LogicalResourceId: id, ResourceStatus: state.status, ResourceStatusReason: state.reason}
		if st.deployed != nil {
			if phys, ok := st.deployed.Resources[id]; ok {
				r.PhysicalResourceId, r.ResourceType = phys.Ref, st.deployed.Types[id]
			}
		}
		if r.ResourceType == "" && st.tpl != nil {
			r.ResourceType = st.tpl.Resources[id].Type
		}
		if withStack {
			r.StackName, r.StackId, r.Timestamp = st.name, st.id, timestamp(state.updated)
		} else {
			r.LastUpdatedTimestamp = timestamp(state.updated)
		}
		out = append(out, r)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ServeHTTP answers the Query protocol.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := awsproto.NewRequestID()
	if r.Form == nil {
		if err := r.ParseForm(); err != nil {
			awsproto.WriteQueryError(w, validationError("the request's parameters cannot be read: %v", err), xmlns, reqID)
			return
		}
	}
	f := awsproto.Form(r.Form)
	action := f.Get("Action")
	type envelope struct {
		XMLName  xml.Name
		Xmlns    string `xml:"xmlns,attr"`
		Result   any
		Metadata metadata `xml:"ResponseMetadata"`
	}
	result, err := s.answer(action, f)
	if err != nil {
		awsproto.WriteQueryError(w, err, xmlns, reqID)
		return
	}
	awsproto.WriteXML(w, envelope{XMLName: xml.Name{Local: action + "Response"}, Xmlns: xmlns, Result: result, Metadata: metadata{reqID}})
}

func (s *Service) answer(action string, f awsproto.Form) (any, *awsproto.Error) {
	switch action {
	case "CreateStack":
		return s.createStack(f)
	case "UpdateStack":
		return s.updateStack(f)
	case "DeleteStack":
		return s.deleteStack(f)
	case "DescribeStacks":
		return s.describeStacks(f)
	case "ListStacks":
		return s.listStacks(f)
	case "DescribeStackEvents":
		return s.describeStackEvents(f)
	case "DescribeStackResource", "DescribeStackResources", "ListStackResources":
		return s.stackResources(action, f)
	case "GetTemplate":
		return s.getTemplate(f)
	case "ValidateTemplate", "GetTemplateSummary":
		return s.validateTemplate(action, f)
	case "CreateChangeSet":
		return s.createChangeSet(f)
	case "DescribeChangeSet":
		return s.describeChangeSet(f)
	case "ExecuteChangeSet":
		return s.executeChangeSet(f)
	case "DeleteChangeSet":
		return s.deleteChangeSet(f)
	case "ListChangeSets":
		return s.listChangeSets(f)
	}
	return nil, awsproto.Errorf(http.StatusBadRequest, "InvalidAction", "The action %s is not valid for this endpoint.", truncate(action, 64))
}

// named returns the stack the request's StackName names. Callers hold s.mu.
func (s *Service) named(f awsproto.Form) (*stack, *awsproto.Error) {
	name := f.Get("StackName")
	if name == "" {
		return nil, validationError("1 validation error detected: Value null at 'stackName' failed to satisfy constraint: Member must not be null")
	}
	st := s.find(name)
	if st == nil {
		return nil, validationError("Stack with id %s does not exist", truncate(name, 256))
	}
	return st, nil
}

func (s *Service) createStack(f awsproto.Form) (any, *awsproto.Error) {
	name := f.Get("StackName")
	if err := checkStackName(name); err != nil {
		return nil, err
	}
	req, err := s.readRequest(f, nil)
	if err != nil {
		return nil, err
	}
	if _, err := s.plan(req, nil); err != nil {
		return nil, err
	}
	rollback := true
	switch f.Get("OnFailure") {
	case "", "ROLLBACK", "DELETE":
	case "DO_NOTHING":
		rollback = false
	default:
		return nil, validationError("1 validation error detected: Value '%s' at 'onFailure' failed to satisfy constraint: Member must satisfy enum value set: [DO_NOTHING, ROLLBACK, DELETE]", truncate(f.Get("OnFailure"), 64))
	}
	if f.Get("DisableRollback") == "true" {
		rollback = false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.find(name); st != nil {
		return nil, awsproto.Errorf(http.StatusBadRequest, "AlreadyExistsException", "Stack [%s] already exists", name)
	}
	st := s.newStack(req, "CREATE_IN_PROGRESS")
	st.tpl, st.params = req.tpl, req.params
	s.start(func(ctx context.Context) error { return s.create(ctx, st, req, rollback, false) })
	return struct {
		XMLName xml.Name `xml:"CreateStackResult"`
		StackId string
	}{StackId: st.id}, nil
}

func (s *Service) updateStack(f awsproto.Form) (any, *awsproto.Error) {
	s.mu.Lock()
	st, err := s.named(f)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if !st.updatable() {
		s.mu.Unlock()
		return nil, validationError("Stack:%s is in %s state and can not be updated.", st.id, st.status)
	}
	s.mu.Unlock()
	req, err := s.readRequest(f, st)
	if err != nil {
		return nil, err
	}
	req.name = st.name
	changes, err := s.plan(req, st)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !st.updatable() {
		return nil, validationError("Stack:%s is in %s state and can not be updated.", st.id, st.status)
	}
	if unchanged(req, st, changes) {
		return nil, validationError("No updates are to be performed.")
	}
	st.status = "UPDATE_IN_PROGRESS" // at once: a second update now is refused
	s.start(func(ctx context.Context) error { return s.update(ctx, st, req) })
	return struct {
		XMLName xml.Name `xml:"UpdateStackResult"`
		StackId string
	}{StackId: st.id}, nil
}

func (s *Service) deleteStack(f awsproto.Form) (any, *awsproto.Error) {
	result := struct {
		XMLName xml.Name `xml:"DeleteStackResult"`
	}{}
	if f.Get("StackName") == "" {
		return nil, validationError("1 validation error detected: Value null at 'stackName' failed to satisfy constraint: Member must not be null")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.find(f.Get("StackName"))
	if st == nil || !st.live() || st.status == "DELETE_IN_PROGRESS" {
		return result, nil // as AWS: deleting what is not there (or going) succeeds
	}
	if st.busy() {
		return nil, validationError("Stack [%s] cannot be deleted while in status %s", st.name, st.status)
	}
	st.status = "DELETE_IN_PROGRESS"
	st.changeSets = nil
	s.start(func(ctx context.Context) error { return s.remove(ctx, st) })
	return result, nil
}

func (s *Service) describeStacks(f awsproto.Form) (any, *awsproto.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := struct {
		XMLName xml.Name `xml:"DescribeStacksResult"`
		Stacks  member[stackXML]
	}{}
	if f.Get("StackName") != "" {
		st, err := s.named(f)
		if err != nil {
			return nil, err
		}
		res.Stacks.Items = append(res.Stacks.Items, st.xml())
		return res, nil
	}
	for _, st := range s.stacks {
		if st.live() {
			res.Stacks.Items = append(res.Stacks.Items, st.xml())
		}
	}
	return res, nil
}

func (s *Service) listStacks(f awsproto.Form) (any, *awsproto.Error) {
	filter := f.Strings("StackStatusFilter.member")
	s.mu.Lock()
	defer s.mu.Unlock()
	res := struct {
		XMLName        xml.Name `xml:"ListStacksResult"`
		StackSummaries member[summaryXML]
	}{}
	for _, st := range slices.Backward(s.stacks) {
		if len(filter) > 0 && !slices.Contains(filter, st.status) {
			continue
		}
		res.StackSummaries.Items = append(res.StackSummaries.Items, summaryXML{st.name, st.id, st.description, timestamp(st.created),
			optTimestamp(st.updated), optTimestamp(st.deleted), st.status, st.reason})
	}
	return res, nil
}

func (s *Service) describeStackEvents(f awsproto.Form) (any, *awsproto.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.named(f)
	if err != nil {
		return nil, err
	}
	res := struct {
		XMLName     xml.Name `xml:"DescribeStackEventsResult"`
		StackEvents member[eventXML]
	}{}
	for _, e := range slices.Backward(st.events) { // newest first, as AWS lists them
		res.StackEvents.Items = append(res.StackEvents.Items, eventXML{st.id, e.id, st.name, e.logicalID, e.physicalID, e.typ, timestamp(e.at), e.status, e.reason})
	}
	return res, nil
}

func (s *Service) stackResources(action string, f awsproto.Form) (any, *awsproto.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.named(f)
	if err != nil {
		return nil, err
	}
	switch action {
	case "DescribeStackResource":
		id := f.Get("LogicalResourceId")
		for _, r := range st.resources(true) {
			if r.LogicalResourceId == id {
				r.LastUpdatedTimestamp, r.Timestamp = r.Timestamp, ""
				return struct {
					XMLName             xml.Name `xml:"DescribeStackResourceResult"`
					StackResourceDetail resourceXML
				}{StackResourceDetail: r}, nil
			}
		}
		return nil, validationError("Resource %s does not exist for stack %s", truncate(id, 256), st.name)
	case "DescribeStackResources":
		rs := st.resources(true)
		if id := f.Get("LogicalResourceId"); id != "" {
			rs = slices.DeleteFunc(rs, func(r resourceXML) bool { return r.LogicalResourceId != id })
		}
		return struct {
			XMLName        xml.Name `xml:"DescribeStackResourcesResult"`
			StackResources member[resourceXML]
		}{StackResources: member[resourceXML]{rs}}, nil
	}
	return struct {
		XMLName                xml.Name `xml:"ListStackResourcesResult"`
		StackResourceSummaries member[resourceXML]
	}{StackResourceSummaries: member[resourceXML]{st.resources(false)}}, nil
}

func (s *Service) getTemplate(f awsproto.Form) (any, *awsproto.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var body string
	if csName := f.Get("ChangeSetName"); csName != "" {
		_, cs, err := s.changeSet(f)
		if err != nil {
			return nil, err
		}
		body = cs.template
	} else {
		st, err := s.named(f)
		if err != nil {
			return nil, err
		}
		body = st.template
	}
	return struct {
		XMLName         xml.Name `xml:"GetTemplateResult"`
		TemplateBody    string
		StagesAvailable member[string]
	}{TemplateBody: body, StagesAvailable: member[string]{[]string{"Original", "Processed"}}}, nil
}

func (s *Service) validateTemplate(action string, f awsproto.Form) (any, *awsproto.Error) {
	var tpl *cfntemplate.Template
	if action == "GetTemplateSummary" && f.Get("StackName") != "" {
		s.mu.Lock()
		st, err := s.named(f)
		if err == nil {
			tpl = st.tpl
		}
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
	} else {
		var err *awsproto.Error
		if tpl, _, err = s.parseTemplate(f.Get("TemplateBody"), f.Get("TemplateURL")); err != nil {
			return nil, err
		}
	}
	need, types := requiredCapability(tpl)
	type summary struct {
		XMLName            xml.Name
		Parameters         member[templateParameterXML]
		Description        string `xml:",omitempty"`
		Capabilities       member[string]
		CapabilitiesReason string          `xml:",omitempty"`
		ResourceTypes      *member[string] `xml:",omitempty"`
	}
	res := summary{XMLName: xml.Name{Local: action + "Result"}, Description: tpl.Description}
	for _, k := range sortedKeys(tpl.Parameters) {
		p := tpl.Parameters[k]
		res.Parameters.Items = append(res.Parameters.Items, templateParameterXML{ParameterKey: k, DefaultValue: p.DefaultString(), Description: p.Description})
	}
	if need != "" {
		res.Capabilities.Items = []string{need}
		res.CapabilitiesReason = fmt.Sprintf("The following resource(s) require capabilities: [%s]", strings.Join(types, ", "))
	}
	if action == "GetTemplateSummary" {
		rt := member[string]{}
		for _, k := range sortedKeys(tpl.Resources) {
			if t := tpl.Resources[k].Type; !slices.Contains(rt.Items, t) {
				rt.Items = append(rt.Items, t)
			}
		}
		res.ResourceTypes = &rt
	}
	return res, nil
}
