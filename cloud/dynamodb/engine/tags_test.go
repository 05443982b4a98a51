package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

const arnPrefix = "arn:aws:dynamodb:us-east-1:000000000000:table/"

func listTags(t *testing.T, c *awsddb.Client, arn string) string {
	t.Helper()
	out, err := c.ListTagsOfResource(ctx, &awsddb.ListTagsOfResourceInput{ResourceArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("ListTagsOfResource: %v", err)
	}
	var parts []string
	for _, tg := range out.Tags {
		parts = append(parts, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
	}
	return strings.Join(parts, " ")
}

func tag(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }

func TestTags(t *testing.T) {
	eachClockedBackend(t, func(t *testing.T, env *clocked) {
		c := env.c
		d, err := c.CreateTable(ctx, &awsddb.CreateTableInput{
			TableName:            aws.String("orders"),
			BillingMode:          types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
			Tags:                 []types.Tag{tag("team", "payments")},
		})
		if err != nil {
			t.Fatal(err)
		}
		arn := aws.ToString(d.TableDescription.TableArn)
		if arn != arnPrefix+"orders" {
			t.Fatalf("TableArn %s", arn)
		}
		if got, want := listTags(t, c, arn), "team=payments"; got != want {
			t.Errorf("after CreateTable: got %q, want %q", got, want)
		}
		if _, err := c.TagResource(ctx, &awsddb.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{tag("env", "dev"), tag("team", "orders"), tag("empty", "")}}); err != nil {
			t.Fatalf("TagResource: %v", err)
		}
		if got, want := listTags(t, c, arn), "empty= env=dev team=orders"; got != want {
			t.Errorf("after TagResource: got %q, want %q", got, want)
		}
		if _, err := c.UntagResource(ctx, &awsddb.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"empty", "absent"}}); err != nil {
			t.Fatalf("UntagResource: %v", err)
		}
		if got, want := listTags(t, c, arn), "env=dev team=orders"; got != want {
			t.Errorf("after UntagResource: got %q, want %q", got, want)
		}

		many := make([]types.Tag, 49)
		for i := range many {
			many[i] = tag(fmt.Sprintf("k%02d", i), "v")
		}
		missing := arnPrefix + "missing"
		for _, tc := range []struct {
			name string
			in   *awsddb.TagResourceInput
			want string
		}{
			{"a 51st tag", &awsddb.TagResourceInput{ResourceArn: aws.String(arn), Tags: many}, "ValidationException: One or more parameter values were invalid: a resource can have at most 50 tags"},
			{"the aws: prefix", &awsddb.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{tag("AWS:x", "v")}}, "ValidationException: One or more parameter values were invalid: tag key AWS:x uses the prefix aws:, which is reserved for AWS use"},
			{"a 129-character key", &awsddb.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{tag(strings.Repeat("k", 129), "v")}}, "ValidationException: 1 validation error detected: Value '" + strings.Repeat("k", 129) + "' at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128"},
			{"128 characters of 3 bytes each", &awsddb.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{tag(strings.Repeat("€", 128), strings.Repeat("€", 256))}}, "no error"},
			{"a 257-character value", &awsddb.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{tag("k", strings.Repeat("v", 257))}}, "ValidationException: 1 validation error detected: Value '" + strings.Repeat("v", 257) + "' at 'tags.1.member.value' failed to satisfy constraint: Member must have length less than or equal to 256"},
			{"no tags", &awsddb.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{}}, "ValidationException: Atleast one Tag needs to be provided as Input."},
			{"a missing table", &awsddb.TagResourceInput{ResourceArn: aws.String(missing), Tags: []types.Tag{tag("a", "b")}}, "ResourceNotFoundException: Requested resource not found: ResourcArn: " + missing + " not found"},
			{"another account", &awsddb.TagResourceInput{ResourceArn: aws.String("arn:aws:dynamodb:us-east-1:111111111111:table/orders"), Tags: []types.Tag{tag("a", "b")}}, "ResourceNotFoundException: Requested resource not found: ResourcArn: arn:aws:dynamodb:us-east-1:111111111111:table/orders not found"},
			{"not an ARN", &awsddb.TagResourceInput{ResourceArn: aws.String("a:b:c:d:e:f/g"), Tags: []types.Tag{tag("a", "b")}}, "ValidationException: Invalid TableArn: Invalid ResourceArn provided as input a:b:c:d:e:f/g"},
			{"a 2-character table", &awsddb.TagResourceInput{ResourceArn: aws.String(arnPrefix + "ab"), Tags: []types.Tag{tag("a", "b")}}, "ValidationException: Invalid TableArn: Invalid ResourceArn provided as input " + arnPrefix + "ab"},
		} {
			_, err := c.TagResource(ctx, tc.in)
			if got := apiErr(err); got != tc.want {
				t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
			}
		}
		if _, err := c.UntagResource(ctx, &awsddb.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{strings.Repeat("€", 128)}}); err != nil {
			t.Fatal(err)
		}
		if got, want := listTags(t, c, arn), "env=dev team=orders"; got != want {
			t.Errorf("refused TagResources changed the tags: got %q, want %q", got, want)
		}
		_, err = c.ListTagsOfResource(ctx, &awsddb.ListTagsOfResourceInput{ResourceArn: aws.String(missing)})
		if got, want := apiErr(err), "ResourceNotFoundException: Requested resource not found: ResourcArn: "+missing+" not found"; got != want {
			t.Errorf("ListTagsOfResource of a missing table: got %q, want %q", got, want)
		}
		_, err = c.UntagResource(ctx, &awsddb.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{}})
		if got, want := apiErr(err), "ValidationException: Atleast one Tag Key needs to be provided as Input."; got != want {
			t.Errorf("UntagResource without keys: got %q, want %q", got, want)
		}
		_, err = c.CreateTable(ctx, &awsddb.CreateTableInput{
			TableName:            aws.String("badtags"),
			BillingMode:          types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
			Tags:                 []types.Tag{tag("aws:cloudformation:stack", "x")},
		})
		if got, want := code(err), "ValidationException"; got != want {
			t.Errorf("CreateTable with an aws: tag: got %s, want %s", got, want)
		}
		if env.restart != nil {
			env.restart(t)
			if got, want := listTags(t, env.c, arn), "env=dev team=orders"; got != want {
				t.Errorf("after a restart: got %q, want %q", got, want)
			}
		}
	})
}

