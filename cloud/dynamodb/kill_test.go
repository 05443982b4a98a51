package dynamodb_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/internal/crashtest"
	"github.com/orderflow/orderflow/internal/poll"
	"github.com/orderflow/orderflow/internal/slowtest"
)

// workerLog is what one writer saw acknowledged.
type workerLog struct {
	acked          map[string]int  // put acknowledged: key → value
	deleteAttempt  map[string]bool // delete sent
	deleteAcked    map[string]bool // delete acknowledged
	counterAcked   int             // ADDs acknowledged
	counterAttempt int             // ADDs sent
}

func TestEveryAcknowledgedWriteSurvivesAKill9(t *testing.T) {
	slowtest.Skip(t, "kill -9 of a child process")
	crashtest.EachSyncMode(t, testEveryAcknowledgedWriteSurvivesAKill9)
}

func testEveryAcknowledgedWriteSurvivesAKill9(t *testing.T, syncEvery time.Duration) {
	p := crashtest.Start(t, crashtest.Options{Serve: serveDynamoDBWith(syncEvery)})
	c := client(p.Endpoint())
	createOrders(t, c, "Orders")
	const workers = 8
	logs := make([]*workerLog, workers)
	var total atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		l := &workerLog{acked: map[string]int{}, deleteAttempt: map[string]bool{}, deleteAcked: map[string]bool{}}
		logs[w] = l
		wg.Go(func() {
			ctx := context.Background()
			for i := 0; ; i++ {
				key := fmt.Sprintf("w%d-%d", w, i)
				_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Orders"), Item: map[string]types.AttributeValue{
					"pk": s(key), "user": s(fmt.Sprint(w)), "v": n(i), "payload": s(strings.Repeat("x", 200)),
				}})
				if err != nil {
					return
				}
				l.acked[key] = i
				total.Add(1)
				if i%4 == 3 {
					old := fmt.Sprintf("w%d-%d", w, i-2)
					l.deleteAttempt[old] = true
					if _, err := c.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: aws.String("Orders"), Key: map[string]types.AttributeValue{"pk": s(old)}}); err != nil {
						return
					}
					l.deleteAcked[old] = true
					total.Add(1)
				}
				l.counterAttempt++
				_, err = c.UpdateItem(ctx, &awsddb.UpdateItemInput{
					TableName: aws.String("Orders"), Key: map[string]types.AttributeValue{"pk": s(fmt.Sprintf("counter-%d", w))},
					UpdateExpression: aws.String("ADD hits :one"), ExpressionAttributeValues: map[string]types.AttributeValue{":one": n(1)},
				})
				if err != nil {
					return
				}
				l.counterAcked++
				total.Add(1)
			}
		})
	}
	poll.Within(20*time.Second, func() bool { return total.Load() >= 1500 })
	if !p.Kill() {
		t.Fatal("the child had exited before it was killed")
	}
	wg.Wait()
	t.Logf("killed the child after %d acknowledged writes", total.Load())

	began := time.Now()
	c = startNode(t, filepath.Join(p.Dir(), "cloud.db")).c
	t.Logf("reopened in %v", time.Since(began))
	checked := 0
	for w, l := range logs {
		for key, v := range l.acked {
			item := get(t, c, "Orders", key)
			switch {
			case l.deleteAcked[key]:
				if item != nil {
					t.Errorf("%s: deleted with acknowledgement, found %v", key, item)
				}
			case item == nil:
				if !l.deleteAttempt[key] {
					t.Errorf("%s: acknowledged put of v=%d is missing", key, v)
				}
			case item["v"].(*types.AttributeValueMemberN).Value != strconv.Itoa(v):
				t.Errorf("%s: v = %v, want %d", key, item["v"], v)
			}
			checked++
		}
		hits := 0
		if item := get(t, c, "Orders", fmt.Sprintf("counter-%d", w)); item != nil {
			hits, _ = strconv.Atoi(item["hits"].(*types.AttributeValueMemberN).Value)
		}
		if hits < l.counterAcked || hits > l.counterAttempt {
			t.Errorf("counter-%d: hits = %d, want between %d acknowledged and %d sent", w, hits, l.counterAcked, l.counterAttempt)
		}
	}
	t.Logf("checked %d acknowledged puts and %d counters", checked, workers)
}
