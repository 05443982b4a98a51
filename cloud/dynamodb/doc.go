// Package dynamodb is the embedded cloud's DynamoDB API: orderflow's own
// storage engine (package engine: tables and secondary indexes in B-trees,
// minidyn's expression interpreter) behind the edge, with a fault hook
// that tests and `orderflow up --fault dynamodb-writes=…` use to fail a
// share of requests before they reach the engine.
//
// # Durability
//
// New without a data file keeps the tables in memory; with one
// (Options.DB) it keeps them across restarts and crashes: the engine records the effect of
// every write it applies — each item as it now holds it, or its deletion,
// and each table's definition — through the cloud's shared write-ahead
// journal (package journal), and answers only once that record is synced.
// The records are made where the engine changes an item, under that
// table's lock, from the engine's own state, never by re-reading the
// request: whatever a request looks like, what the engine applied is what
// the file gets, and a batch or a transaction reaches the file whole.
// Items are stored under the engine's key encoding (numbers by value,
// binaries by bytes, composite keys prefix-free), so the file holds one
// record per live item and a restart loads exactly the items the engine
// held. Reads and failed writes are answered only once every write they
// may have seen is durable, so no client acts on what a crash could take
// back. Tables do not wait for each other: each has its own lock, and
// their records share the journal's commits.
//
// While the journal cannot write (a full disk, too many open files)
// nothing is acknowledged: every request answers 503 ServiceUnavailable
// until the journal's retry succeeds, and then the service answers again
// by itself. After a failure that does not pass (an I/O error) it answers
// 503 until the process is restarted from its data directory. The
// engine's package documentation describes the file's layout.
package dynamodb
