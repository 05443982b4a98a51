// Package mock holds function-field fakes of the interfaces the function
// declares, for tests that need a collaborator to fail or to be observed.
// Tests prefer real collaborators (the embedded cloud, a real DynamoDB API);
// these are for what a real one cannot be made to do on demand.
package mock

import (
	"context"

	"github.com/orderflow/orderflow"
)

// Store is a fake handler.Store.
type Store struct {
	PutOrderFn func(ctx context.Context, o orderflow.Order) (orderflow.Outcome, error)
}

// PutOrder calls PutOrderFn.
func (s *Store) PutOrder(ctx context.Context, o orderflow.Order) (orderflow.Outcome, error) {
	return s.PutOrderFn(ctx, o)
}

// DeadLetterQueue is a fake handler.DeadLetterQueue.
type DeadLetterQueue struct {
	SendDeadLetterFn func(ctx context.Context, dl orderflow.DeadLetter) error
}

// SendDeadLetter calls SendDeadLetterFn.
func (q *DeadLetterQueue) SendDeadLetter(ctx context.Context, dl orderflow.DeadLetter) error {
	return q.SendDeadLetterFn(ctx, dl)
}
