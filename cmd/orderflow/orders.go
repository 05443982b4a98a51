package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow"
	"github.com/orderflow/orderflow/dynamodb"
)

func ordersCommand(e *env, tf *targetFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "orders",
		Short:   "Look up stored orders in the Orders table",
		Example: "  orderflow orders get O1234\n  orderflow orders list --user U123",
	}
	var getJSON bool
	get := &cobra.Command{
		Use:     "get ORDER-ID",
		Short:   "Show one stored order",
		Example: "  orderflow orders get O1234\n  orderflow orders get O1234 --json",
		Args:    exactArgs(1, "give one order id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, res, err := resolveAll(cmd.Context(), e, tf)
			if err != nil {
				return err
			}
			o, err := dynamodb.New(awsddb.NewFromConfig(t.cfg), res.Table).GetOrder(cmd.Context(), args[0])
			if errors.Is(err, dynamodb.ErrNotFound) {
				return fmt.Errorf("order %s is not in %s; if it was just published it may still be on its way or dead-lettered: see `orderflow status` and `orderflow dlq list`", args[0], res.Table)
			}
			if err != nil {
				return t.explain("read order "+args[0], errors.Unwrap(err))
			}
			if getJSON {
				return writeJSON(e.stdout, o)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			for _, row := range [][2]string{
				{"orderId", o.OrderID}, {"userId", o.UserID}, {"itemName", o.ItemName},
				{"quantity", strconv.Itoa(o.Quantity)}, {"status", string(o.Status)}, {"timestamp", o.TimestampString()},
			} {
				fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
			}
			return tw.Flush()
		},
	}
	get.Flags().BoolVar(&getJSON, "json", false, "print the order as JSON")

	var (
		user     string
		limit    int
		listJSON bool
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List stored orders, or a user's orders newest first",
		Example: `  orderflow orders list --limit 50
  orderflow orders list --user U123
  orderflow orders list --user U123 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 {
				return usageError{errors.New("--limit must be at least 1")}
			}
			t, res, err := resolveAll(cmd.Context(), e, tf)
			if err != nil {
				return err
			}
			orders, more, err := listOrders(cmd.Context(), awsddb.NewFromConfig(t.cfg), res.Table, user, limit)
			if err != nil {
				return t.explain("list orders", err)
			}
			if listJSON {
				if orders == nil {
					orders = []orderflow.Order{}
				}
				return writeJSON(e.stdout, orders)
			}
			if len(orders) == 0 {
				if user != "" {
					fmt.Fprintf(e.stdout, "%s holds no orders of user %s.\n", res.Table, user)
				} else {
					fmt.Fprintf(e.stdout, "%s holds no orders.\n", res.Table)
				}
				return nil
			}
			if err := writeOrderTable(e.stdout, orders); err != nil {
				return err
			}
			if more {
				fmt.Fprintf(e.stdout, "These are the first %d; %s holds more: --limit %d lists more.\n", len(orders), res.Table, 2*limit)
			}
			return nil
		},
	}
	list.Flags().StringVar(&user, "user", "", "only this user's orders, newest first (through the UserOrders index)")
	list.Flags().IntVar(&limit, "limit", 20, "list at most this many orders")
	list.Flags().BoolVar(&listJSON, "json", false, "print the orders as JSON")
	cmd.AddCommand(get, list)
	return cmd
}

// listOrders reads up to limit orders: a user's through the UserOrders index
// (newest first), or any through a scan. more reports whether the table
// holds more than it read.
func listOrders(ctx context.Context, client *awsddb.Client, table, user string, limit int) (orders []orderflow.Order, more bool, err error) {
	var start map[string]ddbtypes.AttributeValue
	// One more than limit is read, to know whether there are more.
	for len(orders) <= limit {
		var (
			items []map[string]ddbtypes.AttributeValue
			last  map[string]ddbtypes.AttributeValue
		)
		page := int32(min(limit+1-len(orders), 100))
		if user != "" {
			out, err := client.Query(ctx, &awsddb.QueryInput{
				TableName:                 aws.String(table),
				IndexName:                 aws.String(dynamodb.UserIndex),
				KeyConditionExpression:    aws.String("#u = :u"),
				ExpressionAttributeNames:  map[string]string{"#u": dynamodb.AttrUserID},
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":u": &ddbtypes.AttributeValueMemberS{Value: user}},
				ScanIndexForward:          aws.Bool(false),
				Limit:                     aws.Int32(page),
				ExclusiveStartKey:         start,
			})
			if err != nil {
				return nil, false, err
			}
			items, last = out.Items, out.LastEvaluatedKey
		} else {
			out, err := client.Scan(ctx, &awsddb.ScanInput{TableName: aws.String(table), Limit: aws.Int32(page), ExclusiveStartKey: start})
			if err != nil {
				return nil, false, err
			}
			items, last = out.Items, out.LastEvaluatedKey
		}
		for _, it := range items {
			o, err := dynamodb.OrderFromItem(it)
			if err != nil {
				return nil, false, fmt.Errorf("an item in %s is not an order: %w", table, err)
			}
			orders = append(orders, o)
		}
		if len(last) == 0 {
			break
		}
		start = last
	}
	if len(orders) > limit {
		return orders[:limit], true, nil
	}
	return orders, false, nil
}

func writeOrderTable(w io.Writer, orders []orderflow.Order) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ORDER ID\tUSER\tITEM\tQTY\tSTATUS\tTIMESTAMP")
	for _, o := range orders {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", o.OrderID, o.UserID, o.ItemName, o.Quantity, o.Status, o.TimestampString())
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// resolveAll resolves the target and reads the stack's resources.
func resolveAll(ctx context.Context, e *env, tf *targetFlags) (*target, resources, error) {
	t, err := tf.resolve(ctx, e)
	if err != nil {
		return nil, resources{}, err
	}
	res, err := t.resources(ctx)
	return t, res, err
}

// exactArgs is cobra.ExactArgs with a usage error that says what to give.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{errors.New(what)}
		}
		return nil
	}
}
