// Package journal makes the embedded cloud's in-memory services durable in a
// bbolt file without letting fsync set their request rate.
//
// A service records each state change as Ops while it still holds its own
// lock (so changes reach the file in the order they were made), releases
// the lock, and waits on a Ticket. The first waiter finding no log write
// under way appends every group of ops gathered meanwhile to a
// write-ahead log as one checksummed frame and syncs it once, on its own
// goroutine (a leader-based group commit): then the tickets are durable,
// and the ops gathered while it wrote form the next group, which one of
// their waiters writes in turn. An
// applier goroutine applies the logged frames to the bbolt file in large
// transactions, off the requests' path, records in the same transaction
// how far it got, and deletes log segments it has applied; at start, New
// applies what the log holds beyond that point. On a clean Close everything
// is applied and the log shrinks to a marker of how far it got.
//
// Damage is never silent. Only what a crash can leave is taken quietly: a
// torn last frame (its write was never acknowledged) is dropped. A frame
// that cannot be read followed by valid ones, a log cut short, missing
// frames, a data file missing, empty, cut short or behind what its log
// proves it held: New and Open refuse them (ErrDamagedLog, ErrDamagedData),
// naming the file and the byte, and change nothing. Recover accepts the
// loss explicitly: it applies what can be read, keeps the damaged files
// and says what was lost. wal.go says how the log's layout makes the two
// tellable apart.
//
// Why a log in front of bbolt rather than a bbolt commit per group: a bbolt
// commit writes its dirty pages, syncs, writes the meta page and syncs
// again, and costs more as its B+trees grow; an append to the log is one
// write and one fdatasync (docs/benchmarks.md compares them: BenchmarkFsync,
// BenchmarkCommit). The requests wait for the log only; bbolt's work is
// shared by many groups.
//
// It also holds the small binary encoding the services use for their
// records (Encoder, Decoder) and Open, which opens a data file with the
// options the cloud wants and errors that say what went wrong.
//
// A write that fails because a resource ran out (a full disk or quota, too
// many open files, a file size limit: see Transient) stalls the journal
// instead of stopping it: the group that failed stays in memory and is
// written again, the same frame at the same place, with a growing pause
// between attempts, until it succeeds; the groups gathered meanwhile follow
// it in order. Nothing is acknowledged while it stalls: a Ticket's Wait
// returns an error wrapping ErrStalled at once (a service answers 503, the
// outcome unknown to the client, as AWS's 5xx), and Writable says so before
// a service changes anything. A change whose ticket failed that way may
// still reach the log when the resource returns: memory and the log then
// agree again, and the journal takes writes as before, with no restart.
// The same holds when the data file cannot be applied to for lack of
// room: the log keeps the groups (up to maxQueuedBytes) and the applier
// retries.
//
// With Options.SyncEvery above zero the journal trades the last moments of
// acknowledged changes for the fdatasync every waiter otherwise waits for:
// a leader writes its group to the log (write(2): the kernel holds it, and
// it survives the process being killed) and its waiters return without a
// sync; a goroutine syncs the log at least every SyncEvery when something
// was written since the last sync. What a power loss or an OS crash may
// lose is what was written since the last sync. Everything that relies on
// the log being on disk still syncs it first: the applier before it folds
// logged groups into the file (which then records them as applied), a
// segment before the next one is started (its seal), Sync and Flush, and
// Close. A failed background sync stops the journal (fail-stop), as a
// failed write does: the written frames' fate is unknown, and Linux may
// report a later sync of the same pages as a success.
//
// Any other failure (an I/O error, a file gone or damaged) stops the
// journal (fail-stop): the log and the file no longer match what the
// services hold in memory, so the journal refuses every later group with
// the same error, Failed is closed, and nothing more is acknowledged as
// durable until the process is restarted from the file and its log.
package journal

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/bbolt"
)

var (
	openMu       sync.Mutex
	openJournals = map[*bbolt.DB]bool{} // the handles with a journal not yet closed
)

// ErrClosed is the error of a record appended after Close.
var ErrClosed = errors.New("journal: closed")

// ErrStalled is matched by the error of a Ticket's Wait, and of Writable,
// while the journal retries a write that failed for want of a resource
// (Transient): the ops waited on are not durable yet and may become so
// later, once the resource returns.
var ErrStalled = errors.New("journal: the data file cannot be written at the moment; the write is retried until it succeeds")

