package engine_test

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/cloud/clock"
	"github.com/orderflow/orderflow/cloud/dynamodb/engine"
	"github.com/orderflow/orderflow/cloud/journal"
)

// ttlStart is the fake clock's start: Unix second 1,800,000,000.
var ttlStart = time.Unix(1_800_000_000, 0)

const sweepEvery = time.Second

// clocked is an engine on a fake clock, with an SDK client for it.
type clocked struct {
	clk *clock.Fake
	e   *engine.Engine
	c   *awsddb.Client
	// restart, on a data file, closes the engine and opens it again on
	// the same file and clock; nil in memory.
	restart func(t *testing.T)
}

// eachClockedBackend runs test on an in-memory engine and on one on a
// data file, both driven by a fake clock.
func eachClockedBackend(t *testing.T, test func(t *testing.T, env *clocked)) {
	t.Run("in memory", func(t *testing.T) {
		clk := clock.NewFake(ttlStart)
		e, err := engine.Open(engine.Options{Clock: clk, TTLSweepInterval: sweepEvery})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		test(t, &clocked{clk: clk, e: e, c: newClient(t, e)})
	})
	t.Run("on a data file", func(t *testing.T) {
		test(t, openClocked(t, filepath.Join(t.TempDir(), "cloud.db"), clock.NewFake(ttlStart)))
	})
}

func openClocked(t *testing.T, path string, clk *clock.Fake) *clocked {
	t.Helper()
	env := &clocked{clk: clk}
	var stop func()
	open := func(t *testing.T) {
		t.Helper()
		db, err := journal.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		e, err := engine.Open(engine.Options{Clock: clk, TTLSweepInterval: sweepEvery, DB: db})
		if err != nil {
			db.Close()
			t.Fatalf("Open: %v", err)
		}
		closed := false
		stop = func() {
			if closed {
				return
			}
			closed = true
			if err := e.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := db.Close(); err != nil {
				t.Errorf("close the file: %v", err)
			}
		}
		env.e, env.c = e, newClient(t, e)
	}
	open(t)
	t.Cleanup(func() { stop() })
	env.restart = func(t *testing.T) {
		t.Helper()
		stop()
		open(t)
	}
	return env
}

// sweep moves the clock by one sweep interval and waits for the sweep
// that this arms to finish.
func (env *clocked) sweep(t *testing.T) {
	t.Helper()
	env.sweepAt(t, env.clk.Now().Add(sweepEvery))
}

// sweepAt moves the clock to at (at least one interval on) and waits for
// the sweep to finish.
func (env *clocked) sweepAt(t *testing.T, at time.Time) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for env.clk.Pending() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the TTL sweeper is not armed")
		}
		time.Sleep(time.Millisecond)
	}
	before := env.e.TTLSweeps()
	env.clk.Set(at)
	for env.e.TTLSweeps() == before {
		if time.Now().After(deadline) {
			t.Fatal("no TTL sweep ran within 5s of the clock passing its time")
		}
		time.Sleep(time.Millisecond)
	}
}

func ttlTable(t *testing.T, c *awsddb.Client, name string) {
	t.Helper()
	_, err := c.CreateTable(ctx, &awsddb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func enableTTL(c *awsddb.Client, table, attr string, on bool) (*awsddb.UpdateTimeToLiveOutput, error) {
	return c.UpdateTimeToLive(ctx, &awsddb.UpdateTimeToLiveInput{
		TableName:               aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(attr), Enabled: aws.Bool(on)},
	})
}

func describeTTL(t *testing.T, c *awsddb.Client, table string) string {
	t.Helper()
	out, err := c.DescribeTimeToLive(ctx, &awsddb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatalf("DescribeTimeToLive: %v", err)
	}
	d := out.TimeToLiveDescription
	return string(d.TimeToLiveStatus) + " " + aws.ToString(d.AttributeName)
}

// apiErr renders err as "Code: message".
func apiErr(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode() + ": " + api.ErrorMessage()
	}
	if err == nil {
		return "no error"
	}
	return "not an API error: " + err.Error()
}

func scanKeys(t *testing.T, c *awsddb.Client, table string) string {
	t.Helper()
	out, err := c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return renderItems(out.Items, true)
}

func secs(t time.Time, d time.Duration) string { return strconv.FormatInt(t.Add(d).Unix(), 10) }

