package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
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
}

func startUp(t *testing.T, args ...string) *upProcess {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "orderflow")
	if err := os.Symlink(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"up", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &upProcess{cmd: cmd, done: make(chan error, 1)}
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