// Transient reports whether err is a resource running out that can come
// back without a restart: no space on the disk (ENOSPC) or in the quota
// (EDQUOT), too many open files (EMFILE, ENFILE), a file size limit
// (EFBIG), memory (ENOMEM, ENOBUFS), or a temporary refusal (EAGAIN). The
// journal retries such a failure; any other stops it.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	for _, e := range transientErrnos {
		if errors.Is(err, e) {
			return true
		}
	}
	// bbolt formats some errors with %s (growing the file: "file resize
	// error: file too large"), which loses the errno but keeps its text.
	msg := err.Error()
	for _, e := range transientErrnos {
		if strings.HasSuffix(msg, ": "+e.Error()) {
			return true
		}
	}
	return false
}

var transientErrnos = []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EMFILE, syscall.ENFILE,
	syscall.EFBIG, syscall.ENOMEM, syscall.ENOBUFS, syscall.EAGAIN}

// Journal gathers ops, logs them in groups and applies them to the file.
type Journal struct {
	db  *bbolt.DB
	log *wal

	// Under mu: the group gathering ops (nil when none), whether a
	// goroutine is writing one (leading, the group inflight), and what
	// Close and the gather rule need.
	mu         sync.Mutex
	cur        *group
	err        error // sticky: the first failure
	closed     bool
	leading    bool
	inflight   *group
	busy       bool          // the last group had gatherWaiters waiters or more
	idle       chan struct{} // made by Close while a leader runs, closed when it is done
	timer      *time.Timer   // commits a group no one waits for (laggard)
	timerArmed bool

	failed  chan struct{} // closed when err is set
	closing chan struct{} // closed when Close begins: a stalled write is tried once more, then given up

	// While a write is retried (a stall), under smu: stallErr wraps
	// ErrStalled and the cause; stallNext is closed when the next stall
	// begins, waking the Waits that were waiting for a commit.
	smu        sync.Mutex
	stallErr   error
	stallNext  chan struct{}
	stallSince time.Time
	observers  []func(error)

	// Between the leaders and the applier, under amu.
	amu         sync.Mutex
	acond       *sync.Cond
	queue       []*group // logged, not yet applied, in order
	queuedBytes int
	applyErr    error  // the applier's last transient failure, nil once it applies again
	applied     uint64 // every group numbered up to applied is in the file
	flushWanted uint64 // a Flush waits for the groups up to this one
	leadersDone bool
	applierDone chan struct{}

	commits, records, commitNanos, applies atomic.Int64
	gathers                                atomic.Int64 // gatherDelay sleeps
	stalls, stallNanos, retries            atomic.Int64

	syncEvery time.Duration // Options.SyncEvery
	syncStop  chan struct{} // closed by Close to stop syncLoop (SyncEvery only)
	syncDone  chan struct{} // closed when syncLoop has returned

	applyGate   sync.Mutex // held by the applier while it applies; tests hold it to pause it
	beforeWrite func()     // tests: called before each log write
}

// The applier gathers logged groups for up to applyDelay, or until
// applyBytes of them wait, before it applies them in one transaction: each
// bbolt commit syncs the file twice, and those syncs compete with the log's
// on the same disk.
const (
	applyDelay = 100 * time.Millisecond
	applyBytes = 8 << 20
)

// maxQueuedBytes bounds the ops logged but not yet applied to the file: past
// it the leader waits for the applier, so memory stays bounded when the
// file cannot keep up.
const maxQueuedBytes = 64 << 20

type group struct {
	j       *Journal // nil for a group failed before it was queued
	ops     []Op
	waiters int // the Waits on it that found it not done, under j.mu
	size    int
	seq     uint64 // the group's log frame; for an empty group the last one before it
	done    chan struct{}
	err     error
	lead    chan struct{} // capacity 1, made by a Wait on it while another group is written: its turn to lead
}

// Ticket is a claim on the commit of the ops it was issued for.
type Ticket struct{ g *group }

// Wait returns once the ops are durable, or the error that stopped them.
// While the journal is stalled (or once it stalls) it returns at once an
// error wrapping ErrStalled: the ops are not durable yet, and may become
// so later. The zero Ticket (nothing recorded) returns nil at once.
func (t Ticket) Wait() error {
	g := t.g
	if g == nil {
		return nil
	}
	select {
	case <-g.done:
		return g.err
	default:
	}
	if g.j == nil {
		<-g.done
		return g.err
	}
	return g.j.wait(g)
}

// IsZero reports whether the ticket is for no ops.
func (t Ticket) IsZero() bool { return t.g == nil }

