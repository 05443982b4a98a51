package logs

// Durability. Under a data directory the log groups, streams and events are
// records under the top-level bucket "logs" of the data file, written
// through the shared journal:
//
//	format, region, account   format version, and the region and account
//	groups/<name>             creation time, retention in days
//	streams/<group>/<stream>  creation time
//	events/<group>/<id>       one event: timestamp, ingestion time, stream,
//	                          message; id is 8 bytes big-endian, growing
//
// A client's change (PutLogEvents, CreateLogGroup, …) is answered once it is
// durable, as every acknowledged write is. The lines the cloud writes itself
// (a function's output, START/END/REPORT) are appended without waiting:
// nobody was told they were kept, and the next commit carries them. Events a
// group drops beyond MaxEventsPerGroup are deleted from the file in chunks
// (dropChunk), so that a group's steady state does not double its writes;
// a restart keeps a group's newest MaxEventsPerGroup.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/journal"
)

const formatVersion = "1"

var (
	rootBucket    = []byte("logs")
	groupsBucket  = []byte("groups")
	streamsBucket = []byte("streams")
	eventsBucket  = []byte("events")
)

// dropChunk is how many dropped events a group gathers before deleting them
// from the data file together.
const dropChunk = 4096

// ErrDataFile is the error of New when the data file holds CloudWatch Logs
// data this service cannot use.
var ErrDataFile = errors.New("logs: unusable data in the data file")

func eventKey(id int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(id)) }

func (s *Service) groupRecord(g *group) journal.Op {
	e := journal.NewEncoder(16)
	e.Int(g.created)
	e.Int(int64(g.retention))
	return journal.Put(journal.Path(rootBucket, groupsBucket), []byte(g.name), e.Bytes())
}

func (s *Service) streamRecord(group string, st *stream) journal.Op {
	e := journal.NewEncoder(8)
	e.Int(st.created)
	return journal.Put(journal.Path(rootBucket, streamsBucket, []byte(group)), []byte(st.name), e.Bytes())
}

func (s *Service) eventRecord(group string, ev event) journal.Op {
	e := journal.NewEncoder(24 + len(ev.stream) + len(ev.msg))
	e.Int(ev.ts)
	e.Int(ev.ingest)
	e.Str(ev.stream)
	e.Str(ev.msg)
	return journal.PutPacked(journal.Path(rootBucket, eventsBucket, []byte(group)), eventKey(ev.id), e.Bytes())
}

// record appends ops. Callers hold s.mu, so that the journal's order is the
// order of the changes.
func (s *Service) record(ops ...journal.Op) journal.Ticket {
	if s.j == nil || len(ops) == 0 {
		return journal.Ticket{}
	}
	return s.j.Append(ops...)
}

// writable refuses a client's change while the journal takes no writes.
func (s *Service) writable() *awsproto.Error {
	if s.j == nil {
		return nil
	}
	if err := s.j.Writable(); err != nil {
		return awsproto.NotDurable("CloudWatch Logs", err, errors.Is(err, journal.ErrStalled))
	}
	return nil
}

// durable waits for a client's change to be durable.
func durable(t journal.Ticket) *awsproto.Error {
	if err := t.Wait(); err != nil {
		return awsproto.NotDurable("CloudWatch Logs", err, errors.Is(err, journal.ErrStalled))
	}
	return nil
}

// dropOps deletes what g has dropped, once there is a chunk of it.
func (s *Service) dropOps(g *group) []journal.Op {
	if s.j == nil || len(g.dropped) < dropChunk {
		return nil
	}
	path := journal.Path(rootBucket, eventsBucket, []byte(g.name))
	ops := make([]journal.Op, 0, len(g.dropped))
	for _, id := range g.dropped {
		ops = append(ops, journal.Delete(path, eventKey(id)))
	}
	g.dropped = g.dropped[:0]
	return ops
}

// load reads the groups, streams and events a data file holds, creating
// the service's buckets in a new file.
func (s *Service) load(db *bbolt.DB) error {
	err := journal.Guard("logs: load", func() error {
		return journal.LoadService(db, rootBucket, func(tx *bbolt.Tx) error {
			root, fresh, err := journal.ServiceRoot(tx, rootBucket, journal.Identity{Format: formatVersion, Region: s.region, Account: s.account},
				ErrDataFile, groupsBucket, streamsBucket, eventsBucket)
			if err != nil || fresh {
				return err
			}
			gb, sb, eb := root.Bucket(groupsBucket), root.Bucket(streamsBucket), root.Bucket(eventsBucket)
			if err := gb.ForEach(func(k, v []byte) error {
				d := journal.NewDecoder(v)
				g := &group{name: string(k), created: d.Int(), retention: int(d.Int()), streams: map[string]*stream{}}
				if err := d.Err(); err != nil {
					return fmt.Errorf("%w: log group %q: %v", ErrDataFile, k, err)
				}
				s.groups[g.name] = g
				return nil
			}); err != nil {
				return err
			}
			for name, g := range s.groups {
				if b := sb.Bucket([]byte(name)); b != nil {
					if err := b.ForEach(func(k, v []byte) error {
						d := journal.NewDecoder(v)
						st := &stream{name: string(k), created: d.Int()}
						if err := d.Err(); err != nil {
							return fmt.Errorf("%w: log stream %q of %q: %v", ErrDataFile, k, name, err)
						}
						g.streams[st.name] = st
						return nil
					}); err != nil {
						return err
					}
				}
				b := eb.Bucket([]byte(name))
				if b == nil {
					continue
				}
				if err := b.ForEach(func(k, v []byte) error {
					d := journal.NewDecoder(v)
					if len(k) != 8 {
						return fmt.Errorf("%w: an event of %q has a key of %d bytes", ErrDataFile, name, len(k))
					}
					ev := event{id: int64(binary.BigEndian.Uint64(k)), ts: d.Int(), ingest: d.Int(), stream: d.Str(), msg: d.Str()}
					if err := d.Err(); err != nil {
						return fmt.Errorf("%w: event %d of %q: %v", ErrDataFile, ev.id, name, err)
					}
					g.events = append(g.events, ev)
					return nil
				}); err != nil {
					return err
				}
			}
			// Events whose group is gone (a deleted group's events are
			// deleted with it, so only a damaged file has these).
			return eb.ForEach(func(k, v []byte) error {
				if v == nil && s.groups[string(k)] == nil {
					return fmt.Errorf("%w: events of a log group %q that does not exist", ErrDataFile, k)
				}
				return nil
			})
		})
	})
	if err != nil {
		return fmt.Errorf("logs: open %s: %w", db.Path(), err)
	}
	for _, g := range s.groups {
		// Keys are in id order: the events are in ingestion order.
		if over := len(g.events) - MaxEventsPerGroup; over > 0 {
			for _, ev := range g.events[:over] {
				g.dropped = append(g.dropped, ev.id)
			}
			g.events = slices.Delete(g.events, 0, over)
		}
		for _, ev := range g.events {
			s.seq = max(s.seq, ev.id)
			st := g.streams[ev.stream]
			if st == nil {
				st = &stream{name: ev.stream, created: ev.ingest}
				g.streams[ev.stream] = st
			}
			if st.first == 0 || ev.ts < st.first {
				st.first = ev.ts
			}
			st.last, st.ingest = max(st.last, ev.ts), max(st.ingest, ev.ingest)
		}
	}
	return nil
}
