package sns_test

import (
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// The wire-level suite again, each service on a data file; every test also
// checks, as it ends, that the file holds what memory held.
func TestTheSuitePassesWithADataFile(t *testing.T) {
	withDataFile = true
	defer func() { withDataFile = false }()
	for _, run := range []func(*testing.T){
		TestTheEnvelopeHasEveryFieldAndItsSignatureVerifies,
		TestAnEnvelopeWithoutSubjectOrAttributesOmitsThemAndStillVerifies,
		TestTheTimestampIsUTCWithMilliseconds,
		TestTheUnsubscribeURLUnsubscribes,
		TestRawDeliveryMapsAttributesToSQSMessageAttributes,
		TestRawDeliveryWithMoreThanTenAttributesFailsAsAClientError,
		TestMessageStructureJSONPicksTheSQSKey,
		TestMessageStructureJSONRejectsBadDocuments,
		TestFilterPoliciesSelectWhichSubscriptionsReceiveAMessage,
		TestInvalidFilterPoliciesAreRefusedWithInvalidParameter,
		TestPublishBatchReportsEachEntrysOutcome,
		TestPublishBatchRefusesWholeBatchesAsAWSDoes,
		TestAFailedDeliveryIsCountedAndLandsInTheSubscriptionsDeadLetterQueue,
		TestAFailedDeliveryWithoutADeadLetterQueueIsCountedAsLost,
		TestATransientFailureIsRetriedOnTheClock,
		TestAWSErrorCodes,
		TestAMaximumMessageSizeOf1MiBAllowsLargerMessages,
		TestTopicsAreCreatedIdempotentlyAndReportTheirAttributes,
		TestListTopicsPagesByHundred,
		TestSubscriptionsAreIdempotentListedAndConfigurable,
		TestTopicsCanBeTagged,
		TestPublishingWhileSubscriptionsChangeIsSafe,
		TestQueryResponsesAreAWSShapedXML,
		TestQueryStatusCodesFollowAWS,
		TestGetTopicAttributesIsAnEntryMap,
		TestPublishDecodesFlattenedMessageAttributes,
		TestTheServiceUsesAFormTheEdgeAlreadyParsed,
		TestTheSigningCertificateIsServedAtItsPath,
		TestTheServiceDescribesItselfToTheEdge,
	} {
		t.Run(testName(run), run)
	}
}

// testName is a test function's name, for its subtest.
func testName(f func(*testing.T)) string {
	name := runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name()
	return name[strings.LastIndex(name, ".")+1:]
}