func describePITR(t *testing.T, c *awsddb.Client, table string) string {
	t.Helper()
	out, err := c.DescribeContinuousBackups(ctx, &awsddb.DescribeContinuousBackupsInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatalf("DescribeContinuousBackups: %v", err)
	}
	return renderBackups(out.ContinuousBackupsDescription)
}

func renderBackups(d *types.ContinuousBackupsDescription) string {
	p := d.PointInTimeRecoveryDescription
	s := fmt.Sprintf("%s PITR=%s", d.ContinuousBackupsStatus, p.PointInTimeRecoveryStatus)
	if p.RecoveryPeriodInDays != nil {
		s += fmt.Sprintf(" days=%d", aws.ToInt32(p.RecoveryPeriodInDays))
	}
	if p.EarliestRestorableDateTime != nil {
		s += " earliest=" + p.EarliestRestorableDateTime.UTC().Format("2006-01-02T15:04:05")
	}
	if p.LatestRestorableDateTime != nil {
		s += " latest=" + p.LatestRestorableDateTime.UTC().Format("2006-01-02T15:04:05")
	}
	return s
}

func TestContinuousBackups(t *testing.T) {
	eachClockedBackend(t, func(t *testing.T, env *clocked) {
		c := env.c
		ttlTable(t, c, "orders")
		if got, want := describePITR(t, c, "orders"), "ENABLED PITR=DISABLED"; got != want {
			t.Errorf("a new table: got %q, want %q", got, want)
		}
		out, err := c.UpdateContinuousBackups(ctx, &awsddb.UpdateContinuousBackupsInput{
			TableName:                        aws.String(arnPrefix + "orders"),
			PointInTimeRecoverySpecification: &types.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: aws.Bool(true)},
		})
		if err != nil {
			t.Fatalf("UpdateContinuousBackups: %v", err)
		}
		enabled := "ENABLED PITR=ENABLED days=35 earliest=2027-01-15T08:00:00 latest=2027-01-15T08:00:00"
		if got := renderBackups(out.ContinuousBackupsDescription); got != enabled {
			t.Errorf("UpdateContinuousBackups answered %q, want %q", got, enabled)
		}
		env.clk.Advance(time.Hour)
		enabled = "ENABLED PITR=ENABLED days=35 earliest=2027-01-15T08:00:00 latest=2027-01-15T09:00:00"
		if got := describePITR(t, c, "orders"); got != enabled {
			t.Errorf("an hour on: got %q, want %q", got, enabled)
		}
		_, err = c.UpdateContinuousBackups(ctx, &awsddb.UpdateContinuousBackupsInput{
			TableName:                        aws.String("orders"),
			PointInTimeRecoverySpecification: &types.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: aws.Bool(true), RecoveryPeriodInDays: aws.Int32(36)},
		})
		if got, want := apiErr(err), "ValidationException: 1 validation error detected: Value '36' at 'pointInTimeRecoverySpecification.recoveryPeriodInDays' failed to satisfy constraint: Member must have value between 1 and 35"; got != want {
			t.Errorf("36 days: got %q, want %q", got, want)
		}
		for _, op := range []func() error{
			func() error {
				_, err := c.DescribeContinuousBackups(ctx, &awsddb.DescribeContinuousBackupsInput{TableName: aws.String("missing")})
				return err
			},
			func() error {
				_, err := c.UpdateContinuousBackups(ctx, &awsddb.UpdateContinuousBackupsInput{TableName: aws.String("missing"),
					PointInTimeRecoverySpecification: &types.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: aws.Bool(true)}})
				return err
			},
		} {
			if got, want := apiErr(op()), "TableNotFoundException: Table not found: missing"; got != want {
				t.Errorf("a missing table: got %q, want %q", got, want)
			}
		}
		if env.restart != nil {
			env.restart(t)
			if got := describePITR(t, env.c, "orders"); got != enabled {
				t.Errorf("after a restart: got %q, want %q", got, enabled)
			}
			c = env.c
		}
		if _, err := c.UpdateContinuousBackups(ctx, &awsddb.UpdateContinuousBackupsInput{TableName: aws.String("orders"),
			PointInTimeRecoverySpecification: &types.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: aws.Bool(false)}}); err != nil {
			t.Fatal(err)
		}
		if got, want := describePITR(t, c, "orders"), "ENABLED PITR=DISABLED"; got != want {
			t.Errorf("disabled: got %q, want %q", got, want)
		}
	})
}