// New applies what the write-ahead log beside db holds beyond what db
// holds, then starts the journal. The log's segments are named after db's
// file (db.Path() + ".wal.N"). A log or data file damaged otherwise than
// by a crash is refused with a *DamageError (ErrDamagedLog or
// ErrDamagedData), and nothing is changed; Recover accepts the loss. The
// caller keeps ownership of db and closes it after Close.
func New(db *bbolt.DB) (*Journal, error) {
	return newJournal(db, nil, Options{})
}

// Options configure a journal. The zero value is New's: every group
// synced before its waiters return.
type Options struct {
	// SyncEvery, above zero, acknowledges a group once it is written to
	// the log, before it is synced, and syncs the log in the background at
	// least this often (when something was written since the last sync):
	// a power loss or an OS crash may then lose what was acknowledged in
	// the last SyncEvery (a crash of the process alone loses nothing). At
	// most MaxSyncEvery. Zero (the default): every group is synced before
	// its waiters return.
	SyncEvery time.Duration
}

// MaxSyncEvery bounds Options.SyncEvery. Past a tenth of a second one
// fdatasync an interval is already a negligible share of the log's time,
// so longer intervals buy no rate, only a larger loss on power failure;
// ten seconds leaves room for slow disks and stays a loss an operator can
// reason about.
const MaxSyncEvery = 10 * time.Second

// check returns an error for options New cannot use.
func (o Options) check() error {
	if o.SyncEvery < 0 {
		return fmt.Errorf("journal: the sync interval %v is negative", o.SyncEvery)
	}
	if o.SyncEvery > MaxSyncEvery {
		return fmt.Errorf("journal: the sync interval %v is above the maximum, %v", o.SyncEvery, MaxSyncEvery)
	}
	return nil
}

// NewWithOptions is New with options (Options.SyncEvery).
func NewWithOptions(db *bbolt.DB, opts Options) (*Journal, error) {
	return newJournal(db, nil, opts)
}

// newJournal is New; with rec set it recovers from damage (Recover).
func newJournal(db *bbolt.DB, rec *Recovery, opts Options) (*Journal, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	// Two journals on one file would share the log's segment names, and
	// each would apply and delete the other's segments at start.
	openMu.Lock()
	defer openMu.Unlock()
	if openJournals[db] {
		return nil, fmt.Errorf("journal: %s already has a journal; share it", db.Path())
	}
	w, applied, err := restartLog(db, rec)
	if err != nil {
		return nil, err
	}
	j := &Journal{db: db, log: w, failed: make(chan struct{}),
		closing: make(chan struct{}), stallNext: make(chan struct{}), applied: applied, applierDone: make(chan struct{})}
	j.acond = sync.NewCond(&j.amu)
	openJournals[db] = true
	if opts.SyncEvery > 0 {
		j.syncEvery, j.log.lazy = opts.SyncEvery, true
		j.syncStop, j.syncDone = make(chan struct{}), make(chan struct{})
		go j.syncLoop()
	}
	go j.applyLoop()
	return j, nil
}

// syncLoop syncs the log every syncEvery when something was written since
// the last sync (Options.SyncEvery), until Close. A tick that comes while
// a sync runs is dropped: the next sync starts when it ends.
func (j *Journal) syncLoop() {
	defer close(j.syncDone)
	t := time.NewTicker(j.syncEvery)
	defer t.Stop()
	for {
		select {
		case <-j.syncStop:
			return
		case <-t.C:
		}
		if j.Err() != nil {
			continue // fail-stop: Close keeps the log as it is
		}
		if err := j.log.syncWritten(); err != nil {
			j.fail(fmt.Errorf("journal: sync the log: %w", err))
		}
	}
}

// ApplyLog applies what the write-ahead log beside db holds to db and
// shrinks the log to its marker: the file then holds everything, as after
// a clean stop. For tools and tests that read or change the file itself.
func ApplyLog(db *bbolt.DB) error {
	j, err := New(db)
	if err != nil {
		return err
	}
	return j.Close()
}

// UpdateFile changes the data file at path directly, as a restart would
// find it: it opens the file, applies its log (ApplyLog), runs fn in one
// write transaction and closes the file. For tools and tests; the file
// must not be open elsewhere.
func UpdateFile(path string, fn func(tx *bbolt.Tx) error) error {
	db, err := Open(path)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := ApplyLog(db); err != nil {
		return err
	}
	return db.Update(fn)
}

