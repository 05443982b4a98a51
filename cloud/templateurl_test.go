package cloud_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/cloud/cloudformation"
	"github.com/orderflow/orderflow/cloud/cloudtest"
	"github.com/orderflow/orderflow/internal/poll"
)

const urlTemplate = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: %s\n"

// A stack's template can be named by TemplateURL, in every form S3 URLs
// take, as CloudFormation reads it from S3; here it is read from the
// embedded S3 (never fetched), and GetTemplate gives back what was read.
func TestATemplateURLNamesATemplateInTheEmbeddedS3(t *testing.T) {
	c, cfg := cloudtest.Start(t)
	ctx := context.Background()
	s3c := awss3.NewFromConfig(cfg, func(o *awss3.Options) { o.UsePathStyle = true })
	cfn := awscfn.NewFromConfig(cfg)
	sqsc := awssqs.NewFromConfig(cfg)
	if _, err := s3c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("templates")}); err != nil {
		t.Fatal(err)
	}
	put := func(key, body string) {
		t.Helper()
		if _, err := s3c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("templates"), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	for i, u := range []string{
		"https://templates.s3.amazonaws.com/dir/one%20template.yaml",
		"https://templates.s3.us-east-1.amazonaws.com/dir/one%20template.yaml",
		"https://s3.us-east-1.amazonaws.com/templates/dir/one%20template.yaml",
		"https://s3.amazonaws.com/templates/dir/one%20template.yaml",
		c.URL() + "/templates/dir/one%20template.yaml",
	} {
		name := "q" + string(rune('a'+i))
		body := strings.Replace(urlTemplate, "%s", name, 1)
		put("dir/one template.yaml", body)
		stack := "url" + string(rune('a'+i))
		if _, err := cfn.CreateStack(ctx, &awscfn.CreateStackInput{StackName: aws.String(stack), TemplateURL: aws.String(u)}); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		poll.Until(t, 10*time.Second, "stack "+stack+" created", func() bool {
			out, err := cfn.DescribeStacks(ctx, &awscfn.DescribeStacksInput{StackName: aws.String(stack)})
			return err == nil && out.Stacks[0].StackStatus == cfntypes.StackStatusCreateComplete
		})
		got, err := cfn.GetTemplate(ctx, &awscfn.GetTemplateInput{StackName: aws.String(stack)})
		if err != nil || aws.ToString(got.TemplateBody) != body {
			t.Errorf("%s: GetTemplate = %q, %v; want %q", u, aws.ToString(got.TemplateBody), err, body)
		}
		if _, err := sqsc.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String(name)}); err != nil {
			t.Errorf("%s: queue %s was not created: %v", u, name, err)
		}
	}

	put("huge.yaml", strings.Replace(urlTemplate, "%s", "qh", 1)+"#"+strings.Repeat("x", cloudformation.MaxTemplateURLBytes))
	for _, tc := range []struct{ url, want string }{
		{"https://templates.s3.amazonaws.com/missing.yaml", "ValidationError: S3 error: The specified key does not exist (s3://templates/missing.yaml)"},
		{"https://nowhere.s3.amazonaws.com/t.yaml", "ValidationError: S3 error: The specified bucket does not exist (bucket nowhere)"},
		{"https://s3.amazonaws.com/templates", "ValidationError: TemplateURL must be a supported URL."},
		{"file:///etc/passwd", "ValidationError: TemplateURL must be a supported URL."},
		{"https://user:pw@s3.amazonaws.com/templates/t.yaml", "ValidationError: TemplateURL must be a supported URL."},
		{"https://s3.amazonaws.com/templates/" + strings.Repeat("k", 1024), "ValidationError: 1 validation error detected: Value at 'templateURL' failed to satisfy constraint: Member must have length less than or equal to 1024"},
		{"https://templates.s3.amazonaws.com/huge.yaml", "ValidationError: Template file referenced by https://templates.s3.amazonaws.com/huge.yaml exceeds the maximum size of 1048576 bytes"},
	} {
		_, err := cfn.ValidateTemplate(ctx, &awscfn.ValidateTemplateInput{TemplateURL: aws.String(tc.url)})
		var api smithy.APIError
		if got := ""; err != nil {
			if errors.As(err, &api) {
				got = api.ErrorCode() + ": " + api.ErrorMessage()
			}
			if got != tc.want {
				t.Errorf("%.80s: %s, want %s", tc.url, got, tc.want)
			}
		} else {
			t.Errorf("%.80s: accepted, want %s", tc.url, tc.want)
		}
	}
}
