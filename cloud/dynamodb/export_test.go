package dynamodb

import "go.etcd.io/bbolt"

// JournalRecords counts the records in db's journal.
func JournalRecords(db *bbolt.DB) int {
	n := 0
	_ = db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(journalBucket); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n
}

// Bucket names of the on-disk format, for tests that damage a file.
var (
	MetaBucket    = metaBucket
	JournalBucket = journalBucket
	ItemsBucket   = itemsBucket
)
