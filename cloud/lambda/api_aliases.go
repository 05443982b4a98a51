package lambda

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// This file is the API's aliases: CreateAlias, GetAlias, ListAliases,
// UpdateAlias and DeleteAlias. An alias names $LATEST or a published
// version; weighted routing between two versions (RoutingConfig) is not
// implemented.

const aliasPattern = `(?!^[0-9]+$)([a-zA-Z0-9-_]+)`

var aliasRE = regexp.MustCompile(`^[a-zA-Z0-9-_]+$`)

// aliasJSON is an AliasConfiguration.
type aliasJSON struct {
	AliasArn        string
	Name            string
	FunctionVersion string
	Description     string
	RevisionId      string
}

func (a *API) aliasJSON(fn *function, al Alias) aliasJSON {
	return aliasJSON{AliasArn: fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s:%s", a.h.opts.Region, a.h.opts.AccountID, fn.cfg.Name, al.Name),
		Name: al.Name, FunctionVersion: al.FunctionVersion, Description: al.Description, RevisionId: al.RevisionID}
}

// aliasInput is what CreateAlias and UpdateAlias take.
type aliasInput struct {
	Name            *string
	FunctionVersion *string
	Description     *string
	RevisionId      *string
	RoutingConfig   *struct {
		AdditionalVersionWeights map[string]float64
	}
}

func (in aliasInput) check() *apiError {
	if in.RoutingConfig != nil && len(in.RoutingConfig.AdditionalVersionWeights) > 0 {
		return invalidParameter("The embedded Lambda does not implement weighted aliases (RoutingConfig.AdditionalVersionWeights): point the alias at one version.")
	}
	if in.Description != nil && len(*in.Description) > 256 {
		return validation(*in.Description, "description", "Member must have length less than or equal to 256")
	}
	if v := in.FunctionVersion; v != nil && (len(*v) > 1024 || (*v != "$LATEST" && !isVersion(*v))) {
		return validation(*v, "functionVersion", `Member must satisfy regular expression pattern: (\$LATEST|[0-9]+)`)
	}
	return nil
}

// aliasFunction finds the unqualified function an alias call names.
func (a *API) aliasFunction(w http.ResponseWriter, r *http.Request, name string) (*function, bool) {
	fn, version, ok := a.resolve(w, r, name, false)
	if ok && version != "$LATEST" {
		a.fail(w, *invalidParameter("An alias belongs to the function, not to a version: name the function without a qualifier."))
		return nil, false
	}
	return fn, ok
}

// aliasFailed answers what putAlias, alias and deleteAlias refuse.
func (a *API) aliasFailed(w http.ResponseWriter, fn *function, name, version string, err error) {
	arn := a.aliasJSON(fn, Alias{Name: name}).AliasArn
	switch {
	case errors.Is(err, ErrAliasExists):
		a.fail(w, apiError{http.StatusConflict, "ResourceConflictException", "Alias already exists: " + arn})
	case errors.Is(err, ErrAliasNotFound):
		a.fail(w, apiError{http.StatusNotFound, "ResourceNotFoundException", "Cannot find alias arn: " + arn})
	case errors.Is(err, ErrFunctionNotFound):
		a.fail(w, apiError{http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf("Function not found: %s:%s", fn.cfg.ARN, version)})
	case errors.Is(err, errRevision):
		a.fail(w, apiError{http.StatusPreconditionFailed, "PreconditionFailedException", "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"})
	default:
		a.fail(w, apiError{http.StatusInternalServerError, "ServiceException", err.Error()})
	}
}