// Append queues ops for the next commit and returns the ticket to wait on.
// Ops appended by one goroutine are committed in order, and one call's ops
// are committed together, all or none; call it under the lock that ordered
// the changes. It never blocks on I/O.
func (j *Journal) Append(ops ...Op) Ticket {
	if len(ops) == 0 {
		return Ticket{}
	}
	for _, o := range ops {
		if err := o.check(); err != nil {
			g := &group{done: make(chan struct{}), err: fmt.Errorf("journal: %w", err)}
			close(g.done)
			return Ticket{g}
		}
	}
	return j.append(ops)
}

func (j *Journal) append(ops []Op) Ticket {
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
		j.cur = &group{j: j, done: make(chan struct{})}
		if !j.leading {
			j.armTimer()
		}
	}
	j.cur.ops = append(j.cur.ops, ops...)
	return Ticket{j.cur}
}

// Sync returns once everything appended before it is durable.
func (j *Journal) Sync() error {
	_, err := j.sync()
	return err
}

func (j *Journal) sync() (uint64, error) {
	t := j.append(nil)
	if err := t.Wait(); err != nil {
		return 0, err // a stalled Wait returns before the group is done
	}
	if j.log.lazy {
		if err := j.log.syncTo(t.g.seq); err != nil {
			return 0, j.fail(fmt.Errorf("journal: sync the log: %w", err))
		}
	}
	return t.g.seq, nil
}

// Flush returns once everything appended before it is durable and applied
// to the file: for code that reads the file directly while the journal
// runs.
func (j *Journal) Flush() error {
	seq, err := j.sync()
	if err != nil {
		return err
	}
	j.amu.Lock()
	defer j.amu.Unlock()
	if seq > j.flushWanted {
		j.flushWanted = seq
		j.acond.Broadcast()
	}
	for j.applied < seq {
		if err := j.Err(); err != nil {
			return err
		}
		if j.applyErr != nil {
			return fmt.Errorf("%w: %w", ErrStalled, j.applyErr)
		}
		j.acond.Wait()
	}
	return nil
}

// Close commits, syncs and applies what is queued, stops the journal, shrinks
// the log to a marker of how far it got (everything in it is in the file)
// and returns the journal's error, if a write ever failed. A write stalled
// when Close begins is tried once more; if it fails again, it is given up
// (it was never acknowledged) and Close returns its error, leaving the
// log as it is for the next start. Later appends fail with ErrClosed. It
// does not close the database.
func (j *Journal) Close() error {
	j.mu.Lock()
	if !j.closed {
		j.closed = true
		close(j.closing)
	}
	// Commit what is gathered, after the group being written, if any.
	for {
		if j.leading {
			if j.idle == nil {
				j.idle = make(chan struct{})
			}
			idle := j.idle
			j.mu.Unlock()
			<-idle
			j.mu.Lock()
			continue
		}
		if j.cur == nil {
			break
		}
		g := j.take()
		j.mu.Unlock()
		j.lead(g)
		j.mu.Lock()
	}
	if j.timer != nil {
		j.timer.Stop()
		j.timerArmed = false
	}
	j.mu.Unlock()
	j.amu.Lock()
	j.leadersDone = true
	j.acond.Broadcast()
	j.amu.Unlock()
	<-j.applierDone
	if j.syncStop != nil {
		close(j.syncStop)
		<-j.syncDone
		// What was acknowledged reaches the disk before Close returns,
		// even when the journal failed (then as far as the disk allows).
		if err := j.log.syncWritten(); err != nil {
			j.fail(fmt.Errorf("journal: sync the log: %w", err))
		}
	}
	openMu.Lock()
	delete(openJournals, j.db)
	openMu.Unlock()
	if err := j.Err(); err != nil {
		j.log.close(false)
		return err
	}
	if err := j.log.close(true); err != nil {
		j.fail(fmt.Errorf("journal: leave the log's marker: %w", err))
	}
	return j.Err()
}

// Stats describes a journal's work so far.
type Stats struct {
	// Commits counts groups written to the log (each one write and, unless
	// Options.SyncEvery is set, one fdatasync); Records the ops they
	// carried: Records/Commits is how many changes shared a write.
	Commits, Records int64
	// LogSyncs counts the fdatasyncs that made logged groups durable: one
	// a commit, or with Options.SyncEvery those of the background, of
	// segment seals, and of what waits for the log to be on disk (the
	// applier, Sync, Flush, Close).
	LogSyncs int64
	// CommitTime is the time spent writing and syncing the log.
	CommitTime time.Duration
	// Applies counts the bbolt transactions that applied logged groups to
	// the file.
	Applies int64
	// Stalls counts the times writes stalled for want of a resource
	// (Transient), Retries the attempts made again, StallTime the time
	// spent stalled (the current stall included).
	Stalls, Retries int64
	StallTime       time.Duration
}

