package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/orderflow/orderflow/internal/cfntemplate"
)

// Event is one resource's status change, as CloudFormation reports it in a
// stack's events.
type Event struct {
	LogicalID  string
	Type       string
	PhysicalID string
	Status     string // CREATE_IN_PROGRESS, CREATE_COMPLETE, CREATE_FAILED, UPDATE_…, DELETE_…, DELETE_SKIPPED
	Reason     string
}

// Updater is a Provider that can change some properties of a resource in
// place. A provider that is not an Updater replaces its resources on any
// change.
type Updater interface {
	// Replacing lists the properties whose change needs a new resource.
	Replacing() []string
	// Update changes the resource old, made with oldProps, in place to
	// req.Properties, and returns its identity afterwards.
	Update(ctx context.Context, req Request, old Physical, oldProps Properties) (Physical, error)
}

// Deleter is a Provider that can delete its resources.
type Deleter interface {
	Delete(ctx context.Context, req Request, phys Physical) error
}

// ReasonReplacing is the reason CloudFormation gives when an update creates
// a new physical resource.
const ReasonReplacing = "Requested update requires the creation of a new physical resource; hence creating one."

type stepKind int

const (
	created stepKind = iota
	updated
	replaced
)

// step is what Apply did to one resource, so that Rollback can undo it.
type step struct {
	kind     stepKind
	name     string
	typ      string
	old      Physical
	oldProps Properties
	policy   string
}

// stale is a resource an update leaves behind: a replaced resource's old
// self or a resource the new template no longer declares.
type stale struct {
	name   string
	typ    string
	phys   Physical
	props  Properties
	policy string
}

// Applied is a template applied over a previous stack (or none): the new
// stack, and what is needed to finish (Cleanup) or undo (Rollback) it.
type Applied struct {
	Stack     *Stack
	prev      *Stack
	providers map[string]Provider
	emit      func(Event)
	steps     []step
	stale     []stale
}

// Apply creates or updates the resources of tpl over prev (nil for a new
// stack) in dependency order: a resource prev does not have is created; one
// whose resolved properties changed is updated in place where its provider
// can, and replaced (a new resource created) where not; one whose
// properties did not change is kept. Each status change goes to emit. Old
// resources are deleted only by Cleanup; on an error, Rollback undoes what
// Apply did. Apply returns nil only if it touched nothing.
func Apply(ctx context.Context, tpl *cfntemplate.Template, opts Options, prev *Stack, emit func(Event)) (*Applied, error) {
	if emit == nil {
		emit = func(Event) {}
	}
	ev, active, order, err := prepare(tpl, &opts)
	if err != nil {
		return nil, err
	}
	st := ev.stack
	a := &Applied{Stack: st, prev: prev, providers: opts.Providers, emit: emit}
	for _, name := range order {
		r := active[name]
		p := opts.Providers[r.Type]
		props, err := ev.resolve(r.Properties)
		if err != nil {
			emit(Event{LogicalID: name, Type: r.Type, Status: "CREATE_FAILED", Reason: err.Error()})
			return a, fmt.Errorf("provision: resource %s (%s): %w", name, r.Type, err)
		}
		m, _ := props.(map[string]any)
		req := Request{LogicalID: name, Type: r.Type, Properties: Properties(m), Stack: st.Pseudo, Adopt: opts.Adopt}
		var old Physical
		had := false
		if prev != nil {
			old, had = prev.Resources[name]
			if had && prev.Types[name] != r.Type {
				a.stale = append(a.stale, stale{name, prev.Types[name], old, prev.Props[name], prev.Policies[name]})
				had = false
			}
		}
		var phys Physical
		switch {
		case !had:
			emit(Event{LogicalID: name, Type: r.Type, Status: "CREATE_IN_PROGRESS"})
			phys, err = p.Create(ctx, req)
			if err != nil {
				emit(Event{LogicalID: name, Type: r.Type, Status: "CREATE_FAILED", Reason: reason(err)})
				return a, fmt.Errorf("provision: create resource %s (%s): %w", name, r.Type, err)
			}
			a.steps = append(a.steps, step{kind: created, name: name, typ: r.Type, policy: r.DeletionPolicy})
			emit(Event{LogicalID: name, Type: r.Type, PhysicalID: phys.Ref, Status: "CREATE_COMPLETE"})
		case reflect.DeepEqual(prev.Props[name], req.Properties):
			phys = old
		default:
			oldProps := prev.Props[name]
			emit(Event{LogicalID: name, Type: r.Type, PhysicalID: old.Ref, Status: "UPDATE_IN_PROGRESS"})
			if u, ok := p.(Updater); ok && !replaces(u, oldProps, req.Properties) {
				phys, err = u.Update(ctx, req, old, oldProps)
				if err == nil {
					a.steps = append(a.steps, step{kind: updated, name: name, typ: r.Type, old: old, oldProps: oldProps})
				}
			} else if custom := keptName(oldProps, req.Properties); custom != "" {
				err = fmt.Errorf("CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename %s and update the stack again.", custom)
			} else {
				emit(Event{LogicalID: name, Type: r.Type, PhysicalID: old.Ref, Status: "UPDATE_IN_PROGRESS", Reason: ReasonReplacing})
				phys, err = p.Create(ctx, req)
				if err == nil {
					a.steps = append(a.steps, step{kind: replaced, name: name, typ: r.Type, policy: r.DeletionPolicy})
					a.stale = append(a.stale, stale{name, r.Type, old, oldProps, r.UpdateReplacePolicy})
				}
			}
			if err != nil {
				emit(Event{LogicalID: name, Type: r.Type, PhysicalID: old.Ref, Status: "UPDATE_FAILED", Reason: reason(err)})
				return a, fmt.Errorf("provision: update resource %s (%s): %w", name, r.Type, err)
			}
			emit(Event{LogicalID: name, Type: r.Type, PhysicalID: phys.Ref, Status: "UPDATE_COMPLETE"})
		}
		st.Resources[name] = phys
		st.Props[name] = req.Properties
		st.Order = append(st.Order, name)
	}
	if prev != nil {
		for _, name := range prev.Order {
			if _, kept := st.Resources[name]; !kept {
				a.stale = append(a.stale, stale{name, prev.Types[name], prev.Resources[name], prev.Props[name], prev.Policies[name]})
			}
		}
	}
	if err := ev.outputs(); err != nil {
		return a, err
	}
	return a, nil
}