// TestATableARNIsATableName: DynamoDB takes a table's ARN wherever it
// takes its name, and validates the name before looking the table up.
func TestATableARNIsATableName(t *testing.T) {
	eachClockedBackend(t, func(t *testing.T, env *clocked) {
		c := env.c
		ttlTable(t, c, "orders")
		arn := aws.String(arnPrefix + "orders")
		if _, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: arn, Item: av{"pk": s("a"), "v": n("1")}}); err != nil {
			t.Fatalf("PutItem by ARN: %v", err)
		}
		got, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: arn, Key: av{"pk": s("a")}})
		if err != nil {
			t.Fatalf("GetItem by ARN: %v", err)
		}
		if r, want := renderItem(got.Item), `{pk=S:"a" v=N:1}`; r != want {
			t.Errorf("GetItem by ARN: got %s, want %s", r, want)
		}
		q, err := c.Query(ctx, &awsddb.QueryInput{TableName: arn, KeyConditionExpression: aws.String("pk = :a"),
			ExpressionAttributeValues: av{":a": s("a")}})
		if err != nil || q.Count != 1 {
			t.Errorf("Query by ARN: count %v, err %v", q, err)
		}
		d, err := c.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: arn})
		if err != nil || aws.ToString(d.Table.TableName) != "orders" {
			t.Errorf("DescribeTable by ARN: %v", err)
		}
		if _, err := enableTTL(c, *arn, "expires", true); err != nil {
			t.Errorf("UpdateTimeToLive by ARN: %v", err)
		}
		if _, err := c.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: arn, Key: av{"pk": s("a")}}); err != nil {
			t.Errorf("DeleteItem by ARN: %v", err)
		}

		for _, tc := range []struct{ name, want string }{
			{"ab", "ValidationException: 1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 3 and 255"},
			{"no such table", "ValidationException: 1 validation error detected: Value 'no such table' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 3 and 255"},
			{"missing", "ResourceNotFoundException: Requested resource not found"},
			{arnPrefix + "missing", "ResourceNotFoundException: Requested resource not found"},
			{"arn:aws:dynamodb:eu-west-1:000000000000:table/orders", "ResourceNotFoundException: Requested resource not found: Table: arn:aws:dynamodb:eu-west-1:000000000000:table/orders not found"},
			{arnPrefix + "ab", "ValidationException: 1 validation error detected: Value '" + arnPrefix + "ab' at 'tableName' failed to satisfy constraint: Member must be a table name or a table ARN (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME)"},
			{"arn:aws:s3:::bucket", "ValidationException: 1 validation error detected: Value 'arn:aws:s3:::bucket' at 'tableName' failed to satisfy constraint: Member must be a table name or a table ARN (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME)"},
		} {
			_, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String(tc.name), Key: av{"pk": s("a")}})
			if got := apiErr(err); got != tc.want {
				t.Errorf("GetItem on %q:\n got %s\nwant %s", tc.name, got, tc.want)
			}
		}
	})
}
