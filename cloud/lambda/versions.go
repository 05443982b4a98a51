package lambda

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// This file keeps functions' published versions and aliases.
//
// A version is a function of its own in Host.functions, under the key
// NAME:VERSION, built from the code and configuration $LATEST had when it
// was published: updating $LATEST builds a new $LATEST and leaves the
// versions running what they ran. An alias names a version; invoking it
// invokes that version.

// ErrAliasNotFound marks an alias that does not exist.
var ErrAliasNotFound = errors.New("lambda: alias not found")

// ErrAliasExists is CreateAlias's error for a name already taken.
var ErrAliasExists = errors.New("lambda: alias already exists")

// Alias is a name for one of a function's versions.
type Alias struct {
	Name            string
	FunctionVersion string // "$LATEST" or a published version
	Description     string
	RevisionID      string
}

// fingerprint identifies what a version would run: the code and every
// part of the configuration but the description. Publishing what the last
// version already runs publishes nothing new, as on AWS.
func (fn *function) fingerprint() string {
	spec := fn.spec
	spec.Description = ""
	b, _ := json.Marshal(spec)
	sum := sha256.Sum256(append(b, fn.code...))
	return string(sum[:])
}

// PublishVersion publishes the function name's $LATEST as a new version
// described by description, unless the last version published runs the
// same code and configuration: then it returns that version, and created
// is false.
func (h *Host) PublishVersion(_ context.Context, name, description string) (version string, created bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return "", false, errClosed
	}
	latest, ok := h.functions[name]
	if !ok || strings.Contains(name, ":") {
		return "", false, fmt.Errorf("%w: %s", ErrFunctionNotFound, name)
	}
	if last := h.lastVersion(name); last != nil && last.fingerprint() == latest.fingerprint() {
		return last.cfg.Version, false, nil
	}
	n := h.versions[name] + 1
	spec := latest.spec
	spec.Zip, spec.Description = latest.code, description
	fn, err := h.build(spec, nil, strconv.Itoa(n))
	if err != nil {
		return "", false, err
	}
	h.versions[name] = n
	h.functions[fn.key] = fn
	return fn.cfg.Version, true, nil
}

// lastVersion is the function name's latest published version, or nil.
// h.mu is held.
func (h *Host) lastVersion(name string) *function {
	vs := h.versionsOf(name)
	if len(vs) == 0 {
		return nil
	}
	return vs[len(vs)-1]
}

// versionsOf lists the function name's published versions, oldest first.
// h.mu is held.
func (h *Host) versionsOf(name string) []*function {
	var out []*function
	for key, fn := range h.functions {
		if strings.HasPrefix(key, name+":") {
			out = append(out, fn)
		}
	}
	slices.SortFunc(out, func(a, b *function) int {
		x, _ := strconv.Atoi(a.cfg.Version)
		y, _ := strconv.Atoi(b.cfg.Version)
		return x - y
	})
	return out
}

// alias returns the function name's alias, or ErrAliasNotFound.
func (h *Host) alias(name, alias string) (Alias, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	a, ok := h.aliases[name][alias]
	if !ok {
		return Alias{}, fmt.Errorf("%w: %s:%s", ErrAliasNotFound, name, alias)
	}
	return *a, nil
}

// listAliases lists the function name's aliases by name.
func (h *Host) listAliases(name string) []Alias {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Alias
	for _, a := range h.aliases[name] {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b Alias) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// putAlias creates the alias a of the function name (create) or changes
// it: its version must exist. revision, if set, must be the alias's
// current RevisionID.
func (h *Host) putAlias(name string, a Alias, create bool, revision string) (Alias, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.functions[name]; !ok {
		return Alias{}, fmt.Errorf("%w: %s", ErrFunctionNotFound, name)
	}
	if a.FunctionVersion != "$LATEST" {
		if _, ok := h.functions[name+":"+a.FunctionVersion]; !ok {
			return Alias{}, fmt.Errorf("%w: %s:%s", ErrFunctionNotFound, name, a.FunctionVersion)
		}
	}
	cur, exists := h.aliases[name][a.Name]
	switch {
	case create && exists:
		return Alias{}, fmt.Errorf("%w: %s:%s", ErrAliasExists, name, a.Name)
	case !create && !exists:
		return Alias{}, fmt.Errorf("%w: %s:%s", ErrAliasNotFound, name, a.Name)
	case !create && revision != "" && revision != cur.RevisionID:
		return Alias{}, errRevision
	}
	a.RevisionID = awsproto.NewRequestID()
	if h.aliases[name] == nil {
		h.aliases[name] = map[string]*Alias{}
	}
	h.aliases[name][a.Name] = &a
	return a, nil
}

// deleteAlias deletes the function name's alias; deleting one that does
// not exist succeeds, as on AWS.
func (h *Host) deleteAlias(name, alias string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.functions[name]; !ok {
		return fmt.Errorf("%w: %s", ErrFunctionNotFound, name)
	}
	delete(h.aliases[name], alias)
	return nil
}

// errRevision is a RevisionId precondition that does not hold.
var errRevision = errors.New("lambda: the revision id does not match")

// lastModified is a function's LastModified as Lambda's API writes it.
func lastModified(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000+0000") }