// nameProperties are the properties that give a resource a custom name.
var nameProperties = []string{"QueueName", "TopicName", "TableName", "FunctionName", "RoleName", "LogGroupName", "AlarmName"}

// keptName returns the custom name a resource keeps across a change, if
// any: a replacement would need a second resource of that name.
func keptName(old, new Properties) string {
	for _, k := range nameProperties {
		if v, ok := new[k].(string); ok && v != "" && reflect.DeepEqual(old[k], new[k]) {
			return v
		}
	}
	return ""
}

// replaces reports whether changing from old to new properties changes one
// that u cannot change in place.
func replaces(u Updater, old, new Properties) bool {
	for _, k := range u.Replacing() {
		if !reflect.DeepEqual(old[k], new[k]) {
			return true
		}
	}
	return false
}

// Cleanup deletes what a successful Apply left behind: the old selves of
// replaced resources and the resources the template no longer declares,
// newest first, keeping those whose policy is Retain.
func (a *Applied) Cleanup(ctx context.Context) error {
	var errs []error
	for _, s := range slices.Backward(a.stale) {
		if err := deleteOne(ctx, a.providers, a.Stack.Pseudo, s, a.emit); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Rollback undoes what Apply did, newest first: created resources (and the
// new selves of replaced ones) are deleted, updated ones are updated back
// to their previous properties. The stack is then prev again.
func (a *Applied) Rollback(ctx context.Context) error {
	var errs []error
	for _, s := range slices.Backward(a.steps) {
		switch s.kind {
		case created, replaced:
			policy := s.policy
			if policy == "RetainExceptOnCreate" && s.kind == created {
				policy = "Delete"
			}
			if err := deleteOne(ctx, a.providers, a.Stack.Pseudo, stale{s.name, s.typ, a.Stack.Resources[s.name], a.Stack.Props[s.name], policy}, a.emit); err != nil {
				errs = append(errs, err)
			}
		case updated:
			cur := a.Stack.Resources[s.name]
			a.emit(Event{LogicalID: s.name, Type: s.typ, PhysicalID: cur.Ref, Status: "UPDATE_IN_PROGRESS"})
			req := Request{LogicalID: s.name, Type: s.typ, Properties: s.oldProps, Stack: a.Stack.Pseudo}
			if _, err := a.providers[s.typ].(Updater).Update(ctx, req, cur, a.Stack.Props[s.name]); err != nil {
				a.emit(Event{LogicalID: s.name, Type: s.typ, PhysicalID: cur.Ref, Status: "UPDATE_FAILED", Reason: reason(err)})
				errs = append(errs, fmt.Errorf("provision: roll back resource %s: %w", s.name, err))
				continue
			}
			a.emit(Event{LogicalID: s.name, Type: s.typ, PhysicalID: s.old.Ref, Status: "UPDATE_COMPLETE"})
		}
	}
	return errors.Join(errs...)
}

// Delete deletes a stack's resources, newest first, keeping those whose
// DeletionPolicy is Retain (event DELETE_SKIPPED).
func Delete(ctx context.Context, st *Stack, providers map[string]Provider, emit func(Event)) error {
	if emit == nil {
		emit = func(Event) {}
	}
	var errs []error
	for _, name := range slices.Backward(st.Order) {
		if err := deleteOne(ctx, providers, st.Pseudo, stale{name, st.Types[name], st.Resources[name], st.Props[name], st.Policies[name]}, emit); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func deleteOne(ctx context.Context, providers map[string]Provider, pseudo Pseudo, s stale, emit func(Event)) error {
	if s.policy == "Retain" || s.policy == "RetainExceptOnCreate" || s.policy == "Snapshot" {
		emit(Event{LogicalID: s.name, Type: s.typ, PhysicalID: s.phys.Ref, Status: "DELETE_SKIPPED"})
		return nil
	}
	emit(Event{LogicalID: s.name, Type: s.typ, PhysicalID: s.phys.Ref, Status: "DELETE_IN_PROGRESS"})
	d, ok := providers[s.typ].(Deleter)
	var err error
	if !ok {
		err = fmt.Errorf("the embedded cloud cannot delete %s resources yet", s.typ)
	} else {
		err = d.Delete(ctx, Request{LogicalID: s.name, Type: s.typ, Properties: s.props, Stack: pseudo}, s.phys)
	}
	if err != nil {
		emit(Event{LogicalID: s.name, Type: s.typ, PhysicalID: s.phys.Ref, Status: "DELETE_FAILED", Reason: reason(err)})
		return fmt.Errorf("provision: delete resource %s (%s): %w", s.name, s.typ, err)
	}
	emit(Event{LogicalID: s.name, Type: s.typ, PhysicalID: s.phys.Ref, Status: "DELETE_COMPLETE"})
	return nil
}

// ResourceChange is what applying a template would do to one resource, as
// a change set shows it.
type ResourceChange struct {
	Action      string // Add, Modify or Remove
	LogicalID   string
	PhysicalID  string // "" for Add
	Type        string
	Replacement string // True, False or Conditional for Modify; "" otherwise
	Details     []Detail
}

// Detail is one changed property of a modified resource.
type Detail struct {
	Name               string // the property
	RequiresRecreation string // Never, Conditionally or Always
	Evaluation         string // Static, or Dynamic when it depends on a resource not created yet
	ChangeSource       string // DirectModification or ResourceAttribute
}

// placeholder stands for a value that only exists once a resource is
// created.
func placeholder(name string) string { return "{{unknown:" + name + "}}" }

// Plan computes what Apply would do to prev without touching anything.
// Values that only creation would tell (a new resource's ARN) make the
// changes that depend on them Dynamic, and a replacement that depends on
// them Conditional.
func Plan(tpl *cfntemplate.Template, opts Options, prev *Stack) ([]ResourceChange, error) {
	ev, active, order, err := prepare(tpl, &opts)
	if err != nil {
		return nil, err
	}
	ev.unknown = map[string]bool{}
	st := ev.stack
	var changes []ResourceChange
	for _, name := range order {
		r := active[name]
		props, err := ev.resolve(r.Properties)
		if err != nil {
			return nil, fmt.Errorf("provision: resource %s (%s): %w", name, r.Type, err)
		}
		m, _ := props.(map[string]any)
		newProps := Properties(m)
		var old Physical
		had := false
		if prev != nil {
			old, had = prev.Resources[name]
			had = had && prev.Types[name] == r.Type
		}
		if !had {
			changes = append(changes, ResourceChange{Action: "Add", LogicalID: name, Type: r.Type})
			ev.unknown[name] = true
			st.Resources[name] = Physical{Ref: placeholder(name)}
			continue
		}
		st.Resources[name] = old
		oldProps := prev.Props[name]
		if reflect.DeepEqual(oldProps, newProps) {
			continue
		}
		u, canUpdate := opts.Providers[r.Type].(Updater)
		rc := ResourceChange{Action: "Modify", LogicalID: name, PhysicalID: old.Ref, Type: r.Type, Replacement: "False"}
		for _, k := range slices.Sorted(maps.Keys(union(oldProps, newProps))) {
			if reflect.DeepEqual(oldProps[k], newProps[k]) {
				continue
			}
			d := Detail{Name: k, RequiresRecreation: "Never", Evaluation: "Static", ChangeSource: "DirectModification"}
			if !canUpdate || slices.Contains(u.Replacing(), k) {
				d.RequiresRecreation = "Always"
			}
			if b, _ := json.Marshal(newProps[k]); strings.Contains(string(b), "{{unknown:") {
				d.Evaluation, d.ChangeSource = "Dynamic", "ResourceAttribute"
			}
			switch {
			case d.RequiresRecreation == "Always" && d.Evaluation == "Static":
				rc.Replacement = "True"
			case d.RequiresRecreation == "Always" && rc.Replacement == "False":
				rc.Replacement = "Conditional"
			}
			rc.Details = append(rc.Details, d)
		}
		if rc.Replacement != "False" {
			ev.unknown[name] = true
			st.Resources[name] = Physical{Ref: placeholder(name)}
		}
		changes = append(changes, rc)
	}
	if prev != nil {
		for _, name := range prev.Order {
			if _, ok := active[name]; !ok || prev.Types[name] != active[name].Type {
				changes = append(changes, ResourceChange{Action: "Remove", LogicalID: name, PhysicalID: prev.Resources[name].Ref, Type: prev.Types[name]})
			}
		}
	}
	return changes, nil
}

func union(a, b Properties) map[string]bool {
	u := map[string]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}
