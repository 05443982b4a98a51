package cloud_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cloud"
	"github.com/orderflow/orderflow/cloud/journal"
)

// sendWhileSyncsHeld starts a cloud on a new data directory with opts,
// holds every fdatasync of its log, and reports whether a SendMessage was
// answered (and its error) within wait meanwhile.
func sendWhileSyncsHeld(t *testing.T, opts cloud.Options, wait time.Duration) (answered bool, err error) {
	t.Helper()
	dir := t.TempDir()
	opts.Addr, opts.DataDir = "127.0.0.1:0", dir
	c, err := cloud.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer closeCloud(t, c)
	ctx := context.Background()
	client := awssqs.NewFromConfig(c.Config(), func(o *awssqs.Options) { o.RetryMaxAttempts = 1 })
	q, err := client.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("held")})
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	defer journal.InjectFault(func(op, path string) error {
		if op == "sync" && strings.HasPrefix(path, filepath.Join(dir, "cloud.db.wal.")) {
			<-gate
		}
		return nil
	})()
	defer release()
	done := make(chan error, 1)
	go func() {
		_, err := client.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("m")})
		done <- err
	}()
	select {
	case err := <-done:
		return true, err
	case <-time.After(wait):
		release()
		return false, <-done
	}
}

func TestSyncEveryAnswersWithoutWaitingForTheLogsSync(t *testing.T) {
	t.Run("with SyncEvery a send is answered while the log's syncs are held", func(t *testing.T) {
		answered, err := sendWhileSyncsHeld(t, cloud.Options{SyncEvery: 200 * time.Millisecond}, 5*time.Second)
		if !answered || err != nil {
			t.Errorf("answered %v, err %v; want an answer with no error", answered, err)
		}
	})
	t.Run("by default a send waits for the log's sync", func(t *testing.T) {
		answered, err := sendWhileSyncsHeld(t, cloud.Options{}, 500*time.Millisecond)
		if answered || err != nil {
			t.Errorf("answered %v (err %v) while the log's syncs were held; want an answer only once released", answered, err)
		}
	})
	t.Run("SyncEvery without a data directory is refused", func(t *testing.T) {
		c, err := cloud.Start(cloud.Options{Addr: "127.0.0.1:0", SyncEvery: time.Second})
		if err == nil {
			closeCloud(t, c)
			t.Fatal("started in memory with SyncEvery")
		}
		if want := "cloud: SyncEvery goes with DataDir: in memory there is no log to sync"; err.Error() != want {
			t.Errorf("got %q, want %q", err, want)
		}
	})
}
