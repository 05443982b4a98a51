package lambda

import (
	"errors"
	"net/http"
	"slices"
	"strings"
)

// This file is the API's writes of event source mappings: SQS queues of
// the embedded cloud only. A mapping to an alias invokes the version the
// alias names when the mapping is created or updated.

// mappingInput is what CreateEventSourceMapping and
// UpdateEventSourceMapping take.
type mappingInput struct {
	UUID                           *string
	EventSourceArn                 *string
	FunctionName                   *string
	Enabled                        *bool
	BatchSize                      *int
	MaximumBatchingWindowInSeconds *int
	FunctionResponseTypes          []string
	ScalingConfig                  *struct{ MaximumConcurrency *int }
	StartingPosition               *string
	FilterCriteria                 *struct{ Filters []any }
}

// apply validates in and applies it to m; the function's key, resolved,
// goes in m.FunctionName.
func (a *API) applyMapping(w http.ResponseWriter, in mappingInput, m *EventSourceMapping) bool {
	if in.FunctionName != nil {
		fn, _, ok := a.resolveName(w, *in.FunctionName, "", false)
		if !ok {
			return false
		}
		m.FunctionName = fn.key
	}
	if in.Enabled != nil {
		m.Enabled = *in.Enabled
	}
	if in.BatchSize != nil {
		m.BatchSize = *in.BatchSize
	}
	if in.MaximumBatchingWindowInSeconds != nil {
		m.MaximumBatchingWindow = *in.MaximumBatchingWindowInSeconds
	}
	if in.FunctionResponseTypes != nil {
		for _, t := range in.FunctionResponseTypes {
			if t != "ReportBatchItemFailures" {
				a.fail(w, *validation("["+strings.Join(in.FunctionResponseTypes, ", ")+"]", "functionResponseTypes", "Member must satisfy constraint: [Member must satisfy enum value set: [ReportBatchItemFailures]]"))
				return false
			}
		}
		m.ReportBatchItemFailure = slices.Contains(in.FunctionResponseTypes, "ReportBatchItemFailures")
	}
	if in.ScalingConfig != nil {
		m.MaximumConcurrency = 0
		if in.ScalingConfig.MaximumConcurrency != nil {
			m.MaximumConcurrency = *in.ScalingConfig.MaximumConcurrency
		}
	}
	switch {
	case in.StartingPosition != nil:
		a.fail(w, *invalidParameter("StartingPosition is not valid for an SQS event source."))
		return false
	case in.FilterCriteria != nil && len(in.FilterCriteria.Filters) > 0:
		a.fail(w, *invalidParameter("The embedded Lambda does not implement event filtering (FilterCriteria): filter in the function."))
		return false
	}
	return true
}

// mappingFailed answers what the host refused of a mapping.
func (a *API) mappingFailed(w http.ResponseWriter, err error) {
	msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "lambda: "), "InvalidParameterValueException: ")
	switch {
	case errors.Is(err, errClosed):
		a.fail(w, apiError{http.StatusServiceUnavailable, "ServiceException", "The embedded Lambda is shutting down."})
	case errors.Is(err, ErrMappingNotFound):
		a.fail(w, apiError{http.StatusNotFound, "ResourceNotFoundException", "The resource you requested does not exist."})
	case errors.Is(err, ErrFunctionNotFound):
		a.fail(w, apiError{http.StatusNotFound, "ResourceNotFoundException", msg})
	default:
		a.fail(w, *invalidParameter("%s", msg))
	}
}

// createMapping is CreateEventSourceMapping.
func (a *API) createMapping(w http.ResponseWriter, r *http.Request, _ []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var in mappingInput
	if !a.decode(w, r, "CreateEventSourceMapping", 1<<20, &in) {
		return
	}
	switch {
	case in.FunctionName == nil:
		a.fail(w, *validation("null", "functionName", "Member must not be null"))
		return
	case in.EventSourceArn == nil:
		a.fail(w, *invalidParameter("Unrecognized event source, must be kafka or specify an EventSourceArn."))
		return
	case !strings.HasPrefix(*in.EventSourceArn, "arn:aws:sqs:"):
		a.fail(w, *invalidParameter("The embedded Lambda maps SQS queues only, not %s: give the ARN of a queue of this cloud.", *in.EventSourceArn))
		return
	}
	m := EventSourceMapping{EventSourceArn: *in.EventSourceArn, Enabled: true, BatchSize: 10}
	if !a.applyMapping(w, in, &m) {
		return
	}
	id, err := a.h.CreateEventSourceMapping(r.Context(), m)
	if err != nil {
		a.mappingFailed(w, err)
		return
	}
	mp, ok := a.mapping(id)
	if !ok {
		a.mappingFailed(w, ErrMappingNotFound)
		return
	}
	mp.api.Store(true)
	if err := a.h.saveMapping(mp, false); err != nil {
		a.notDurable(w, err)
		return
	}
	a.reply(w, http.StatusAccepted, mp.json())
}

// updateMapping is UpdateEventSourceMapping: what the request gives
// changes, the rest stays; the queue cannot change.
func (a *API) updateMapping(w http.ResponseWriter, r *http.Request, params []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var in mappingInput
	if !a.decode(w, r, "UpdateEventSourceMapping", 1<<20, &in) {
		return
	}
	mp, ok := a.mapping(params[0])
	if !ok {
		a.mappingFailed(w, ErrMappingNotFound)
		return
	}
	if in.EventSourceArn != nil && *in.EventSourceArn != mp.q.ARN {
		a.fail(w, *invalidParameter("The event source of a mapping cannot change (from %s to %s): create a new mapping.", mp.q.ARN, *in.EventSourceArn))
		return
	}
	m := mp.cfg()
	m.FunctionName, m.Enabled = mp.fn().key, mp.running.Load()
	if !a.applyMapping(w, in, &m) {
		return
	}
	if err := a.h.UpdateEventSourceMapping(r.Context(), params[0], m); err != nil {
		a.mappingFailed(w, err)
		return
	}
	if err := a.h.saveMapping(mp, false); err != nil {
		a.notDurable(w, err)
		return
	}
	a.reply(w, http.StatusAccepted, mp.json())
}

// deleteMapping is DeleteEventSourceMapping: its answer is the mapping,
// Deleting.
func (a *API) deleteMapping(w http.ResponseWriter, r *http.Request, params []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	mp, ok := a.mapping(params[0])
	if !ok {
		a.mappingFailed(w, ErrMappingNotFound)
		return
	}
	j := mp.json()
	if err := a.h.DeleteEventSourceMapping(r.Context(), params[0]); err != nil {
		a.mappingFailed(w, err)
		return
	}
	if err := a.h.saveMapping(mp, true); err != nil {
		a.notDurable(w, err)
		return
	}
	j.State = "Deleting"
	a.reply(w, http.StatusAccepted, j)
}
