package cloudformation

import (
	"context"
	"encoding/xml"
	"net/http"
	"slices"
	"strings"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

func changeSetNotFound(name string) *awsproto.Error {
	return awsproto.Errorf(http.StatusNotFound, "ChangeSetNotFound", "ChangeSet [%s] does not exist", truncate(name, 256))
}

// changeSet finds the change set a request names: by ARN, or by name with
// StackName. Callers hold s.mu.
func (s *Service) changeSet(f awsproto.Form) (*stack, *changeSet, *awsproto.Error) {
	name := f.Get("ChangeSetName")
	if name == "" {
		return nil, nil, validationError("1 validation error detected: Value null at 'changeSetName' failed to satisfy constraint: Member must not be null")
	}
	if strings.HasPrefix(name, "arn:") {
		for _, st := range s.stacks {
			for _, cs := range st.changeSets {
				if cs.id == name {
					return st, cs, nil
				}
			}
		}
		return nil, nil, changeSetNotFound(name)
	}
	if f.Get("StackName") == "" {
		return nil, nil, validationError("StackName must be specified if ChangeSetName is not specified as an ARN.")
	}
	st := s.find(f.Get("StackName"))
	if st == nil {
		return nil, nil, changeSetNotFound(name)
	}
	for _, cs := range st.changeSets {
		if cs.name == name {
			return st, cs, nil
		}
	}
	return nil, nil, changeSetNotFound(name)
}

func (s *Service) createChangeSet(f awsproto.Form) (any, *awsproto.Error) {
	name, csName := f.Get("StackName"), f.Get("ChangeSetName")
	if err := checkStackName(name); err != nil {
		return nil, err
	}
	if csName == "" || len(csName) > 128 || !stackNamePattern.MatchString(csName) {
		return nil, validationError("1 validation error detected: Value '%s' at 'changeSetName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*", truncate(csName, 140))
	}
	typ := f.Get("ChangeSetType")
	switch typ {
	case "":
		typ = "UPDATE"
	case "CREATE", "UPDATE":
	case "IMPORT":
		return nil, validationError("ChangeSetType IMPORT is not supported by the embedded cloud")
	default:
		return nil, validationError("1 validation error detected: Value '%s' at 'changeSetType' failed to satisfy constraint: Member must satisfy enum value set: [IMPORT, UPDATE, CREATE]", truncate(typ, 64))
	}
	s.mu.Lock()
	st := s.find(name)
	switch {
	case typ == "UPDATE" && (st == nil || st.status == "REVIEW_IN_PROGRESS"):
		s.mu.Unlock()
		return nil, validationError("Stack [%s] does not exist", name)
	case typ == "CREATE" && st != nil && st.status != "REVIEW_IN_PROGRESS":
		s.mu.Unlock()
		return nil, validationError("Stack [%s] already exists and cannot be created again with the changeSet [%s].", name, csName)
	case st != nil && slices.ContainsFunc(st.changeSets, func(cs *changeSet) bool { return cs.name == csName }):
		s.mu.Unlock()
		return nil, awsproto.Errorf(http.StatusBadRequest, "AlreadyExistsException", "ChangeSet [%s] already exists", csName)
	}
	prev := st
	if typ == "CREATE" {
		prev = nil
	}
	s.mu.Unlock()
	req, err := s.readRequest(f, prev)
	if err != nil {
		return nil, err
	}
	changes, err := s.plan(req, prev)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.find(name); cur != st {
		return nil, validationError("Stack [%s] changed while the change set was being created; create it again", name)
	}
	if st == nil {
		st = s.newStack(req, "REVIEW_IN_PROGRESS")
		st.tpl, st.template, st.params, st.description = req.tpl, req.template, req.params, req.tpl.Description
		s.addEvent(st, eventFor(st, "REVIEW_IN_PROGRESS", "User Initiated"))
	}
	cs := &changeSet{
		name: csName, typ: typ, description: f.Get("Description"),
		id:      "arn:aws:cloudformation:" + s.opts.Region + ":" + s.opts.AccountID + ":changeSet/" + csName + "/" + strings.ToLower(awsproto.NewRequestID()),
		created: s.opts.Now(), template: req.template, tpl: req.tpl, params: req.params, capabilities: req.capabilities,
		changes: changes, status: "CREATE_COMPLETE", execStatus: "AVAILABLE",
	}
	if typ == "UPDATE" && unchanged(req, st, changes) {
		cs.status, cs.reason, cs.execStatus = "FAILED", NoChanges, "UNAVAILABLE"
	}
	st.changeSets = append(st.changeSets, cs)
	return struct {
		XMLName xml.Name `xml:"CreateChangeSetResult"`
		Id      string
		StackId string
	}{Id: cs.id, StackId: st.id}, nil
}

func (s *Service) describeChangeSet(f awsproto.Form) (any, *awsproto.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, cs, err := s.changeSet(f)
	if err != nil {
		return nil, err
	}
	type result struct {
		XMLName         xml.Name `xml:"DescribeChangeSetResult"`
		ChangeSetName   string
		ChangeSetId     string
		StackId         string
		StackName       string
		Description     string `xml:",omitempty"`
		Parameters      member[parameter]
		CreationTime    string
		ExecutionStatus string
		Status          string
		StatusReason    string `xml:",omitempty"`
		Capabilities    member[string]
		Changes         member[changeXML]
	}
	res := result{ChangeSetName: cs.name, ChangeSetId: cs.id, StackId: st.id, StackName: st.name, Description: cs.description,
		CreationTime: timestamp(cs.created), ExecutionStatus: cs.execStatus, Status: cs.status, StatusReason: cs.reason,
		Capabilities: member[string]{cs.capabilities}}
	params := withDefaults(cs.tpl, cs.params)
	for _, k := range sortedKeys(params) {
		res.Parameters.Items = append(res.Parameters.Items, parameter{k, params[k]})
	}
	for _, c := range cs.changes {
		rc := resourceChangeXML{Action: c.Action, LogicalResourceId: c.LogicalID, PhysicalResourceId: c.PhysicalID, ResourceType: c.Type, Replacement: c.Replacement}
		if c.Action == "Modify" {
			rc.Scope.Items = []string{"Properties"}
		}
		for _, d := range c.Details {
			rc.Details.Items = append(rc.Details.Items, detailXML{Target: targetXML{Attribute: "Properties", Name: d.Name, RequiresRecreation: d.RequiresRecreation}, Evaluation: d.Evaluation, ChangeSource: d.ChangeSource})
		}
		res.Changes.Items = append(res.Changes.Items, changeXML{Type: "Resource", ResourceChange: rc})
	}
	return res, nil
}

func (s *Service) executeChangeSet(f awsproto.Form) (any, *awsproto.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, cs, err := s.changeSet(f)
	if err != nil {
		return nil, err
	}
	if cs.execStatus != "AVAILABLE" {
		return nil, awsproto.Errorf(http.StatusBadRequest, "InvalidChangeSetStatus", "ChangeSet [%s] cannot be executed in its current execution status of [%s]", cs.id, cs.execStatus)
	}
	if cs.typ == "UPDATE" && !st.updatable() {
		return nil, validationError("Stack:%s is in %s state and can not be updated.", st.id, st.status)
	}
	req := request{name: st.name, template: cs.template, tpl: cs.tpl, params: cs.params, capabilities: cs.capabilities}
	cs.execStatus = "EXECUTE_IN_PROGRESS"
	// As AWS does, executing a change set removes the stack's others.
	st.changeSets = []*changeSet{cs}
	if cs.typ == "CREATE" {
		st.status = "CREATE_IN_PROGRESS"
		rollback := f.Get("DisableRollback") != "true"
		s.start(func(ctx context.Context) error {
			err := s.create(ctx, st, req, rollback, false)
			s.finish(st, cs, err)
			return err
		})
	} else {
		st.status = "UPDATE_IN_PROGRESS"
		s.start(func(ctx context.Context) error {
			err := s.update(ctx, st, req)
			s.finish(st, cs, err)
			return err
		})
	}
	return struct {
		XMLName xml.Name `xml:"ExecuteChangeSetResult"`
	}{}, nil
}

// finish records an executed change set's outcome.
func (s *Service) finish(st *stack, cs *changeSet, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs.execStatus = "EXECUTE_COMPLETE"
	if err != nil {
		cs.execStatus = "EXECUTE_FAILED"
	}
	st.changeSets = slices.DeleteFunc(st.changeSets, func(x *changeSet) bool { return x == cs })
}

func (s *Service) deleteChangeSet(f awsproto.Form) (any, *awsproto.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, cs, err := s.changeSet(f)
	if err != nil {
		return nil, err
	}
	if cs.execStatus == "EXECUTE_IN_PROGRESS" {
		return nil, awsproto.Errorf(http.StatusBadRequest, "InvalidChangeSetStatus", "ChangeSet [%s] cannot be deleted in its current execution status of [%s]", cs.id, cs.execStatus)
	}
	st.changeSets = slices.DeleteFunc(st.changeSets, func(x *changeSet) bool { return x == cs })
	return struct {
		XMLName xml.Name `xml:"DeleteChangeSetResult"`
	}{}, nil
}

func (s *Service) listChangeSets(f awsproto.Form) (any, *awsproto.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.named(f)
	if err != nil {
		return nil, err
	}
	res := struct {
		XMLName   xml.Name `xml:"ListChangeSetsResult"`
		Summaries member[changeSetSummaryXML]
	}{}
	for _, cs := range st.changeSets {
		res.Summaries.Items = append(res.Summaries.Items, changeSetSummaryXML{st.id, st.name, cs.id, cs.name, cs.execStatus, cs.status, cs.reason, timestamp(cs.created), cs.description})
	}
	return res, nil
}