// Stats returns the journal's counts so far.
func (j *Journal) Stats() Stats {
	st := Stats{Commits: j.commits.Load(), Records: j.records.Load(),
		CommitTime: time.Duration(j.commitNanos.Load()), Applies: j.applies.Load(), LogSyncs: j.log.syncs.Load(),
		Stalls: j.stalls.Load(), Retries: j.retries.Load(), StallTime: time.Duration(j.stallNanos.Load())}
	j.smu.Lock()
	if j.stallErr != nil {
		st.StallTime += time.Since(j.stallSince)
	}
	j.smu.Unlock()
	return st
}

// Err returns the error that stopped the journal, or nil.
func (j *Journal) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// Failed is closed when the journal stops on a failed write: from then on
// Err says why and nothing more is made durable. Its owner tells the
// operator at once. A stall (see ErrStalled) does not close it.
func (j *Journal) Failed() <-chan struct{} { return j.failed }

// Writable returns nil while the journal takes writes: otherwise the error
// that stopped it (Err), or, while it is stalled, an error wrapping
// ErrStalled and its cause. A service asks before it changes anything, so
// that a stall does not keep piling up changes no one will be told of.
func (j *Journal) Writable() error {
	if err := j.Err(); err != nil {
		return err
	}
	_, err := j.stallState()
	return err
}

// Observe calls f when writes stall, with the error wrapping ErrStalled
// (at once if they are stalled now), and when they resume, with nil. f is
// called from the journal's goroutines and must not block or call back
// into the journal.
func (j *Journal) Observe(f func(stalled error)) {
	j.smu.Lock()
	j.observers = append(j.observers, f)
	err := j.stallErr
	j.smu.Unlock()
	if err != nil {
		f(err)
	}
}

// stallState returns the current stall's error (nil when not stalled) and
// a channel closed when the next stall begins.
func (j *Journal) stallState() (<-chan struct{}, error) {
	j.smu.Lock()
	defer j.smu.Unlock()
	return j.stallNext, j.stallErr
}

// stall records that writes are stalled by cause: the first time, Waits
// return, and observers are told. Only the leader calls it.
func (j *Journal) stall(cause error) {
	j.smu.Lock()
	first := j.stallErr == nil
	j.stallErr = fmt.Errorf("%w: %w", ErrStalled, cause)
	err, obs := j.stallErr, j.observers
	if first {
		j.stallSince = time.Now()
		close(j.stallNext)
		j.stallNext = make(chan struct{})
	}
	j.smu.Unlock()
	if first {
		j.stalls.Add(1)
		for _, f := range obs {
			f(err)
		}
	}
}

// unstall records that writes go through again. Only the leader calls it.
func (j *Journal) unstall() {
	j.smu.Lock()
	was := j.stallErr != nil
	j.stallErr = nil
	obs := j.observers
	if was {
		j.stallNanos.Add(int64(time.Since(j.stallSince)))
	}
	j.smu.Unlock()
	if was {
		for _, f := range obs {
			f(nil)
		}
	}
}

// Retries wait retryFirst, doubling up to retryMax: a resource freed is
// noticed within retryMax.
const (
	retryFirst = 5 * time.Millisecond
	retryMax   = time.Second
)

// pause waits before retry attempt n (from 0); it returns false at once
// when Close has begun.
func (j *Journal) pause(n int) bool {
	d := retryMax
	if n < 8 {
		d = min(retryMax, retryFirst<<n)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-j.closing:
		return false
	}
}

// fail makes err the journal's sticky error, if it has none yet.
func (j *Journal) fail(err error) error {
	j.mu.Lock()
	if j.err == nil {
		j.err = err
		close(j.failed)
	}
	err = j.err
	j.mu.Unlock()
	j.amu.Lock()
	j.acond.Broadcast()
	j.amu.Unlock()
	return err
}

