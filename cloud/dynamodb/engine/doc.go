// Package engine is the embedded cloud's DynamoDB storage engine: tables,
// items and their secondary indexes in memory, optionally kept durable in
// the cloud's data file, served over DynamoDB's JSON 1.0 protocol
// (Engine.ServeHTTP, or Engine.Do without HTTP).
//
// Why it exists. The embedded DynamoDB first served the API through
// github.com/truora/minidyn/server, whose core appends every new key to a
// slice and sorts the whole slice on each insert (and its indexes do the
// same), so a write's cost grows with the table. This engine keeps each
// table and each index in a B-tree, so a write costs O(log n) whatever the
// table holds, and a Query seeks to its partition and range bounds instead
// of testing every key. docs/benchmarks.md has the measurements, against
// minidyn among others.
//
// What it owns and what it reuses. It owns storage, key encoding, paging,
// validation, durability and the wire protocol. The expression language is
// minidyn's (github.com/truora/minidyn/interpreter, over
// github.com/truora/minidyn/types values): Language.Match evaluates
// condition and filter expressions, Language.Update applies update
// expressions and Language.Project projections. Key conditions alone are
// planned here (keycond.go), because a B-tree seek needs the partition and
// the range bounds, and key numbers must compare as decimals. parity_test.go
// runs the same scenarios against minidyn's server and this engine.
// Where the interpreter differs from DynamoDB the engine does the work
// itself (expr.go): ADD and DELETE on nested document paths (exact decimal
// sums, set union and difference; the interpreter leaves the item
// unchanged), REMOVE of a top-level attribute (the interpreter keeps it),
// overlapping document paths refused, reserved words refused anywhere in a
// path with DynamoDB's message, and UPDATED_OLD/UPDATED_NEW cut to the
// paths an update wrote. Condition and filter expressions are walked by
// the engine (condition.go), which hands minidyn's evaluator only
// well-typed comparisons and functions: operands whose types cannot meet,
// or a missing attribute, make a comparison false (<> true) where the
// evaluator raised an error, and operands written in the request that an
// operator or function never takes (size(:n), begins_with(a, :n), BETWEEN
// bounds of two types) are refused before any item is read. A Query's
// filter may not name a key attribute of what it queries.
//
// Transactions' client request tokens (txtoken.go) are remembered for 10
// minutes after the transaction completes, at most 10,000 of them (the
// oldest forgotten first). On a data file each is journaled in its
// transaction's own commit and loaded at start, so a replay after a
// restart, kill -9 included, answers as before; records whose window has
// ended are deleted.
//
// Storage. github.com/google/btree (BTreeG): a widely used,
// dependency-free generic B-tree with ordered range iteration in both
// directions, which is all a Query and a Scan need. Keys are encoded so that
// byte order is DynamoDB's order: strings and binaries as their bytes,
// numbers as decimals (so 9 < 10 and -1 < -0.5, and 1 and 1.0 are one
// key), every component prefix-free so that (hash, range, primary key)
// concatenate into index keys. Items are stored encoded (codec.go), roughly
// their payload in size, because the interpreter's decoded form is several
// times larger.
//
// Reading requests. PutItem, the write of every order, is read by a
// hand-written decoder (wire_decode.go) when its body takes the plain
// form SDKs send, and by encoding/json otherwise, so that every error
// message stays encoding/json's; a golden file and a fuzz test hold the
// two to the same answers. It was chosen by measurement on our store's
// conditional PutItem (docs/benchmarks.md, "The conditional put and
// Publish…", has the command and the times): encoding/json takes 66
// allocations to read it, github.com/go-json-experiment/json (the code
// of Go's encoding/json/v2, which Go 1.26 has only under
// GOEXPERIMENT=jsonv2) 31 in either of its modes, the hand-written
// decoder 9 — it copies the body to one string once and cuts every
// unescaped string from it, and allocates attribute values in blocks —
// and it is the fastest of the three. Condition texts are parsed once and
// kept (condition.go's conditionCache): minidyn's parser builds its
// tables anew for every parse. A conditional write decodes of the item it
// replaces only the attributes its condition reads and the index keys
// (ops_item.go's checkConditionLean).
//
// Durability. Opened on a data file (Open with Options.DB), the engine
// records the effect of every change — the item as stored, its deletion,
// the table's definition — through the shared journal before it answers,
// and loads the file at start (durable.go has the layout).
//
// Concurrency. Each table has a read-write lock. A write holds it from its
// condition check to its last index update, and records its changes
// before releasing it, so a conditional write is atomic with its check and
// the file receives one item's changes in the order they were made; it
// waits for the commit after releasing the lock. Reads share the lock and
// decode outside it. Transactions and batches lock every table they touch,
// in name order, and are recorded whole. Different tables never wait for
// each other.
//
// Time to Live (ttl.go). A table with TTL enabled keeps an expiry index
// of its items whose TTL attribute is a Number (epoch seconds); a sweeper
// on the engine's clock (Options.Clock, every Options.TTLSweepInterval)
// deletes the items whose second has passed, unless it is more than five
// years past, as AWS does, through the same journaled path as DeleteItem.
// It runs only while some table has TTL enabled, and looks only at expired
// entries. Tags and point-in-time recovery settings (tags.go) are kept
// with the table's definition and reported, with no other effect. A table
// ARN is accepted wherever a table name is.
//
// The legacy parameters (KeyConditions, QueryFilter, ScanFilter,
// Expected, AttributeUpdates, ConditionalOperator, AttributesToGet) are
// translated (legacy.go) into the expressions they stand for, with
// generated placeholders, and run on the same paths; a request mixing
// them with expression parameters is refused, as DynamoDB does.
//
// What it refuses, with a ValidationException rather than silently
// ignoring: streams, replicas and SSE settings. Unknown operations are an
// UnknownOperationException.
//
// Input limits, as AWS documents them, each a ValidationException: every
// string of a request is Unicode text (encoding/json would decode invalid
// UTF-8 and unpaired surrogate escapes as U+FFFD, so that distinct keys
// became one item: the raw body is checked first); keys of at most 2048
// bytes (partition) and 1024 (sort), for the table's key on every read and
// write path and for an index's key when an item goes into the index;
// items of at most 400 KB, attribute names included; numbers of at most
// 38 digits; each expression at most 4 KB, each placeholder at most 255
// bytes and all substitutions together at most 2 MB.
package engine
