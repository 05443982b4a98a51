// Package dynamodb is the embedded cloud's DynamoDB API. The engine and the
// JSON wire protocol are minidyn's server (github.com/truora/minidyn/server);
// this package puts it behind the edge and adds what common clients need and
// minidyn lacks: ListTables, AWS-shaped errors for operations it does not
// implement (minidyn answers those with plain text), locking around
// minidyn's table map (its CreateTable, UpdateTable and DeleteTable change
// the map without its own lock), and durability.
//
// # Durability
//
// New keeps the tables in memory. Open with a bbolt database keeps them
// across restarts: every write acknowledged to a client (a table created,
// updated or deleted, PutItem, UpdateItem, DeleteItem, BatchWriteItem,
// TransactWriteItems) is in the file, fsync'd, before its response is sent,
// so it survives kill -9; Open replays the file into a fresh engine.
//
// Why a journal. minidyn stays the only engine: expressions, conditions,
// secondary indexes, queries and scans all run in memory as before, and
// bbolt is only written while serving and read only at start. The write
// path appends records at increasing keys, which touches the same few pages
// whatever items the writes change: a commit of 8 records of 300 bytes
// writes 23 KB of pages (0.39 ms) on the 2-core development machine,
// against 89 KB (0.51 ms) to put the same records by item key into a bucket
// of 100,000 items, as making bbolt the item store would (BenchmarkCommit).
// The keyed writes happen in compaction instead, off the request path.
//
// What the journal records. Not the requests but their effects: each item
// a write changed, as the engine holds it afterwards (or its key, if
// deleted), and table operations as requests. Replaying an item is an
// unconditional PutItem or DeleteItem, so a replay never re-evaluates a
// condition or an update expression (a later minidyn cannot replay
// differently what this one acknowledged), and the journal can say what
// minidyn did even where it does not fail cleanly: minidyn 0.8.2 keeps the
// first requests of a BatchWriteItem that fails on a later one, and stores
// a PutItem or UpdateItem whose secondary-index key has the wrong type
// before it reports the error. A failed write is journaled only if it
// changed an item: after a failed condition or a cancelled transaction
// (both checked before anything changes) nothing is read back; after any
// other failure each item it names is read back and compared with the item
// before (read for a single DeleteItem or UpdateItem) or with the item it
// would have written. A request the fault hook fails never reaches the
// engine. UpdateItem costs one read before and one after; PutItem,
// DeleteItem and BatchWriteItem that succeed cost no read.
//
// Order. A write holds writeMu from before the engine applies it until its
// record is numbered, so records are numbered in the order the engine
// applied the writes, and replay applies them in that order: two writes to
// one item replay in the order they happened, and a conditional write
// replays the outcome it had. minidyn serialises every operation under one
// lock anyway, so writeMu costs no concurrency. One request is one record:
// a batch or a transaction replays whole or not at all. Table operations
// run alone (tableMu held exclusively).
//
// Group commit. In the embedded cloud (Options.Journal set) the records go
// into the cloud's shared journal with SQS's and SNS's: one write-ahead log
// frame and one fdatasync per group, folded into the file in the background
// (package journal); the compactor reads only what has been folded. On its
// own (no shared journal), one committer goroutine commits, in one bbolt transaction
// and so one fsync, every record queued while the previous commit was
// syncing; a writer waits for the commit that carries its record, holding
// no lock. With no other writer a write waits for one commit (about 0.4 ms
// there: bbolt syncs the data and then the meta page, an fsync taking
// 0.12 ms, plus the writes); with more, commits carry more records. PutItem
// through the SDK over loopback, from clients in the same process, in
// memory and journaled (BenchmarkPutItem, one run on that machine shared
// with other work): 1 client 7,492 and 1,476 puts/s (one commit per put);
// 8 clients 11,686 and 5,194 (0.35 commits per put); 32 clients 14,511 and
// 6,919 (0.15 commits per put). Throughput then follows bbolt's commit
// time: a commit cannot start before the previous one has synced.
//
// Reads see only durable writes. A read, and a write that failed, is
// answered only once every write it may have seen is committed, so no
// client acts on a write a crash could take back. When no write is being
// committed this costs nothing; otherwise it waits for that commit.
//
// Compaction. The state is a snapshot (the table definitions, and every
// live item keyed as the engine keys it, computed with minidyn's own key
// function) with the journal replayed over it. A background compactor
// folds the journal into the snapshot once it holds Options.CompactRecords
// records (10,000) or CompactBytes (64 MiB), and at Open if it already
// does: it reads the records from the file, not the engine, so it never
// pauses serving; it folds 1,000 records a transaction, deleting them in
// the same transaction, so commits wait at most one such transaction, and
// a crash anywhere leaves a file that replays to the same state. The start
// then replays one PutItem per live item and at most about CompactRecords
// records; the file stays bounded because the pages the journal frees are
// reused (bbolt never shrinks a file): TestCompactionKeepsTheStateAndBoundsTheFile
// writes 2,400 items of 1 KB over 40 keys and the file stays at 1 MiB. For
// 100,000 orders written twice each (200,000 records), compaction takes
// 2.1–2.6 s (two runs) and takes the journal from 52 MB of pages to none,
// with a 23 MB snapshot (BenchmarkStartup).
//
// Start-up. With 100,000 orders in the Orders table of
// deploy/template.yaml (with its GSI), Open takes 73–77 s from the journal
// and 79–87 s from the snapshot (two runs), of which reading and decoding
// the file takes 0.4 s: the rest is minidyn inserting items, which
// re-sorts the table's and each index's key list on every new key
// (core.Table.setItem, index.putData), so a load is quadratic. At 10,000 orders Open takes
// 0.6–0.8 s. The same cost bounds live inserts into a large table: in a
// probe of minidyn alone, a new item took 1.8 ms on average between 80,000
// and 100,000 items with one GSI, 0.9 ms without.
//
// One difference a restart can show: minidyn does not backfill a GSI that
// UpdateTable adds, so items written before it are missing from it; after
// a compaction the snapshot replays the table's definition before its
// items, and the new GSI then holds them all, as on AWS.
//
// Failure. If a commit fails, or the engine applied a write the journal
// cannot record, the journal stops: that write and every later request is
// answered with InternalServerError, since the engine may now hold what the
// file does not. Close stops journaling; the caller closes the file after.
// A file this package did not write, of another format version, or
// damaged, is an error from Open (a bbolt panic while reading it included).
package dynamodb