// When the last group had gatherWaiters waiters or more, requests are
// arriving concurrently, and the next leader waits gatherDelay before
// taking its group, so that it carries more of them for one sync. Waiters,
// not Append calls, are counted: one batch request appends once an entry
// and waits once, and counting its appends made a lone client's every
// request after a batch sleep (a sleep lasts a millisecond or more on a
// loaded machine); with waiters counted, two are enough to keep the
// durable pipeline's groups as large as before (three left its CPU per
// order 10-25% higher: more, smaller groups, each with its sync). The
// delay is the best of the fixed waits tried on the durable pipeline, and
// the rule keeps most of its gain (docs/benchmarks.md has the runs). A lone
// writer (a group of one waiter) never waits. The cost shows where writers
// have no think time at all: BenchmarkCommit with many in-process writers
// takes longer an append, every group already complete when the leader
// waits.
const (
	gatherDelay   = 100 * time.Microsecond
	gatherWaiters = 2
)

// laggardDelay is how long a group no one waits for (its ops appended,
// no Wait called yet) may gather before a timer commits it: a waiter
// commits its own group at once, so the timer matters only for ops
// appended without a Wait, which must still reach the log.
const laggardDelay = time.Millisecond

// The group commit is led by its waiters rather than by a goroutine of its
// own: the first Wait on a group when no group is being written takes the
// group and writes and syncs it itself (it leads), while new appends gather
// in the next group; when it is done it wakes one waiter of that next group
// (its lead channel), who leads it in turn. A request thus waits for its
// own fdatasync with no hand-off to a committer goroutine and back (those
// doubled the scheduler's share of the durable benchmarks' CPU). What no one waits for is
// led by a timer (laggard), and a write that stalls is retried by a
// goroutine of its own, so that the Wait that led it returns ErrStalled at
// once as every other does.

// wait is Wait for a group of j not yet done.
func (j *Journal) wait(g *group) error {
	counted := false
	for {
		select {
		case <-g.done:
			return g.err
		default:
		}
		next, err := j.stallState()
		if err != nil {
			select {
			case <-g.done:
				return g.err
			default:
				return err
			}
		}
		j.mu.Lock()
		if !counted {
			g.waiters++
			counted = true
		}
		if j.cur == g && !j.leading {
			if j.busy && !j.closed {
				j.gathers.Add(1)
				// Requests are arriving concurrently: let the group
				// gather a little longer for one sync. Leading is
				// taken, so the group stays j.cur meanwhile.
				j.leading = true
				j.mu.Unlock()
				time.Sleep(gatherDelay)
				j.mu.Lock()
				j.leading = false
			}
			j.take()
			j.mu.Unlock()
			j.lead(g)
			continue
		}
		var lead chan struct{}
		if j.cur == g {
			if g.lead == nil {
				g.lead = make(chan struct{}, 1)
			}
			lead = g.lead
		}
		j.mu.Unlock()
		select {
		case <-g.done:
			return g.err
		case <-lead: // nil, never ready, when g is the group being written
		case <-next:
		}
	}
}

// take makes the gathering group the one being written, by the caller.
// Called under j.mu with no group being written.
func (j *Journal) take() *group {
	g := j.cur
	j.cur, j.leading, j.inflight = nil, true, g
	return g
}

// armTimer makes sure the gathering group is committed even if no one
// waits for it. Called under j.mu. The timer is left to fire rather than
// stopped when a waiter takes the group: resetting and stopping it for
// every group cost 2-3% of the durable pipeline's CPU, a firing that
// finds nothing to do costs less, and it fires at most once a
// laggardDelay.
func (j *Journal) armTimer() {
	if j.timerArmed || j.closed {
		return
	}
	j.timerArmed = true
	if j.timer == nil {
		j.timer = time.AfterFunc(laggardDelay, j.laggard)
		return
	}
	j.timer.Reset(laggardDelay)
}

// laggard leads the gathering group when its timer fires and no one else
// does.
func (j *Journal) laggard() {
	j.mu.Lock()
	j.timerArmed = false
	if j.cur == nil || j.leading {
		j.mu.Unlock()
		return // the leader arms the timer again when it is done
	}
	g := j.take()
	j.mu.Unlock()
	j.lead(g)
}

// release ends the caller's lead of g: the next group's waiters are told
// it is their turn, Close that the journal is idle.
func (j *Journal) release(g *group) {
	j.mu.Lock()
	j.leading, j.inflight = false, nil
	j.busy = g.waiters >= gatherWaiters
	if c := j.cur; c != nil {
		if c.lead != nil {
			select {
			case c.lead <- struct{}{}:
			default:
			}
		}
		j.armTimer()
	}
	if j.idle != nil {
		close(j.idle)
		j.idle = nil
	}
	j.mu.Unlock()
}

