// Package cloudformation is the embedded cloud's CloudFormation API, read
// side: the stacks the cloud has deployed, as DescribeStacks, ListStacks,
// DescribeStackResources, ListStackResources and GetTemplate report them, so
// that tools find a stack's outputs the same way locally and on AWS.
// Deploying is the provisioner's job (cloud/provision); this package records
// what it deployed.
package cloudformation

import (
	"encoding/xml"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/provision"
)

const xmlns = "http://cloudformation.amazonaws.com/doc/2010-05-15/"

// Stack is a deployed stack as recorded.
type Stack struct {
	Name        string
	Description string
	Template    string
	Created     time.Time
	Deployed    *provision.Stack
}

// Service answers the CloudFormation API for recorded stacks.
type Service struct {
	mu     sync.Mutex
	stacks []Stack
}

// Options configure a Service. There are none yet: the stacks it answers
// for carry their own region and account. The type keeps New's shape the
// same as every other service's.
type Options struct{}

// New returns a service with no stacks.
func New(Options) (*Service, error) { return &Service{}, nil }

// Name is the SigV4 signing name.
func (s *Service) Name() string { return "cloudformation" }

// TargetPrefix is empty: CloudFormation speaks the Query protocol.
func (s *Service) TargetPrefix() string { return "" }

// Actions lists the Query actions answered.
func (s *Service) Actions() []string {
	return []string{"DescribeStacks", "ListStacks", "DescribeStackResources", "ListStackResources", "GetTemplate"}
}

// Record keeps a deployed stack, replacing one of the same name.
func (s *Service) Record(st Stack) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stacks = slices.DeleteFunc(s.stacks, func(x Stack) bool { return x.Name == st.Name })
	s.stacks = append(s.stacks, st)
}

func (s *Service) find(nameOrID string) (Stack, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.stacks {
		if st.Name == nameOrID || st.Deployed.Pseudo.StackID() == nameOrID {
			return st, true
		}
	}
	return Stack{}, false
}

func (s *Service) all() []Stack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.stacks)
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
		StackName    string
		StackId      string
		Description  string `xml:",omitempty"`
		CreationTime string
		StackStatus  string
		Parameters   member[parameter]
		Outputs      member[output]
	}
	summaryXML struct {
		StackName           string
		StackId             string
		TemplateDescription string `xml:",omitempty"`
		CreationTime        string
		StackStatus         string
	}
	resourceXML struct {
		StackName            string `xml:",omitempty"`
		StackId              string `xml:",omitempty"`
		LogicalResourceId    string
		PhysicalResourceId   string
		ResourceType         string
		ResourceStatus       string
		Timestamp            string `xml:",omitempty"`
		LastUpdatedTimestamp string `xml:",omitempty"`
	}
	metadata struct {
		RequestId string
	}
)

func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (st Stack) xml() stackXML {
	d := st.Deployed
	x := stackXML{StackName: st.Name, StackId: d.Pseudo.StackID(), Description: st.Description, CreationTime: timestamp(st.Created), StackStatus: "CREATE_COMPLETE"}
	for _, k := range sortedKeys(d.Parameters) {
		x.Parameters.Items = append(x.Parameters.Items, parameter{k, d.Parameters[k]})
	}
	for _, k := range sortedKeys(d.Outputs) {
		x.Outputs.Items = append(x.Outputs.Items, output{k, d.Outputs[k]})
	}
	return x
}

func (st Stack) resources(withStack bool) []resourceXML {
	var out []resourceXML
	for _, id := range st.Deployed.Order {
		r := resourceXML{LogicalResourceId: id, PhysicalResourceId: st.Deployed.Resources[id].Ref, ResourceType: st.Deployed.Types[id], ResourceStatus: "CREATE_COMPLETE"}
		if withStack {
			r.StackName, r.StackId, r.Timestamp = st.Name, st.Deployed.Pseudo.StackID(), timestamp(st.Created)
		} else {
			r.LastUpdatedTimestamp = timestamp(st.Created)
		}
		out = append(out, r)
	}
	return out
}

func sortedKeys(m map[string]string) []string {
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
			awsproto.WriteQueryError(w, awsproto.Errorf(http.StatusBadRequest, "ValidationError", "the request's parameters cannot be read: %v", err), xmlns, reqID)
			return
		}
	}
	f := awsproto.Form(r.Form)
	action := f.Get("Action")
	fail := func(err *awsproto.Error) { awsproto.WriteQueryError(w, err, xmlns, reqID) }
	named := func() (Stack, bool) {
		name := f.Get("StackName")
		if name == "" {
			fail(awsproto.Errorf(http.StatusBadRequest, "ValidationError", "1 validation error detected: Value null at 'stackName' failed to satisfy constraint: Member must not be null"))
			return Stack{}, false
		}
		st, ok := s.find(name)
		if !ok {
			fail(awsproto.Errorf(http.StatusBadRequest, "ValidationError", "Stack with id %s does not exist", name))
		}
		return st, ok
	}
	type envelope struct {
		XMLName  xml.Name
		Xmlns    string `xml:"xmlns,attr"`
		Result   any
		Metadata metadata `xml:"ResponseMetadata"`
	}
	reply := func(result any) {
		awsproto.WriteXML(w, envelope{XMLName: xml.Name{Local: action + "Response"}, Xmlns: xmlns, Result: result, Metadata: metadata{reqID}})
	}
	switch action {
	case "DescribeStacks":
		var stacks []Stack
		if f.Get("StackName") == "" {
			stacks = s.all()
		} else {
			st, ok := named()
			if !ok {
				return
			}
			stacks = []Stack{st}
		}
		res := struct {
			XMLName xml.Name `xml:"DescribeStacksResult"`
			Stacks  member[stackXML]
		}{}
		for _, st := range stacks {
			res.Stacks.Items = append(res.Stacks.Items, st.xml())
		}
		reply(res)
	case "ListStacks":
		res := struct {
			XMLName        xml.Name `xml:"ListStacksResult"`
			StackSummaries member[summaryXML]
		}{}
		for _, st := range s.all() {
			res.StackSummaries.Items = append(res.StackSummaries.Items, summaryXML{st.Name, st.Deployed.Pseudo.StackID(), st.Description, timestamp(st.Created), "CREATE_COMPLETE"})
		}
		reply(res)
	case "DescribeStackResources":
		st, ok := named()
		if !ok {
			return
		}
		reply(struct {
			XMLName        xml.Name `xml:"DescribeStackResourcesResult"`
			StackResources member[resourceXML]
		}{StackResources: member[resourceXML]{st.resources(true)}})
	case "ListStackResources":
		st, ok := named()
		if !ok {
			return
		}
		reply(struct {
			XMLName                xml.Name `xml:"ListStackResourcesResult"`
			StackResourceSummaries member[resourceXML]
		}{StackResourceSummaries: member[resourceXML]{st.resources(false)}})
	case "GetTemplate":
		st, ok := named()
		if !ok {
			return
		}
		reply(struct {
			XMLName         xml.Name `xml:"GetTemplateResult"`
			TemplateBody    string
			StagesAvailable member[string]
		}{TemplateBody: st.Template, StagesAvailable: member[string]{[]string{"Original", "Processed"}}})
	default:
		fail(awsproto.Errorf(http.StatusBadRequest, "InvalidAction", "the action %s is not valid for this endpoint", action))
	}
}