func TestTimeToLive(t *testing.T) {
	eachClockedBackend(t, func(t *testing.T, env *clocked) {
		c := env.c
		ttlTable(t, c, "sessions")

		if got, want := describeTTL(t, c, "sessions"), "DISABLED "; got != want {
			t.Errorf("before UpdateTimeToLive: got %q, want %q", got, want)
		}
		out, err := enableTTL(c, "sessions", "expires", true)
		if err != nil {
			t.Fatalf("UpdateTimeToLive: %v", err)
		}
		if s := out.TimeToLiveSpecification; !aws.ToBool(s.Enabled) || aws.ToString(s.AttributeName) != "expires" {
			t.Errorf("UpdateTimeToLive answered %+v, want enabled on expires", s)
		}
		if got, want := describeTTL(t, c, "sessions"), "ENABLED expires"; got != want {
			t.Errorf("after enabling: got %q, want %q", got, want)
		}
		t.Run("enabling it again is refused", func(t *testing.T) {
			for _, attr := range []string{"expires", "other"} {
				_, err := enableTTL(c, "sessions", attr, true)
				if got, want := apiErr(err), "ValidationException: TimeToLive is already enabled"; got != want {
					t.Errorf("enable on %s: got %q, want %q", attr, got, want)
				}
			}
			if got, want := describeTTL(t, c, "sessions"), "ENABLED expires"; got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})

		now := env.clk.Now()
		items := []av{
			{"pk": s("expired"), "expires": n(secs(now, -10*time.Second))},
			{"pk": s("expired-fraction"), "expires": n(secs(now, -time.Minute) + ".5")},
			{"pk": s("future"), "expires": n(secs(now, time.Hour))},
			{"pk": s("string"), "expires": s(secs(now, -time.Hour))},
			{"pk": s("set"), "expires": &types.AttributeValueMemberNS{Value: []string{secs(now, -time.Hour)}}},
			{"pk": s("millis"), "expires": n(strconv.FormatInt(now.Add(-time.Hour).UnixMilli(), 10))},
			{"pk": s("ancient"), "expires": n(secs(now, -6*365*24*time.Hour))},
			{"pk": s("none")},
		}
		for _, it := range items {
			if err := put(c, "sessions", it); err != nil {
				t.Fatalf("PutItem: %v", err)
			}
		}
		env.sweep(t)
		kept := "[" +
			`{expires=N:` + secs(now, -6*365*24*time.Hour) + ` pk=S:"ancient"}, ` +
			`{expires=N:` + strconv.FormatInt(now.Add(-time.Hour).UnixMilli(), 10) + ` pk=S:"millis"}, ` +
			`{expires=N:` + secs(now, time.Hour) + ` pk=S:"future"}, ` +
			`{expires=NS:` + secs(now, -time.Hour) + ` pk=S:"set"}, ` +
			`{expires=S:"` + secs(now, -time.Hour) + `" pk=S:"string"}, ` +
			`{pk=S:"none"}]`
		if got := scanKeys(t, c, "sessions"); got != kept {
			t.Errorf("after a sweep:\n got %s\nwant %s", got, kept)
		}

		// An item updated to a later expiry moves in the index.
		if err := put(c, "sessions", av{"pk": s("future"), "expires": n(secs(now, 3*time.Hour))}); err != nil {
			t.Fatal(err)
		}
		env.sweepAt(t, now.Add(2*time.Hour))
		got := scanKeys(t, c, "sessions")
		wantFuture := `{expires=N:` + secs(now, 3*time.Hour) + ` pk=S:"future"}`
		if !strings.Contains(got, wantFuture) {
			t.Errorf("an item whose TTL moved 3h on was swept at +2h: %s", got)
		}
		env.sweepAt(t, now.Add(3*time.Hour+time.Second))
		if got := scanKeys(t, c, "sessions"); strings.Contains(got, `pk=S:"future"`) {
			t.Errorf("an item past its TTL was kept: %s", got)
		}

		if env.restart != nil {
			before := scanKeys(t, c, "sessions")
			env.restart(t)
			if got := scanKeys(t, env.c, "sessions"); got != before {
				t.Errorf("the sweep's deletes are not durable:\nbefore %s\n after %s", before, got)
			}
			if got, want := describeTTL(t, env.c, "sessions"), "ENABLED expires"; got != want {
				t.Errorf("after a restart: got %q, want %q", got, want)
			}
		}
	})
}