// lead logs g as one frame, the caller having taken it (take). While it
// runs, new ops gather in the next group: that is the group commit. A
// write that fails for want of a resource is retried by a goroutine of its
// own, the same frame at the same place, until it succeeds, Close gives it
// up, or it fails otherwise.
func (j *Journal) lead(g *group) {
	if err := j.Err(); err != nil {
		g.err = err
		close(g.done)
		j.release(g)
		return
	}
	if len(g.ops) == 0 {
		g.seq = j.log.next - 1
		close(g.done)
		j.release(g)
		return
	}
	g.resolve()
	seq, err := j.logOnce(g, 0)
	if err != nil && Transient(err) {
		j.stall(err)
		go func() {
			seq, err := j.logRetry(g)
			j.finish(g, seq, err)
		}()
		return
	}
	j.finish(g, seq, err)
}

// finish completes the lead of g once its write succeeded or failed for
// good.
func (j *Journal) finish(g *group, seq uint64, err error) {
	if err != nil {
		g.err = j.fail(err)
		j.unstall()
		close(g.done)
		j.release(g)
		return
	}
	j.records.Add(int64(len(g.ops)))
	g.seq = seq
	close(g.done)
	if !j.queueNow(g) {
		// The applier is behind: wait for it on a goroutine of its own,
		// leading still, rather than hold the request that led.
		go func() {
			j.queueForApply(g)
			j.release(g)
		}()
		return
	}
	j.release(g)
}

// resolve computes the group's lazy values and its size.
func (g *group) resolve() {
	for i := range g.ops {
		if o := &g.ops[i]; o.lazy != nil {
			o.value, o.lazy = o.lazy(), nil
		}
		g.size += g.ops[i].size()
	}
}

// logOnce writes g's ops to the log as one frame, attempt n, and returns
// its sequence number.
func (j *Journal) logOnce(g *group, n int) (uint64, error) {
	if j.beforeWrite != nil {
		j.beforeWrite()
	}
	start := time.Now()
	seq, err := j.log.write(g.ops)
	j.commitNanos.Add(int64(time.Since(start)))
	j.commits.Add(1)
	if n > 0 {
		j.retries.Add(1)
	}
	if err != nil {
		return 0, fmt.Errorf("journal: log %d ops: %w", len(g.ops), err)
	}
	return seq, nil
}

// logRetry writes g again after its first attempt failed for want of a
// resource (the journal stalled), the same frame at the same place, with a
// growing pause, until it succeeds or Close gives it up; any other failure
// is returned at once.
func (j *Journal) logRetry(g *group) (uint64, error) {
	for attempt := 0; ; attempt++ {
		if !j.pause(attempt) {
			// Closing: one last attempt, then give the group up.
			seq, err := j.logOnce(g, attempt+1)
			if err == nil {
				return seq, nil
			}
			return 0, fmt.Errorf("journal: closed while the log could not be written (%d ops not logged, none acknowledged): %w", len(g.ops), err)
		}
		seq, err := j.logOnce(g, attempt+1)
		if err == nil || !Transient(err) {
			return seq, err
		}
		j.stall(err)
	}
}

// queueNow hands a logged group to the applier when it has room for it,
// and reports whether it did.
func (j *Journal) queueNow(g *group) bool {
	j.amu.Lock()
	if j.queuedBytes > maxQueuedBytes {
		j.amu.Unlock()
		return false
	}
	j.queue = append(j.queue, g)
	j.queuedBytes += g.size
	j.acond.Broadcast()
	j.amu.Unlock()
	j.unstall()
	return true
}

// queueForApply hands a logged group to the applier. Past maxQueuedBytes
// the leader waits for the applier; if the applier is failing for want
// of a resource, that is a stall too.
func (j *Journal) queueForApply(g *group) {
	j.amu.Lock()
	for j.queuedBytes > maxQueuedBytes && j.Err() == nil {
		if err := j.applyErr; err != nil {
			j.amu.Unlock()
			select {
			case <-j.closing:
				// The applier gives up when Close is done with the leaders: stop
				// here rather than wait for it.
				j.fail(fmt.Errorf("journal: closed while the data file could not be written: %w", err))
			default:
				j.stall(err)
			}
			j.amu.Lock()
			if j.applyErr != nil && j.queuedBytes > maxQueuedBytes {
				j.acond.Wait()
			}
			continue
		}
		j.acond.Wait()
	}
	j.queue = append(j.queue, g)
	j.queuedBytes += g.size
	j.acond.Broadcast()
	j.amu.Unlock()
	j.unstall()
}

