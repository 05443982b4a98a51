package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslogs "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/internal/human"
)

func logsCommand(e *env, tf *targetFlags) *cobra.Command {
	var (
		follow bool
		since  time.Duration
		filter string
	)
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Print ProcessOrderFunction's log lines (CloudWatch Logs, locally and on AWS)",
		Long: `logs prints the function's log lines from its log group: Lambda's START, END
and REPORT lines and the function's own JSON line per record. Locally they come
from the embedded cloud's CloudWatch Logs; on AWS from CloudWatch Logs.
--follow starts at the end, as tail -f does, and prints new lines until
interrupted; with --since it prints that far back first.`,
		Example: `  orderflow logs
  orderflow logs --since 10m --filter failed
  orderflow logs --follow
  orderflow logs --since 10m --follow --filter O1234`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since <= 0 {
				return usageError{errors.New("--since must be positive")}
			}
			ctx := cmd.Context()
			t, res, err := resolveAll(ctx, e, tf)
			if err != nil {
				return err
			}
			client := awslogs.NewFromConfig(t.cfg)
			start := time.Now().Add(-since).UnixMilli()
			if follow && !cmd.Flags().Changed("since") {
				start = time.Now().UnixMilli() // the tail, as tail -f
			}
			seen := map[string]int64{}
			for {
				n, last, err := printLogs(ctx, e, client, res.LogGroup, filter, start, seen)
				var noGroup *logstypes.ResourceNotFoundException
				if errors.As(err, &noGroup) {
					// On AWS the group may appear only when the function
					// first runs: until then there is nothing to print.
					if !follow {
						fmt.Fprintf(e.stderr, "No log lines: the log group %s does not exist yet; the function creates it when it first runs.\n", res.LogGroup)
						return nil
					}
					err = nil
				}
				if err != nil {
					if follow && ctx.Err() != nil {
						return nil // interrupted
					}
					return t.explain("read log group "+res.LogGroup, err)
				}
				if !follow {
					if n == 0 && len(seen) == 0 {
						fmt.Fprintf(e.stderr, "No log lines in %s in the last %s.\n", res.LogGroup, human.Duration(since))
					}
					return nil
				}
				if last > 0 {
					start = last // events at the same millisecond are de-duplicated by id
					for id, ts := range seen {
						if ts < start {
							delete(seen, id) // no longer asked for: the map stays small
						}
					}
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(time.Second):
				}
			}
		},
	}
	cmd.Flags().BoolVar(&follow, "follow", false, "keep printing new lines until interrupted")
	cmd.Flags().DurationVar(&since, "since", time.Hour, "print lines from this far back (with --follow, default: from now on)")
	cmd.Flags().StringVar(&filter, "filter", "", "a CloudWatch Logs filter pattern (terms the line must contain)")
	return cmd
}

// printLogs prints the events of group since start (ms) not yet seen, and
// returns how many it printed and the newest event's timestamp.
func printLogs(ctx context.Context, e *env, client *awslogs.Client, group, filter string, start int64, seen map[string]int64) (int, int64, error) {
	in := &awslogs.FilterLogEventsInput{LogGroupName: aws.String(group), StartTime: aws.Int64(start)}
	if filter != "" {
		in.FilterPattern = aws.String(filter)
	}
	printed, last := 0, int64(0)
	p := awslogs.NewFilterLogEventsPaginator(client, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return printed, last, err
		}
		for _, ev := range out.Events {
			id := aws.ToString(ev.EventId)
			if _, ok := seen[id]; ok {
				continue
			}
			seen[id] = aws.ToInt64(ev.Timestamp)
			fmt.Fprintln(e.stdout, strings.TrimRight(aws.ToString(ev.Message), "\n"))
			printed++
			last = max(last, aws.ToInt64(ev.Timestamp))
		}
	}
	return printed, last, nil
}
