package engine

import (
	"errors"
	"fmt"
	"net/http"
)

// The error codes DynamoDB answers with (the __type shape names).
const (
	codeValidation        = "ValidationException"
	codeNotFound          = "ResourceNotFoundException"
	codeInUse             = "ResourceInUseException"
	codeConditionFailed   = "ConditionalCheckFailedException"
	codeTxCanceled        = "TransactionCanceledException"
	codeSerialization     = "SerializationException"
	codeUnknownOperation  = "UnknownOperationException"
	codeInternal          = "InternalServerError"
	codeUnavailable       = "ServiceUnavailable"
	codeRequestTooLarge   = "RequestEntityTooLarge"
	errorTypeNamespace    = "com.amazonaws.dynamodb.v20120810#"
	msgConditionFailed    = "The conditional request failed"
	msgKeyDoesNotMatch    = "The provided key element does not match the schema"
	msgResourceNotFound   = "Requested resource not found"
	msgItemTooLarge       = "Item size has exceeded the maximum allowed size"
	msgUpdateTooLarge     = "Item size to update has exceeded the maximum allowed size"
	msgHashKeyTooLong     = "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes"
	msgRangeKeyTooLong    = "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
	msgNotUnicode         = "One or more parameter values were invalid: A string is not valid Unicode text (it is not UTF-8, or holds an unpaired surrogate)"
	msgMultipleOpsOneItem = "Transaction request cannot include multiple operations on one item"
)

// apiError is a DynamoDB error as a client sees it. A failed condition
// carries the old item (ReturnValuesOnConditionCheckFailure=ALL_OLD) and a
// cancelled transaction its reasons.
type apiError struct {
	status  int
	code    string
	msg     string
	item    item // ConditionalCheckFailedException's Item
	hasItem bool
	reasons []cancellationReason
}

type cancellationReason struct {
	Code    string
	Message string
	Item    item
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

// errf is a ValidationException.
func errf(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeValidation, msg: fmt.Sprintf(format, args...)}
}

func errNotFound(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeNotFound, msg: fmt.Sprintf(format, args...)}
}

func errConditionFailed(old item, returnOld bool) *apiError {
	e := &apiError{status: http.StatusBadRequest, code: codeConditionFailed, msg: msgConditionFailed}
	if returnOld && old != nil {
		e.item, e.hasItem = old, true
	}
	return e
}

// asAPIError returns err as an *apiError, wrapping anything else as an
// internal error (a bug of ours, never the caller's).
func asAPIError(err error) *apiError {
	var e *apiError
	if errors.As(err, &e) {
		return e
	}
	return &apiError{status: http.StatusInternalServerError, code: codeInternal, msg: "engine: " + err.Error()}
}

// appendErrorBody appends e's JSON body.
func appendErrorBody(b []byte, e *apiError) []byte {
	b = append(b, `{"__type":`...)
	b = appendJSONString(b, errorTypeNamespace+e.code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, e.msg)
	if e.hasItem {
		b = append(b, `,"Item":`...)
		b = appendJSONItem(b, e.item)
	}
	if e.reasons != nil {
		b = append(b, `,"CancellationReasons":[`...)
		for i, r := range e.reasons {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"Code":`...)
			b = appendJSONString(b, r.Code)
			if r.Message != "" {
				b = append(b, `,"Message":`...)
				b = appendJSONString(b, r.Message)
			}
			if r.Item != nil {
				b = append(b, `,"Item":`...)
				b = appendJSONItem(b, r.Item)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}
