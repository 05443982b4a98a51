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
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
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
func startUpWithin(t *testing.T, fileKB int, args ...string) *upProcess {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "orderflow")
	if err := os.Symlink(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	argv := append([]string{bin, "up", "--addr", "127.0.0.1:0"}, args...)
	if fileKB > 0 {
		argv = append([]string{"bash", "-c", fmt.Sprintf(`ulimit -f %d && exec "$0" "$@"`, fileKB)}, argv...)
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
		re := regexp.MustCompile(`embedded cloud at (http://127\.0\.0\.1:\d+)`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
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
		t.Fatalf("up exited before serving: %v", err)
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
	if testing.Short() {
		t.Skip("runs orderflow up as a process")
	}
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

// TestUpStopsAndSaysSoWhenTheDataFileCanNoLongerBeWritten runs up with its
// files limited in size, so that its data file fills as on a full disk,
// while a client writes: up stops with one sentence saying what happened
// and what to do, and a restart without the limit finds every write that
// was acknowledged.
func TestUpStopsAndSaysSoWhenTheDataFileCanNoLongerBeWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("runs orderflow up as a process")
	}
	ctx := context.Background()
	dir := t.TempDir()
	up := startUpWithin(t, 6000, "--data-dir", dir)
	c := up.dynamodb()
	c = awsddb.New(c.Options(), func(o *awsddb.Options) { o.RetryMaxAttempts = 1 })
	if _, err := c.CreateTable(ctx, &awsddb.CreateTableInput{TableName: aws.String("Fill"), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}}}); err != nil {
		t.Fatal(err)
	}
	var acked []string
	blob := &types.AttributeValueMemberS{Value: strings.Repeat("x", 8<<10)}
	for i := 0; i < 20_000; i++ {
		pk := fmt.Sprint("item-", i)
		_, err := c.PutItem(ctx, &awsddb.PutItemInput{TableName: aws.String("Fill"), Item: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "blob": blob}})
		if err != nil {
			t.Logf("PutItem %d: %v", i, err)
			break
		}
		acked = append(acked, pk)
	}
	select {
	case err := <-up.done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("up ended with %v, want exit status 1", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("up still runs 30 s after its data file could no longer be written")
	}
	if msg := up.stderr.String(); !strings.Contains(msg, "can no longer be written") || !strings.Contains(msg, "start again with the same --data-dir") {
		t.Errorf("up's last words do not say what happened and what to do:\n%s", msg)
	}
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged: the limit is too small for the test to test anything")
	}

	up = startUp(t, "--data-dir", dir)
	c = up.dynamodb()
	for _, pk := range acked {
		out, err := c.GetItem(ctx, &awsddb.GetItemInput{TableName: aws.String("Fill"), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}})
		if err != nil {
			t.Fatalf("GetItem %s after the restart: %v", pk, err)
		}
		if out.Item == nil {
			t.Errorf("%s was acknowledged and is missing after the restart", pk)
		}
	}
	t.Logf("%d writes acknowledged before the data file filled; all there after a restart", len(acked))
	up.stop(t, syscall.SIGINT)
}
