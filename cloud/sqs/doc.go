// Package sqs is the embedded cloud's Amazon SQS: standard queues with
// visibility timeouts, long polling, delays, retention, dead-letter queues,
// redrive-allow policies and message move tasks.
//
// It has two layers. The Engine owns queues and messages and is driven
// through a Go API (CreateQueue, SendMessage, ReceiveMessage, DeleteMessage,
// ChangeMessageVisibility, …) that in-process callers such as a Lambda-like
// poller use directly; every state change goes through one of its methods
// under one lock, so a journal or fault hooks can later be added in one
// place. The Service is the wire layer: it decodes AWS's JSON 1.0 protocol
// (X-Amz-Target: AmazonSQS.*) and the Query protocol (Action=…, XML replies)
// into Engine calls and encodes the replies and errors as AWS does, so that
// unmodified AWS SDKs and the AWS CLI work against it.
//
// Time comes from a clock.Clock: visibility, delays, retention, long polls
// and move tasks all follow it, and tests drive them with a fake clock.
package sqs
