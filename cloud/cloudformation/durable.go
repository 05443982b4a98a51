package cloudformation

// Durability. Under a data directory, each stack is one record under the
// top-level bucket "cloudformation" of the data file:
//
//	format, region, account   format version, and the region and account
//	stacks/<stack id>         the stack as JSON (stackRecord)
//
// A stack is written when an operation on it settles (CREATE_COMPLETE,
// UPDATE_ROLLBACK_COMPLETE, …) and removed when it is deleted, so a
// restarted cloud has every stack as its last operation left it, with its
// template, parameters, resources, outputs and events. Change sets are not
// kept, nor an operation under way: a stack whose operation a crash
// interrupted comes back as the operation before it left it (what that
// operation had already changed stays changed). JSON, because a stack's
// resolved properties are JSON-shaped values (strings, float64s, bools,
// lists and maps), which it gives back as they were.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/journal"
	"github.com/orderflow/orderflow/cloud/provision"
	"github.com/orderflow/orderflow/internal/cfntemplate"
)

const formatVersion = "1"

var (
	rootBucket   = []byte("cloudformation")
	stacksBucket = []byte("stacks")
)

// ErrDataFile is the error of New when the data file holds CloudFormation
// data this service cannot use.
var ErrDataFile = errors.New("cloudformation: unusable data in the data file")

type stackRecord struct {
	Name, ID, UUID, Description string
	Template                    string
	Params                      map[string]string
	Capabilities                []string
	Status, Reason              string
	Created, Updated            time.Time
	Deployed                    *provision.Stack
	Resources                   map[string]resourceRecord
	Events                      []eventRecord
}

type resourceRecord struct {
	Status, Reason string
	Updated        time.Time
}

type eventRecord struct {
	ID, LogicalID, PhysicalID, Type, Status, Reason string
	At                                              time.Time
}

// settled says whether status ends an operation: the states a stack is
// written in.
func settled(status string) bool { return !strings.HasSuffix(status, "_IN_PROGRESS") }

// persist writes st as it is now, or removes it once deleted. Callers hold
// s.mu. The write is not waited for: no client call waits on a stack's
// operation, and the journal keeps the order of writes.
func (s *Service) persist(st *stack) {
	if s.opts.Journal == nil {
		return
	}
	path := journal.Path(rootBucket, stacksBucket)
	if !st.live() {
		s.opts.Journal.Append(journal.Delete(path, []byte(st.id)))
		return
	}
	r := stackRecord{Name: st.name, ID: st.id, UUID: st.uuid, Description: st.description, Template: st.template, Params: st.params,
		Capabilities: st.capabilities, Status: st.status, Reason: st.reason, Created: st.created, Updated: st.updated,
		Deployed: st.deployed, Resources: map[string]resourceRecord{}}
	for id, rs := range st.resState {
		r.Resources[id] = resourceRecord{rs.status, rs.reason, rs.updated}
	}
	for _, e := range st.events {
		r.Events = append(r.Events, eventRecord{e.id, e.logicalID, e.physicalID, e.typ, e.status, e.reason, e.at})
	}
	b, err := json.Marshal(r)
	if err != nil {
		// Only a value JSON cannot hold would do this; the stack stays as
		// it is in memory, and its record as it was.
		return
	}
	s.opts.Journal.Append(journal.Put(path, []byte(st.id), b))
}

// load reads the stacks a data file holds, creating CloudFormation's
// buckets in a new file.
func (s *Service) load(db *bbolt.DB) error {
	err := journal.Guard("cloudformation: load", func() error {
		return journal.LoadService(db, rootBucket, func(tx *bbolt.Tx) error {
			root, fresh, err := journal.ServiceRoot(tx, rootBucket, journal.Identity{Format: formatVersion, Region: s.opts.Region, Account: s.opts.AccountID},
				ErrDataFile, stacksBucket)
			if err != nil || fresh {
				return err
			}
			sb := root.Bucket(stacksBucket)
			return sb.ForEach(func(k, v []byte) error {
				st, err := stackFromRecord(v)
				if err != nil || st.id != string(k) {
					return fmt.Errorf("%w: stack %s: %v", ErrDataFile, k, err)
				}
				s.stacks = append(s.stacks, st)
				return nil
			})
		})
	})
	if err != nil {
		return fmt.Errorf("cloudformation: open %s: %w", db.Path(), err)
	}
	// In creation order, as ListStacks gives them.
	slices.SortStableFunc(s.stacks, func(a, b *stack) int { return a.created.Compare(b.created) })
	return nil
}

func stackFromRecord(v []byte) (*stack, error) {
	var r stackRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, err
	}
	st := &stack{name: r.Name, id: r.ID, uuid: r.UUID, description: r.Description, template: r.Template, params: r.Params,
		capabilities: r.Capabilities, status: r.Status, reason: r.Reason, created: r.Created, updated: r.Updated,
		deployed: r.Deployed, resState: map[string]resourceState{}, restored: true}
	if st.params == nil {
		st.params = map[string]string{}
	}
	if r.Template != "" {
		tpl, err := cfntemplate.Parse([]byte(r.Template))
		if err != nil {
			return nil, fmt.Errorf("its template: %v", err)
		}
		st.tpl = tpl
	}
	for id, rs := range r.Resources {
		st.resState[id] = resourceState{rs.Status, rs.Reason, rs.Updated}
	}
	for _, e := range r.Events {
		st.events = append(st.events, event{e.ID, e.LogicalID, e.PhysicalID, e.Type, e.Status, e.Reason, e.At})
	}
	return st, nil
}

// Resume makes whole again the stacks a restarted cloud kept, except those
// named in skip: each one whose last operation left it complete
// (CREATE_COMPLETE, UPDATE_COMPLETE, UPDATE_ROLLBACK_COMPLETE) is applied
// again from its template and parameters, adopting the resources the data
// directory kept (queues, topics, tables) and creating again those that
// live in memory (functions and their event source mappings, which get new
// ids). Call it once the functions' handlers are registered. A stack that
// cannot be resumed keeps its status; the error names it. Other stacks
// (failed ones) are kept as they are, to be read, updated or deleted.
func (s *Service) Resume(ctx context.Context, skip ...string) error {
	s.mu.Lock()
	var todo []*stack
	for _, st := range s.stacks {
		if st.restored && st.live() && !slices.Contains(skip, st.name) && st.tpl != nil && st.deployed != nil &&
			slices.Contains([]string{"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"}, st.status) {
			todo = append(todo, st)
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, st := range todo {
		a, err := provision.Apply(ctx, st.tpl, s.provisionOptions(st.name, st.uuid, st.params, true), nil, func(provision.Event) {})
		s.mu.Lock()
		st.restored = false
		if err != nil {
			errs = append(errs, fmt.Errorf("stack %s (%s): %w", st.name, st.status, err))
		} else {
			st.deployed = a.Stack
			s.persist(st)
		}
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}
