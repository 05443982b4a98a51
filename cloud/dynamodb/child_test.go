package dynamodb_test

import (
	"errors"
	"path/filepath"
	"time"

	"github.com/orderflow/orderflow/cloud/dynamodb"
	"github.com/orderflow/orderflow/cloud/journal"
	"github.com/orderflow/orderflow/internal/crashtest"
)

// serveDynamoDBWith returns a crash test's child: DynamoDB on the data
// file in c.Dir, as `orderflow up --data-dir` keeps it, its journal
// syncing the log every syncEvery (0: before every answer, as
// --sync-every 0).
func serveDynamoDBWith(syncEvery time.Duration) func(c crashtest.Child) (*crashtest.Server, error) {
	return func(c crashtest.Child) (*crashtest.Server, error) {
		db, err := journal.Open(filepath.Join(c.Dir, "cloud.db"))
		if err != nil {
			return nil, err
		}
		opts := dynamodb.Options{DB: db}
		closeJournal := func() error { return nil }
		if syncEvery > 0 {
			j, err := journal.NewWithOptions(db, journal.Options{SyncEvery: syncEvery})
			if err != nil {
				db.Close()
				return nil, err
			}
			opts.Journal, closeJournal = j, j.Close
		}
		svc, err := dynamodb.New(opts)
		if err != nil {
			closeJournal()
			db.Close()
			return nil, err
		}
		return &crashtest.Server{Handler: svc, Close: func() error { return errors.Join(svc.Close(), closeJournal(), db.Close()) }}, nil
	}
}
