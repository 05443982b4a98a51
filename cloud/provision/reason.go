package provision

import (
	"errors"
	"fmt"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// reason is how a resource's failure reads in its stack event, as
// CloudFormation words a failure its resource handler met: the service's
// own message, then the service, the HTTP status, the request id and the
// error code ("Resource handler returned message: \"…\" (Service: SQS,
// Status Code: 400, Request ID: …, Error Code: QueueAlreadyExists)"),
// rather than the SDK's chain of wrapped errors. An error that is not a
// service's answer reads as itself.
func reason(err error) string {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return err.Error()
	}
	service := "?"
	if op := (*smithy.OperationError)(nil); errors.As(err, &op) {
		service = op.ServiceID
	}
	status, id := 0, ""
	if re := (*awshttp.ResponseError)(nil); errors.As(err, &re) {
		status, id = re.HTTPStatusCode(), re.ServiceRequestID()
	}
	return fmt.Sprintf("Resource handler returned message: \"%s\" (Service: %s, Status Code: %d, Request ID: %s, Error Code: %s)",
		api.ErrorMessage(), service, status, id, api.ErrorCode())
}
