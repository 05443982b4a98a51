package cloud

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// Faults are failures the cloud injects on purpose, each for a share (0 to
// 1) of the operations it concerns, so that tests and `orderflow up` can
// show what survives them. The zero value injects nothing.
type Faults struct {
	// DynamoDBWrites fails this share of DynamoDB writes (PutItem,
	// UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems) with
	// DynamoDBError.
	DynamoDBWrites float64
	// DynamoDBError is the error: "throttle" (400 ThrottlingException, the
	// default) or "5xx" (500 InternalServerError).
	DynamoDBError string
	// FailedDeletes fails this share of SQS DeleteMessage and
	// DeleteMessageBatch requests (500 InternalError): processed messages
	// come back after their visibility timeout.
	FailedDeletes float64
	// DuplicateDeliveries makes SNS deliver this share of messages to SQS
	// twice, as at-least-once delivery allows.
	DuplicateDeliveries float64
	// FailedDeliveries fails this share of SNS's delivery attempts to SQS
	// with a server-side error (500 InternalError), which SNS retries on
	// its delivery policy (with a data directory, the retries wait in the
	// data file and survive a restart).
	FailedDeliveries float64
	// CrashAfterHandler fails this share of invocations after the handler
	// returned (its writes done) and before the batch is deleted, as a
	// crash of the function's sandbox would.
	CrashAfterHandler float64
	// SlowHandler holds this share of invocations' batches past the queue's
	// visibility timeout before settling them, as a handler slower than the
	// timeout would: the messages are delivered again meanwhile, and the late
	// deletes use stale receipt handles.
	SlowHandler float64
	// Seed makes the choice of which operations fail repeatable.
	Seed uint64
}

// FaultKinds names the faults in the order they are documented.
var FaultKinds = []string{"dynamodb-writes", "failed-deletes", "duplicate-deliveries", "failed-deliveries", "crash-after-handler", "slow-handler"}

// ParseFault reads a "kind=share" flag value into f, for `orderflow up
// --fault`. The DynamoDB error may follow the share: dynamodb-writes=0.1:5xx.
func ParseFault(f *Faults, spec string) error {
	kind, value, ok := strings.Cut(spec, "=")
	if !ok {
		return fmt.Errorf("fault %q must be KIND=SHARE, with KIND one of %s", spec, strings.Join(FaultKinds, ", "))
	}
	value, errKind, _ := strings.Cut(value, ":")
	share, err := strconv.ParseFloat(value, 64)
	if err != nil || share < 0 || share > 1 {
		return fmt.Errorf("fault %s: share %q must be a number from 0 to 1", kind, value)
	}
	switch kind {
	case "dynamodb-writes":
		f.DynamoDBWrites = share
		if errKind != "" && errKind != "throttle" && errKind != "5xx" {
			return fmt.Errorf("fault dynamodb-writes: error %q must be throttle or 5xx", errKind)
		}
		f.DynamoDBError = errKind
	case "failed-deletes":
		f.FailedDeletes = share
	case "duplicate-deliveries":
		f.DuplicateDeliveries = share
	case "failed-deliveries":
		f.FailedDeliveries = share
	case "crash-after-handler":
		f.CrashAfterHandler = share
	case "slow-handler":
		f.SlowHandler = share
	default:
		return fmt.Errorf("fault %q is not one of %s", kind, strings.Join(FaultKinds, ", "))
	}
	if errKind != "" && kind != "dynamodb-writes" {
		return fmt.Errorf("fault %s takes no error kind", kind)
	}
	return nil
}

// injector decides, operation by operation, whether a fault fires, and
// counts what fired.
type injector struct {
	mu     sync.Mutex
	faults Faults
	rand   *rand.Rand
	fired  map[string]*atomic.Int64
}

func newInjector() *injector {
	in := &injector{fired: map[string]*atomic.Int64{}}
	for _, k := range FaultKinds {
		in.fired[k] = new(atomic.Int64)
	}
	in.set(Faults{})
	return in
}

func (in *injector) set(f Faults) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.faults = f
	in.rand = rand.New(rand.NewPCG(f.Seed, 0x6661756c7473))
}

func (in *injector) get() Faults {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.faults
}

// fire reports whether the fault kind, set to share, fires this time.
func (in *injector) fire(kind string, share func(Faults) float64) bool {
	in.mu.Lock()
	s := share(in.faults)
	hit := s > 0 && in.rand.Float64() < s
	in.mu.Unlock()
	if hit {
		in.fired[kind].Add(1)
	}
	return hit
}

func (in *injector) counts() map[string]int64 {
	out := make(map[string]int64, len(in.fired))
	for k, v := range in.fired {
		out[k] = v.Load()
	}
	return out
}

// SetFaults replaces the faults the cloud injects; Faults{} stops them.
func (c *Cloud) SetFaults(f Faults) {
	c.faults.set(f)
	if f.DynamoDBWrites > 0 {
		c.DynamoDB.SetFault(c.dynamoDBFault)
	} else {
		c.DynamoDB.SetFault(nil)
	}
}

// FaultsFired counts the faults injected so far, by kind.
func (c *Cloud) FaultsFired() map[string]int64 { return c.faults.counts() }

var dynamoDBWrites = []string{"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}

func (c *Cloud) dynamoDBFault(op string, _ []byte) *awsproto.Error {
	if !slices.Contains(dynamoDBWrites, op) || !c.faults.fire("dynamodb-writes", func(f Faults) float64 { return f.DynamoDBWrites }) {
		return nil
	}
	if c.faults.get().DynamoDBError == "5xx" {
		return &awsproto.Error{Status: http.StatusInternalServerError, Code: "InternalServerError", Message: "Internal server error (injected)", Receiver: true}
	}
	return awsproto.Errorf(http.StatusBadRequest, "ThrottlingException", "Rate of requests exceeds the allowed throughput. (injected)")
}

// failDeletes wraps the SQS service so that a share of deletes fail.
func (c *Cloud) failDeletes(next Service) Service {
	return deleteFaults{Service: next, c: c}
}

type deleteFaults struct {
	Service
	c *Cloud
}

func (d deleteFaults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := r.Header.Get("X-Amz-Target")
	if op == "" && r.Form != nil {
		op = r.Form.Get("Action")
	}
	op = strings.TrimPrefix(op, "AmazonSQS.")
	if (op == "DeleteMessage" || op == "DeleteMessageBatch") &&
		d.c.faults.fire("failed-deletes", func(f Faults) float64 { return f.FailedDeletes }) {
		err := &awsproto.Error{Status: http.StatusInternalServerError, Code: "InternalError", Message: "We encountered an internal error. Please try again. (injected)", Receiver: true}
		if r.Header.Get("X-Amz-Target") != "" {
			awsproto.JSONProtocol{Namespace: "com.amazonaws.sqs", QueryCompatible: true}.WriteError(w, err)
		} else {
			awsproto.WriteQueryError(w, err, "http://queue.amazonaws.com/doc/2012-11-05/", awsproto.NewRequestID())
		}
		return
	}
	d.Service.ServeHTTP(w, r)
}

// hostFaults are the function host's faults.
type hostFaults struct{ in *injector }

func (h hostFaults) AfterHandler(string) (crash bool, hold time.Duration) {
	if h.in.fire("crash-after-handler", func(f Faults) float64 { return f.CrashAfterHandler }) {
		return true, 0
	}
	if h.in.fire("slow-handler", func(f Faults) float64 { return f.SlowHandler }) {
		return false, -1 // past the visibility timeout: the host knows it
	}
	return false, 0
}
