// Package dynamodb is the embedded cloud's DynamoDB API. The engine and the
// JSON wire protocol are minidyn's server (github.com/truora/minidyn/server);
// this package puts it behind the edge and adds what common clients need and
// minidyn lacks: ListTables, AWS-shaped errors for operations it does not
// implement (minidyn answers those with plain text), locking around
// minidyn's table map (its CreateTable, UpdateTable and DeleteTable change
// the map without its own lock), and durability.
//
// TODO: durability design.
package dynamodb
