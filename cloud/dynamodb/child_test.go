package dynamodb_test

import (
	"errors"
	"path/filepath"

	"github.com/orderflow/orderflow/cloud/dynamodb"
	"github.com/orderflow/orderflow/cloud/journal"
	"github.com/orderflow/orderflow/internal/crashtest"
)

// serveDynamoDB is a crash test's child: DynamoDB on the data file in
// c.Dir, as `orderflow up --data-dir` keeps it.
func serveDynamoDB(c crashtest.Child) (*crashtest.Server, error) {
	db, err := journal.Open(filepath.Join(c.Dir, "cloud.db"))
	if err != nil {
		return nil, err
	}
	svc, err := dynamodb.New(dynamodb.Options{DB: db})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &crashtest.Server{Handler: svc, Close: func() error { return errors.Join(svc.Close(), db.Close()) }}, nil
}
