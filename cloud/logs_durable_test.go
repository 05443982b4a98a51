package cloud_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslogs "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/orderflow/orderflow/cloud/logs"
)

// Under a data directory CloudWatch Logs outlives a restart: a client's
// groups, streams, events and retention, the cloud's own lines (a
// function's), with their timestamps and ids; a deleted group stays
// deleted.
func TestLogsAreKeptAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	c := startIn(t, dir)
	cl := awslogs.NewFromConfig(c.Config())
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cl.CreateLogGroup(ctx, &awslogs.CreateLogGroupInput{LogGroupName: aws.String("/app/client")}))
	must(cl.CreateLogStream(ctx, &awslogs.CreateLogStreamInput{LogGroupName: aws.String("/app/client"), LogStreamName: aws.String("s1")}))
	must(cl.PutLogEvents(ctx, &awslogs.PutLogEventsInput{LogGroupName: aws.String("/app/client"), LogStreamName: aws.String("s1"),
		LogEvents: []logstypes.InputLogEvent{{Timestamp: aws.Int64(1000), Message: aws.String("first")}, {Timestamp: aws.Int64(2000), Message: aws.String("second é")}}}))
	must(cl.PutRetentionPolicy(ctx, &awslogs.PutRetentionPolicyInput{LogGroupName: aws.String("/app/client"), RetentionInDays: aws.Int32(14)}))
	must(cl.CreateLogGroup(ctx, &awslogs.CreateLogGroupInput{LogGroupName: aws.String("/app/gone")}))
	must(cl.CreateLogStream(ctx, &awslogs.CreateLogStreamInput{LogGroupName: aws.String("/app/gone"), LogStreamName: aws.String("s")}))
	must(cl.PutLogEvents(ctx, &awslogs.PutLogEventsInput{LogGroupName: aws.String("/app/gone"), LogStreamName: aws.String("s"),
		LogEvents: []logstypes.InputLogEvent{{Timestamp: aws.Int64(1000), Message: aws.String("soon gone")}}}))
	must(cl.DeleteLogGroup(ctx, &awslogs.DeleteLogGroupInput{LogGroupName: aws.String("/app/gone")}))
	fmt.Fprint(c.Logs.Writer("/aws/lambda/Fn", "2026/12/06/[$LATEST]abc"), "START RequestId: r1\n{\"orderId\":\"O1\"}\nEND RequestId: r1\n")

	read := func(cl *awslogs.Client, group string) []string {
		t.Helper()
		out, err := cl.FilterLogEvents(ctx, &awslogs.FilterLogEventsInput{LogGroupName: aws.String(group)})
		if err != nil {
			t.Fatalf("FilterLogEvents %s: %v", group, err)
		}
		var lines []string
		for _, e := range out.Events {
			lines = append(lines, fmt.Sprintf("%s %d %s %s", aws.ToString(e.EventId), aws.ToInt64(e.Timestamp), aws.ToString(e.LogStreamName), aws.ToString(e.Message)))
		}
		return lines
	}
	client, fn := read(cl, "/app/client"), read(cl, "/aws/lambda/Fn")
	if len(client) != 2 || len(fn) != 3 {
		t.Fatalf("before the restart: %q %q", client, fn)
	}
	closeCloud(t, c)

	c = startIn(t, dir)
	defer closeCloud(t, c)
	cl = awslogs.NewFromConfig(c.Config())
	if got := read(cl, "/app/client"); strings.Join(got, "\n") != strings.Join(client, "\n") {
		t.Errorf("a client's events after the restart:\n%q\nbefore:\n%q", got, client)
	}
	if got := read(cl, "/aws/lambda/Fn"); strings.Join(got, "\n") != strings.Join(fn, "\n") {
		t.Errorf("the function's lines after the restart:\n%q\nbefore:\n%q", got, fn)
	}
	groups, err := cl.DescribeLogGroups(ctx, &awslogs.DescribeLogGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups.LogGroups {
		names = append(names, aws.ToString(g.LogGroupName))
		if aws.ToString(g.LogGroupName) == "/app/client" && aws.ToInt32(g.RetentionInDays) != 14 {
			t.Errorf("retention after the restart: %d, want 14", aws.ToInt32(g.RetentionInDays))
		}
	}
	if strings.Join(names, " ") != "/app/client /aws/lambda/Fn" {
		t.Errorf("groups after the restart: %v (the deleted one must stay deleted)", names)
	}
	streams, err := cl.DescribeLogStreams(ctx, &awslogs.DescribeLogStreamsInput{LogGroupName: aws.String("/app/client")})
	if err != nil || len(streams.LogStreams) != 1 || aws.ToInt64(streams.LogStreams[0].LastEventTimestamp) != 2000 {
		t.Errorf("streams after the restart: %+v, %v", streams, err)
	}
	// New events after the restart get new ids.
	must(cl.PutLogEvents(ctx, &awslogs.PutLogEventsInput{LogGroupName: aws.String("/app/client"), LogStreamName: aws.String("s1"),
		LogEvents: []logstypes.InputLogEvent{{Timestamp: aws.Int64(3000), Message: aws.String("third")}}}))
	if got := read(cl, "/app/client"); len(got) != 3 || strings.Fields(got[2])[0] == strings.Fields(got[1])[0] || strings.Fields(got[2])[0] == strings.Fields(got[0])[0] {
		t.Errorf("after a new event: %q", got)
	}
}

// A group keeps its newest MaxEventsPerGroup events, on disk as in memory:
// a restart keeps the same newest ones.
func TestAGroupsBoundHoldsAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	c := startIn(t, dir)
	w := c.Logs.Writer("/aws/lambda/Busy", "s")
	const extra = 5000
	var b strings.Builder
	for i := range logs.MaxEventsPerGroup + extra {
		fmt.Fprintf(&b, "line %d\n", i)
		if b.Len() > 1<<16 {
			w.Write([]byte(b.String()))
			b.Reset()
		}
	}
	w.Write([]byte(b.String()))
	closeCloud(t, c)

	c = startIn(t, dir)
	defer closeCloud(t, c)
	cl := awslogs.NewFromConfig(c.Config())
	first, err := cl.GetLogEvents(context.Background(), &awslogs.GetLogEventsInput{LogGroupName: aws.String("/aws/lambda/Busy"), LogStreamName: aws.String("s"),
		StartFromHead: aws.Bool(true), Limit: aws.Int32(1)})
	if err != nil || len(first.Events) != 1 || aws.ToString(first.Events[0].Message) != fmt.Sprintf("line %d", extra) {
		t.Errorf("the oldest event kept after the restart: %+v, %v; want line %d", first, err, extra)
	}
	last, err := cl.GetLogEvents(context.Background(), &awslogs.GetLogEventsInput{LogGroupName: aws.String("/aws/lambda/Busy"), LogStreamName: aws.String("s"), Limit: aws.Int32(1)})
	if err != nil || len(last.Events) != 1 || aws.ToString(last.Events[0].Message) != fmt.Sprintf("line %d", logs.MaxEventsPerGroup+extra-1) {
		t.Errorf("the newest event after the restart: %+v, %v", last, err)
	}
}
