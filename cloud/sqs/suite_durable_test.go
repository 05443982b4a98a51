package sqs_test

import "testing"

// The whole wire-level suite again, each service on a data file; every
// test also checks, as it ends, that the file holds what memory held.
func TestTheSuitePassesWithADataFile(t *testing.T) {
	withDataFile = true
	defer func() { withDataFile = false }()
	for name, run := range map[string]func(*testing.T){
		"Queues": TestQueues, "Messages": TestMessages, "LongPolling": TestLongPolling,
		"Batches": TestBatches, "MessageAttributes": TestMessageAttributes,
		"DeadLetterQueues": TestDeadLetterQueues, "SendAs": TestSendAs,
		"QueryProtocol": TestQueryProtocol, "ErrorCodes": TestBothProtocolsReportTheSameErrorCodes,
	} {
		t.Run(name, run)
	}
}