// applyLoop applies logged groups to the file, everything logged while the
// previous transaction ran going into the next one. It stays one body
// because its state (the gather timer, the retry count of a failed batch)
// lives across iterations, and every hand-over with the leaders is a
// step under j.amu that is easiest to check against commit's when they are
// read in one place.
func (j *Journal) applyLoop() {
	defer close(j.applierDone)
	var timer *time.Timer
	timedOut := false
	attempt := 0 // retries of the batch that failed for want of a resource
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		j.amu.Lock()
		for len(j.queue) == 0 && !j.leadersDone {
			j.acond.Wait()
		}
		// Gather more unless enough waits, a Flush or Close wants it now,
		// or the oldest has waited long enough.
		if len(j.queue) > 0 && !j.leadersDone && j.queuedBytes < applyBytes && j.flushWanted <= j.applied && j.Err() == nil {
			timedOut = false
			if timer == nil {
				timer = time.AfterFunc(applyDelay, func() {
					j.amu.Lock()
					timedOut = true
					j.acond.Broadcast()
					j.amu.Unlock()
				})
			} else {
				timer.Reset(applyDelay)
			}
			for !timedOut && !j.leadersDone && j.queuedBytes < applyBytes && j.flushWanted <= j.applied && j.Err() == nil {
				j.acond.Wait()
			}
		}
		batch := j.queue
		j.queue = nil
		j.amu.Unlock()
		if len(batch) == 0 {
			return
		}
		if j.Err() != nil {
			continue // fail-stop: the log keeps what the file lacks
		}
		last := batch[len(batch)-1].seq
		var err error
		if j.log.lazy {
			// The file records these groups as applied: a log that could
			// lose them in a power loss would then be shorter than the
			// file says it held.
			if err = j.log.syncTo(last); err != nil {
				err = fmt.Errorf("sync the log first: %w", err)
			}
		}
		if err == nil {
			j.applyGate.Lock()
			err = applyGroups(j.db, batch, last)
			j.applyGate.Unlock()
			j.applies.Add(1)
		}
		if err != nil && isCommitError(err) && Transient(err) {
			// The transaction was rolled back: put the batch back and try
			// again after a pause (once more when closing, then give up).
			j.amu.Lock()
			j.applyErr = fmt.Errorf("journal: apply logged groups to %s: %w", j.db.Path(), err)
			j.queue = append(batch, j.queue...)
			closing := j.leadersDone
			j.acond.Broadcast()
			j.amu.Unlock()
			if !closing {
				if !j.pause(attempt) {
					time.Sleep(retryFirst) // Close has begun: the leaders finish first
				}
				attempt++
				continue
			}
			j.applyGate.Lock()
			err = applyGroups(j.db, batch, last)
			j.applyGate.Unlock()
			j.amu.Lock()
			j.queue = j.queue[len(batch):]
			j.amu.Unlock()
		}
		attempt = 0
		size := 0
		for _, g := range batch {
			size += g.size
		}
		if err != nil {
			j.fail(fmt.Errorf("journal: apply logged groups to %s: %w", j.db.Path(), err))
		}
		j.amu.Lock()
		j.queuedBytes -= size
		if err == nil {
			j.applied = last
			j.applyErr = nil
		}
		j.acond.Broadcast()
		j.amu.Unlock()
		if err == nil {
			if err := j.log.trim(last); err != nil {
				j.fail(fmt.Errorf("journal: remove applied log segments: %w", err))
			}
		}
	}
}

// applyGroups applies gs to db in one transaction that also records last
// as the last group applied. A panic (a damaged page) is an error; an
// error of the commit itself (writing the file) is a *commitError.
func applyGroups(db *bbolt.DB, gs []*group, last uint64) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic while applying: %v", p)
		}
	}()
	tx, err := db.Begin(true)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, g := range gs {
		if err := Apply(tx, g.ops...); err != nil {
			return fmt.Errorf("group %d: %w", g.seq, err)
		}
	}
	if err := setApplied(tx, last); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return &commitError{err}
	}
	return nil
}

// commitError is a failure to write a transaction to the file: bbolt has
// rolled it back, and the same transaction can be tried again.
type commitError struct{ err error }

func (e *commitError) Error() string { return "commit: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

func isCommitError(err error) bool {
	var ce *commitError
	return errors.As(err, &ce)
}
