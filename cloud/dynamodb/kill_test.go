package dynamodb_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/orderflow/orderflow/cloud/dynamodb"
	"github.com/orderflow/orderflow/cloud/journal"
)

// childEnv names the bbolt file a re-executed test binary serves DynamoDB
// from, until it is killed.
const childEnv = "ORDERFLOW_DYNAMODB_KILL_CHILD"

// serveUntilKilled is the child's side: it serves the file on a loopback
// port, prints the port, and waits to be killed (a minute at most, should
// the parent die first).
func serveUntilKilled(path string) {
	db, err := journal.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	svc, err := dynamodb.Open(dynamodb.Options{DB: db})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	go http.Serve(ln, svc)
	fmt.Printf("listening %s\n", ln.Addr())
	time.Sleep(time.Minute)
	os.Exit(3)
}

// workerLog is what one writer saw acknowledged.
type workerLog struct {
	acked          map[string]int  // put acknowledged: key → value
	deleteAttempt  map[string]bool // delete sent
	deleteAcked    map[string]bool // delete acknowledged
	counterAcked   int             // ADDs acknowledged
	counterAttempt int             // ADDs sent
}

func TestEveryAcknowledgedWriteSurvivesAKill9(t *testing.T) {
	if path := os.Getenv(childEnv); path != "" {
		serveUntilKilled(path)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "cloud.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestEveryAcknowledgedWriteSurvivesAKill9$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				addr <- a
			}
		}
	}()
	var url string
	select {
	case a := <-addr:
		url = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("the child did not start serving")
	}

	c := client(url)
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
	deadline := time.Now().Add(20 * time.Second)
	for total.Load() < 1500 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	wg.Wait()
	t.Logf("killed the child after %d acknowledged writes", total.Load())

	began := time.Now()
	c = startNode(t, path).c
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
