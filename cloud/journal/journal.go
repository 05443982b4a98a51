// Package journal makes the embedded cloud's in-memory services durable in a
// bbolt file without letting fsync set their request rate. It owns the
// group commit: a service records each state change while it still holds
// its own lock (so records reach the file in the order the changes were
// made), releases the lock, and waits on a Ticket until a committer
// goroutine has written that record, together with every other record
// gathered meanwhile, in one bbolt transaction (one fsync). Nothing holds a
// service's lock across an fsync, and concurrent requests share fsyncs.
//
// It also holds the small binary encoding the services use for their
// records (Encoder, Decoder) and Open, which opens a data file with the
// options the cloud wants and errors that say what went wrong.
//
// After a commit fails, the file no longer matches what the services hold
// in memory, so the journal refuses every later record with the same error
// (fail-stop): a service keeps answering reads, but nothing more is
// acknowledged as durable until the process is restarted from the file.
package journal

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
)

// ErrClosed is the error of a record appended after Close.
var ErrClosed = errors.New("journal: closed")

// Record is one state change, applied to the file inside the committer's
// write transaction. It must not touch the memory of the service that made
// it (that memory may have moved on): capture what it writes when it is
// made. A Record that returns an error fails its whole group.
type Record func(tx *bbolt.Tx) error

// Journal gathers records and commits them in groups.
type Journal struct {
	db *bbolt.DB

	mu     sync.Mutex
	cur    *group // records waiting for the next commit; nil when none
	err    error  // sticky: the first commit failure
	closed bool

	wake chan struct{} // capacity 1: there is a group to commit, or Close
	done chan struct{} // closed when the committer has exited

	commits, records, commitNanos atomic.Int64
}

type group struct {
	recs []Record
	done chan struct{}
	err  error
}

// Ticket is a claim on the commit of the records it was issued for.
type Ticket struct{ g *group }

// Wait returns once the records are durable, or the error that stopped
// them. The zero Ticket (nothing recorded) returns nil at once.
func (t Ticket) Wait() error {
	if t.g == nil {
		return nil
	}
	<-t.g.done
	return t.g.err
}

// IsZero reports whether the ticket is for no records.
func (t Ticket) IsZero() bool { return t.g == nil }

// New starts a journal writing to db. The caller keeps ownership of db and
// closes it after Close.
func New(db *bbolt.DB) *Journal {
	j := &Journal{db: db, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go j.commitLoop()
	return j
}

// Append queues recs for the next commit and returns the ticket to wait
// on. Records appended by one goroutine are committed in order, and one
// call's records are committed in one transaction, all or none; call it
// under the lock that ordered the changes. It never blocks on I/O.
func (j *Journal) Append(recs ...Record) Ticket {
	if len(recs) == 0 {
		return Ticket{}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil || j.closed {
		err := j.err
		if err == nil {
			err = ErrClosed
		}
		g := &group{done: make(chan struct{}), err: err}
		close(g.done)
		return Ticket{g}
	}
	if j.cur == nil {
		j.cur = &group{done: make(chan struct{})}
		select {
		case j.wake <- struct{}{}:
		default:
		}
	}
	j.cur.recs = append(j.cur.recs, recs...)
	return Ticket{j.cur}
}

// Sync returns once everything appended before it is durable.
func (j *Journal) Sync() error {
	return j.Append(func(*bbolt.Tx) error { return nil }).Wait()
}

// Close commits what is queued, stops the committer and returns the
// journal's error, if a commit ever failed. Later appends fail with
// ErrClosed. It does not close the database.
func (j *Journal) Close() error {
	j.mu.Lock()
	if !j.closed {
		j.closed = true
		select {
		case j.wake <- struct{}{}:
		default:
		}
	}
	j.mu.Unlock()
	<-j.done
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// Stats describes a journal's work so far.
type Stats struct {
	// Commits counts bbolt write transactions (each ends in fdatasync of
	// the pages, then of the meta page); Records the records they carried:
	// Records/Commits is how many changes shared them.
	Commits, Records int64
	// CommitTime is the time spent in those transactions, I/O included.
	CommitTime time.Duration
}

// Stats returns the journal's counts so far.
func (j *Journal) Stats() Stats {
	return Stats{Commits: j.commits.Load(), Records: j.records.Load(), CommitTime: time.Duration(j.commitNanos.Load())}
}

// Err returns the error that stopped the journal, or nil.
func (j *Journal) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

func (j *Journal) commitLoop() {
	defer close(j.done)
	for range j.wake {
		for {
			j.mu.Lock()
			g, closed := j.cur, j.closed
			j.cur = nil
			j.mu.Unlock()
			if g == nil {
				if closed {
					return
				}
				break
			}
			j.commit(g)
		}
	}
}

// commit writes g in one transaction. While it runs, new records gather in
// the next group: that is the group commit.
func (j *Journal) commit(g *group) {
	start := time.Now()
	err := j.apply(g.recs)
	j.commitNanos.Add(int64(time.Since(start)))
	j.commits.Add(1)
	j.records.Add(int64(len(g.recs)))
	if err != nil {
		err = fmt.Errorf("journal: commit %d records: %w", len(g.recs), err)
		j.mu.Lock()
		if j.err == nil {
			j.err = err
		}
		err = j.err
		j.mu.Unlock()
	}
	g.err = err
	close(g.done)
}

func (j *Journal) apply(recs []Record) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in record: %v", p)
		}
	}()
	return j.db.Update(func(tx *bbolt.Tx) error {
		for _, r := range recs {
			if err := r(tx); err != nil {
				return err
			}
		}
		return nil
	})
}
