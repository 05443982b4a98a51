package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/internal/poll"
	"github.com/orderflow/orderflow/internal/slowtest"
	"github.com/orderflow/orderflow/internal/tmpfs"
)

// upProcess is `orderflow up` running as its own process: the test binary
// under the name orderflow (TestMain runs it as the CLI).
type upProcess struct {
	cmd      *exec.Cmd
	endpoint string
	done     chan error
	stderr   logBuffer
}

func startUp(t *testing.T, args ...string) *upProcess {
	t.Helper()
	return startUpWithin(t, 0, args...)
}

// startUpWithin starts up with its files limited to fileKB kilobytes
// (ulimit -f; 0 for no limit): a write past it fails as on a full disk.
// The soft limit only, so that a test can raise it again.
func startUpWithin(t *testing.T, fileKB int, args ...string) *upProcess {
	t.Helper()
	ulimit := ""
	if fileKB > 0 {
		ulimit = fmt.Sprintf("-S -f %d", fileKB)
	}
	return startUpUlimit(t, ulimit, args...)
}

// startUpUlimit starts up under a shell's ulimit (e.g. "-n 256"; "" for
// none) and waits for it to print its endpoint.
func startUpUlimit(t *testing.T, ulimit string, args ...string) *upProcess {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "orderflow")
	if err := os.Symlink(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	argv := append([]string{bin, "up", "--addr", "127.0.0.1:0"}, args...)
	if ulimit != "" {
		argv = append([]string{"bash", "-c", `ulimit ` + ulimit + ` && exec "$0" "$@"`}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	p := &upProcess{cmd: cmd, done: make(chan error, 1)}
	cmd.Stderr = io.MultiWriter(os.Stderr, &p.stderr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := endpointLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		io.Copy(io.Discard, stdout)
		p.done <- cmd.Wait()
	}()
	select {
	case p.endpoint = <-found:
	case err := <-p.done:
		t.Fatalf("up exited before serving: %v\n%s", err, p.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("up did not print its endpoint in 60 s")
	}
	return p
}

// stop ends the process with sig and waits for it.
func (p *upProcess) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if sig != syscall.SIGKILL && err != nil {
			t.Fatalf("up after %v: %v", sig, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("up did not exit after %v", sig)
	}
}

func (p *upProcess) dynamodb() *awsddb.Client {
	return awsddb.New(awsddb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(p.endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

// TestTablesOfEveryKeyShapeSurviveKill9AndRestartsOfUp is a client's own
// tables next to the pipeline's, through the SDK against `orderflow up
// --data-dir`: composite keys whose parts hold ".", numbers written in
// equivalent forms, binary keys, and deletes, across kill -9 and clean
// restarts.
func TestTablesOfEveryKeyShapeSurviveKill9AndRestartsOfUp(t *testing.T) {
	slowtest.Skip(t, "kill -9 of orderflow up, a child process, and restarts")
	ctx := context.Background()
	dir := t.TempDir()
	up := startUp(t, "--data-dir", dir)
	c := up.dynamodb()
	create := func(name string, keys ...string) {
		t.Helper()
		in := &awsddb.CreateTableInput{TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest}
		for i := 0; i < len(keys); i += 2 {
			kt := types.KeyTypeHash
			if i > 0 {
				kt = types.KeyTypeRange
			}
			in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(keys[i]), AttributeType: types.ScalarAttributeType(keys[i+1])})
			in.KeySchema = append(in.KeySchema, types.KeySchemaElement{AttributeName: aws.String(keys[i]), KeyType: kt})
		}
		if _, err := c.CreateTable(ctx, in); err != nil {
			t.Fatalf("CreateTable %s: %v", name, err)
		}
	}
	type av = map[string]types.AttributeValue
	S := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	N := func(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
	B := func(v ...byte) types.AttributeValue { return &types.AttributeValueMemberB{Value: v} }
	put := func(table string, item av) {
		t.Helper()
		if _, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatalf("PutItem %s %v: %v", table, item, err)
		}
	}
	del := func(table string, key av) {
		t.Helper()
		if _, err := c.DeleteItem(ctx, &awsddb.DeleteItemInput{TableName: aws.String(table), Key: key}); err != nil {
			t.Fatalf("DeleteItem %s %v: %v", table, key, err)
		}
	}
	create("Composite", "pk", "S", "sk", "S")
	create("Numbers", "id", "N")
	create("Binary", "k", "B")

	put("Composite", av{"pk": S("a.b"), "sk": S("c"), "v": S("first")})
	put("Composite", av{"pk": S("a"), "sk": S("b.c"), "v": S("second")})
	put("Composite", av{"pk": S("a"), "sk": S("b"), "v": S("deleted")})
	put("Numbers", av{"id": N("1.0"), "v": S("old")})
	put("Numbers", av{"id": N("1"), "v": S("new")})
	put("Numbers", av{"id": N("2"), "v": S("deleted")})
	put("Binary", av{"k": B(0), "v": S("zero")})
	put("Binary", av{"k": B(0, 0), "v": S("zero zero")})
	put("Binary", av{"k": B(0xFF), "v": S("deleted")})
	del("Composite", av{"pk": S("a"), "sk": S("b")})
	del("Numbers", av{"id": N("20e-1")})
	del("Binary", av{"k": B(0xFF)})

	want := map[string]map[string]string{ // table → key as the test names it → v
		"Composite": {"a.b|c": "first", "a|b.c": "second"},
		"Numbers":   {"1": "new"},
		"Binary":    {"00": "zero", "0000": "zero zero"},
	}
	check := func(when string) {
		t.Helper()
		for table, items := range want {
			got := map[string]string{}
			out, err := c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String(table)})
			if err != nil {
				t.Fatalf("%s: Scan %s: %v", when, table, err)
			}
			for _, it := range out.Items {
				var k string
				switch table {
				case "Composite":
					k = it["pk"].(*types.AttributeValueMemberS).Value + "|" + it["sk"].(*types.AttributeValueMemberS).Value
				case "Numbers": // by value: 1, 1.0 and 10e-1 are one key
					f, err := strconv.ParseFloat(it["id"].(*types.AttributeValueMemberN).Value, 64)
					if err != nil {
						t.Fatal(err)
					}
					k = strconv.FormatFloat(f, 'g', -1, 64)
				case "Binary":
					k = fmt.Sprintf("%x", it["k"].(*types.AttributeValueMemberB).Value)
				}
				got[k] = it["v"].(*types.AttributeValueMemberS).Value
			}
			if !reflect.DeepEqual(got, items) {
				t.Errorf("%s: %s holds %v, want %v", when, table, got, items)
			}
		}
	}
	check("before any restart")

	up.stop(t, syscall.SIGKILL)
	up = startUp(t, "--data-dir", dir)
	c = up.dynamodb()
	check("after kill -9")

	put("Numbers", av{"id": N("10e-1"), "v": S("newest")})
	put("Composite", av{"pk": S("a.b.c"), "sk": S("d"), "v": S("third")})
	want["Numbers"]["1"] = "newest"
	want["Composite"]["a.b.c|d"] = "third"
	up.stop(t, syscall.SIGINT)
	up = startUp(t, "--data-dir", dir)
	c = up.dynamodb()
	check("after a clean restart")

	del("Composite", av{"pk": S("a.b"), "sk": S("c")})
	delete(want["Composite"], "a.b|c")
	up.stop(t, syscall.SIGKILL)
	up = startUp(t, "--data-dir", dir)
	c = up.dynamodb()
	check("after a second kill -9")
	up.stop(t, syscall.SIGINT)
}

// TestUpRefusesWhileItsDiskIsFullAndCarriesOnWhenSpaceReturns fills the
// data directory's disk under a running up while a client writes: up
// keeps running, says so on stderr, answers 503 ServiceUnavailable to
// writes and reads alike (acknowledging nothing it has not saved), and
// once space is freed answers again by itself, without a restart. After a
// kill -9 and a restart every acknowledged write is there. The disk is a
// small tmpfs filled with a ballast file (root, as in CI); the same run
// with a file size limit (ulimit -S -f, raised again with prlimit) needs
// no privilege.
func TestUpRefusesWhileItsDiskIsFullAndCarriesOnWhenSpaceReturns(t *testing.T) {
	slowtest.Skip(t, "fills a real disk under orderflow up, a child process")
	t.Run("a full disk", func(t *testing.T) {
		dir := mountTmpfs(t, 64<<20)
		up := startUp(t, "--data-dir", dir)
		ballast := filepath.Join(dir, "ballast")
		fillAndFree(t, up, dir, func() {
			var st syscall.Statfs_t
			if err := syscall.Statfs(dir, &st); err != nil {
				t.Fatal(err)
			}
			// Leave 6 MiB: the log has up to 6 MiB of zeros ahead.
			if err := os.WriteFile(ballast, make([]byte, int64(st.Bavail)*st.Bsize-6<<20), 0o600); err != nil {
				t.Fatal(err)
			}
		}, func() {
			if err := os.Remove(ballast); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("a file size limit", func(t *testing.T) {
		dir := t.TempDir()
		up := startUpWithin(t, 12000, "--data-dir", dir)
		fillAndFree(t, up, dir, func() {}, func() {
			// Raise the soft limit to the hard one (prlimit needs no
			// privilege for one's own processes).
			pid := up.cmd.Process.Pid
			lim := syscall.Rlimit{Cur: ^uint64(0), Max: ^uint64(0)}
			if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_FSIZE, uintptr(unsafe.Pointer(&lim)), 0, 0, 0); errno != 0 {
				t.Fatalf("prlimit %d: %v", pid, errno)
			}
		})
	})
}

// fillAndFree runs the test of a full disk on up, whose data directory is
// dir: fill makes the disk (nearly) full, free frees it.
func fillAndFree(t *testing.T, up *upProcess, dir string, fill, free func()) {
	ctx := context.Background()
	c := awsddb.New(up.dynamodb().Options(), func(o *awsddb.Options) { o.RetryMaxAttempts = 1 })
	if _, err := c.CreateTable(ctx, &awsddb.CreateTableInput{TableName: aws.String("Fill"), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}}}); err != nil {
		t.Fatal(err)
	}
	fill()
	blob := &types.AttributeValueMemberS{Value: strings.Repeat("x", 8<<10)}
	n := 0
	putNext := func() error {
		pk := fmt.Sprint("item-", n)
		n++
		_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Fill"), Item: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "blob": blob}})
		return err
	}
	var acked []string
	var refused error
	for range 20_000 {
		if refused = putNext(); refused != nil {
			break
		}
		acked = append(acked, fmt.Sprint("item-", n-1))
	}
	if refused == nil {
		t.Fatal("20,000 writes of 8 KiB were acknowledged: the disk never filled")
	}
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged: the room left is too small for the test to test anything")
	}
	assertUnavailable := func(what string, err error) {
		t.Helper()
		var re *awshttp.ResponseError
		var api smithy.APIError
		if !errors.As(err, &re) || re.HTTPStatusCode() != 503 || !errors.As(err, &api) || api.ErrorCode() != "ServiceUnavailable" {
			t.Fatalf("%s while the disk is full: %v; want 503 ServiceUnavailable", what, err)
		}
	}
	assertUnavailable("PutItem", refused)
	// up runs on, refusing reads and writes of every service alike.
	for range 3 {
		assertUnavailable("PutItem", putNext())
	}
	_, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Fill"), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: acked[0]}}})
	assertUnavailable("GetItem", err)
	q := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(up.endpoint), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	_, err = q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(up.endpoint + "/000000000000/OrderQueue"), MessageBody: aws.String("while full")})
	assertUnavailable("SQS SendMessage", err)
	select {
	case err := <-up.done:
		t.Fatalf("up stopped on a full disk: %v\n%s", err, up.stderr.String())
	default:
	}
	poll.Until(t, 10*time.Second, "up says on stderr that its data directory cannot be written", func() bool {
		return strings.Contains(up.stderr.String(), "cannot be written at the moment") && strings.Contains(up.stderr.String(), "no restart needed")
	})

	free()
	start := time.Now()
	poll.Until(t, 10*time.Second, "a write is acknowledged once space is freed", func() bool {
		err := putNext()
		if err == nil {
			acked = append(acked, fmt.Sprint("item-", n-1))
		}
		return err == nil
	})
	t.Logf("%d writes acknowledged before the disk filled; answered again %v after space was freed", len(acked)-1, time.Since(start).Round(time.Millisecond))
	for range 50 {
		if err := putNext(); err != nil {
			t.Fatalf("PutItem after space was freed: %v", err)
		}
		acked = append(acked, fmt.Sprint("item-", n-1))
	}
	if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(up.endpoint + "/000000000000/OrderQueue"), MessageBody: aws.String("{}")}); err != nil {
		t.Fatalf("SQS SendMessage after space was freed: %v", err)
	}
	poll.Until(t, 10*time.Second, "up says on stderr that the data directory is written again", func() bool {
		return strings.Contains(up.stderr.String(), "is written again")
	})

	up.stop(t, syscall.SIGKILL)
	up = startUp(t, "--data-dir", dir)
	c = up.dynamodb()
	for _, pk := range acked {
		out, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Fill"), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}})
		if err != nil {
			t.Fatalf("GetItem %s after kill -9 and a restart: %v", pk, err)
		}
		if out.Item == nil {
			t.Fatalf("%s was acknowledged and is missing after kill -9 and a restart", pk)
		}
	}
	up.stop(t, syscall.SIGINT)
}

// mountTmpfs mounts a tmpfs of size bytes for the test (package tmpfs).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	return tmpfs.Mount(t, size, "the file size limit subtest covers a full disk unprivileged")
}