func (a *API) createAlias(w http.ResponseWriter, r *http.Request, params []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var in aliasInput
	if !a.decode(w, r, "CreateAlias", 1<<20, &in) {
		return
	}
	switch {
	case in.Name == nil:
		a.fail(w, *validation("null", "name", "Member must not be null"))
		return
	case in.FunctionVersion == nil:
		a.fail(w, *validation("null", "functionVersion", "Member must not be null"))
		return
	case len(*in.Name) > 128:
		a.fail(w, *validation(*in.Name, "name", "Member must have length less than or equal to 128"))
		return
	case !aliasRE.MatchString(*in.Name) || isVersion(*in.Name) || *in.Name == "LATEST":
		a.fail(w, *validation(*in.Name, "name", "Member must satisfy regular expression pattern: "+aliasPattern))
		return
	}
	if bad := in.check(); bad != nil {
		a.fail(w, *bad)
		return
	}
	fn, ok := a.aliasFunction(w, r, params[0])
	if !ok {
		return
	}
	al, err := a.h.putAlias(fn.cfg.Name, Alias{Name: *in.Name, FunctionVersion: *in.FunctionVersion, Description: aws.ToString(in.Description)}, true, "")
	if err != nil {
		a.aliasFailed(w, fn, *in.Name, *in.FunctionVersion, err)
		return
	}
	if err := a.h.saveAlias(fn.cfg.Name, al.Name, &al); err != nil {
		a.notDurable(w, err)
		return
	}
	a.reply(w, http.StatusCreated, a.aliasJSON(fn, al))
}

func (a *API) updateAlias(w http.ResponseWriter, r *http.Request, params []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var in aliasInput
	if !a.decode(w, r, "UpdateAlias", 1<<20, &in) {
		return
	}
	if bad := in.check(); bad != nil {
		a.fail(w, *bad)
		return
	}
	fn, ok := a.aliasFunction(w, r, params[0])
	if !ok {
		return
	}
	cur, err := a.h.alias(fn.cfg.Name, params[1])
	if err != nil {
		a.aliasFailed(w, fn, params[1], "", err)
		return
	}
	if in.FunctionVersion != nil {
		cur.FunctionVersion = *in.FunctionVersion
	}
	if in.Description != nil {
		cur.Description = *in.Description
	}
	al, err := a.h.putAlias(fn.cfg.Name, cur, false, aws.ToString(in.RevisionId))
	if err != nil {
		a.aliasFailed(w, fn, params[1], cur.FunctionVersion, err)
		return
	}
	if err := a.h.saveAlias(fn.cfg.Name, al.Name, &al); err != nil {
		a.notDurable(w, err)
		return
	}
	a.reply(w, http.StatusOK, a.aliasJSON(fn, al))
}

func (a *API) getAlias(w http.ResponseWriter, r *http.Request, params []string) {
	fn, ok := a.aliasFunction(w, r, params[0])
	if !ok {
		return
	}
	al, err := a.h.alias(fn.cfg.Name, params[1])
	if err != nil {
		a.aliasFailed(w, fn, params[1], "", err)
		return
	}
	a.reply(w, http.StatusOK, a.aliasJSON(fn, al))
}

func (a *API) listAliases(w http.ResponseWriter, r *http.Request, params []string) {
	fn, ok := a.aliasFunction(w, r, params[0])
	if !ok {
		return
	}
	version := r.URL.Query().Get("FunctionVersion")
	out := []aliasJSON{}
	for _, al := range a.h.listAliases(fn.cfg.Name) {
		if version == "" || al.FunctionVersion == version {
			out = append(out, a.aliasJSON(fn, al))
		}
	}
	a.reply(w, http.StatusOK, map[string]any{"Aliases": out})
}

func (a *API) deleteAlias(w http.ResponseWriter, r *http.Request, params []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fn, ok := a.aliasFunction(w, r, params[0])
	if !ok {
		return
	}
	if err := a.h.deleteAlias(fn.cfg.Name, params[1]); err != nil {
		a.aliasFailed(w, fn, params[1], "", err)
		return
	}
	if err := a.h.saveAlias(fn.cfg.Name, params[1], nil); err != nil {
		a.notDurable(w, err)
		return
	}
	w.Header().Set("X-Amzn-Requestid", awsproto.NewRequestID())
	w.WriteHeader(http.StatusNoContent)
}
