// Package sqs is the embedded cloud's Amazon SQS: standard and FIFO queues
// with visibility timeouts, long polling, delays, retention, dead-letter
// queues, redrive-allow policies and message move tasks.
//
// A FIFO queue (a .fifo name and FifoQueue=true) keeps each message group
// in order and locked while one of its messages is in flight, drops a
// message whose deduplication id (given, or the body's SHA-256 under
// ContentBasedDeduplication; per queue or per group, DeduplicationScope)
// it took in the last five minutes, answering with the original's
// message id and sequence number, refuses per-message delays, and
// replays a receive retried with the same ReceiveRequestAttemptId. Its
// dead-letter queue is a FIFO queue too. fifo.go describes the structures.
//
// It has two layers. The Engine owns queues and messages and is driven
// through a Go API (CreateQueue, SendMessage, ReceiveMessage, DeleteMessage,
// ChangeMessageVisibility, …) that in-process callers such as a Lambda-like
// poller use directly; every state change goes through one of its methods
// under one lock, where it is recorded for the journal (durable.go). The
// Service is the wire layer: it decodes AWS's JSON 1.0 protocol
// (X-Amz-Target: AmazonSQS.*) and the Query protocol (Action=…, XML replies)
// into Engine calls and encodes the replies and errors as AWS does, so that
// unmodified AWS SDKs and the AWS CLI work against it.
//
// A message's text is SQS's characters only (#x9 | #xA | #xD | #x20 to
// #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF), in its body, its
// attributes' names, types and values, whatever the protocol: bytes that
// are not UTF-8 and UTF-16 surrogates are refused with
// InvalidMessageContents, never replaced. Since encoding/json would
// replace them silently with U+FFFD, the Service checks each JSON body's
// raw text before trusting what it decoded (awsproto.ValidText); text that
// is not Unicode outside any message refuses the whole request. The plain
// bodies of SendMessageBatch, ReceiveMessage and DeleteMessageBatch are
// read by a decoder of its own (wire_decode.go) that takes only Unicode
// text and hands every other body to encoding/json and these checks.
// What queues hold in memory is bounded, per queue and for all queues
// together (Options.MaxQueueBytes, MaxQueuedBytes; MessageBytes says how a
// message counts): at the ceiling SendMessage and SendMessageBatch
// entries are refused with RequestThrottled (ErrQueueFull) while receives,
// deletes and purges go on, so the queue drains. AWS documents no such
// ceiling; its limit of 120,000 messages in flight in a queue (standard
// or FIFO) is kept as AWS keeps it (ReceiveMessage answers OverLimit on a
// standard queue, nothing on a FIFO queue).
//
// Time comes from a clock.Clock: visibility, delays, retention, long polls
// and move tasks all follow it, and tests drive them with a fake clock.
//
// With a data file (Options.DB, then New or NewEngine) the engine is
// durable: what it acknowledged survives a crash of the process. Queues
// with their attributes, policies and tags; messages with their bodies,
// attributes, MD5s, sent times, receive counts, first-receive times,
// visibility deadlines, delays, dead-letter sources, and a FIFO queue's
// group ids, deduplication ids and sequence numbers; a FIFO queue's
// deduplication window; deletes, purges and move tasks with their
// progress. (Receive request attempt ids are kept in memory only.) Each
// change is recorded under the engine's lock and the request answers once its record is committed,
// sharing the commit (one write-ahead log frame, one sync) with the
// requests that came meanwhile (package journal). A receive answers only after the receive
// counts it raised are on file, so a poison message still reaches its
// dead-letter queue across crashes; a message in flight at a crash stays in
// flight until its deadline. A move task running at a crash carries on
// from its recorded progress. durable.go describes the file's layout.
package sqs
