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

func TestTimeToLiveDisabledSweepsNothing(t *testing.T) {
	eachClockedBackend(t, func(t *testing.T, env *clocked) {
		c := env.c
		ttlTable(t, c, "never")
		ttlTable(t, c, "was")
		if _, err := enableTTL(c, "was", "expires", true); err != nil {
			t.Fatal(err)
		}
		_, err := enableTTL(c, "was", "other", false)
		if got, want := apiErr(err), "ValidationException: TimeToLive is active on a different AttributeName: current AttributeName is expires"; got != want {
			t.Errorf("disable on another attribute: got %q, want %q", got, want)
		}
		if _, err := enableTTL(c, "was", "expires", false); err != nil {
			t.Fatalf("disable: %v", err)
		}
		_, err = enableTTL(c, "was", "expires", false)
		if got, want := apiErr(err), "ValidationException: TimeToLive is already disabled"; got != want {
			t.Errorf("disable twice: got %q, want %q", got, want)
		}
		if got, want := describeTTL(t, c, "was"), "DISABLED "; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
		old := secs(env.clk.Now(), -time.Minute)
		for _, table := range []string{"never", "was"} {
			if err := put(c, table, av{"pk": s("a"), "expires": n(old)}); err != nil {
				t.Fatal(err)
			}
		}
		env.sweep(t) // the timer armed while TTL was on
		for _, table := range []string{"never", "was"} {
			if got, want := scanKeys(t, c, table), `[{expires=N:`+old+` pk=S:"a"}]`; got != want {
				t.Errorf("%s: got %s, want %s", table, got, want)
			}
		}
		if p := env.clk.Pending(); p != 0 {
			t.Errorf("with no table on TTL the sweeper stays armed (%d timers)", p)
		}
	})
}

func TestTimeToLiveSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.db")
	clk := clock.NewFake(ttlStart)
	env := openClocked(t, path, clk)
	ttlTable(t, env.c, "sessions")
	if _, err := enableTTL(env.c, "sessions", "expires", true); err != nil {
		t.Fatal(err)
	}
	soon := secs(clk.Now(), 30*time.Second)
	if err := put(env.c, "sessions", av{"pk": s("a"), "expires": n(soon)}); err != nil {
		t.Fatal(err)
	}
	env.restart(t)
	if got, want := describeTTL(t, env.c, "sessions"), "ENABLED expires"; got != want {
		t.Errorf("after a restart: got %q, want %q", got, want)
	}
	env.sweepAt(t, clk.Now().Add(time.Minute))
	if got := scanKeys(t, env.c, "sessions"); got != "[]" {
		t.Errorf("an item that expired after a restart was kept: %s", got)
	}
	env.restart(t)
	if got := scanKeys(t, env.c, "sessions"); got != "[]" {
		t.Errorf("the swept item came back after a restart: %s", got)
	}
}

func TestTimeToLiveSweepLooksOnlyAtExpiredItems(t *testing.T) {
	clk := clock.NewFake(ttlStart)
	e, err := engine.Open(engine.Options{Clock: clk, TTLSweepInterval: sweepEvery})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	env := &clocked{clk: clk, e: e, c: newClient(t, e)}
	ttlTable(t, env.c, "plain")
	ttlTable(t, env.c, "expiring")
	if _, err := enableTTL(env.c, "expiring", "expires", true); err != nil {
		t.Fatal(err)
	}
	past, future := secs(clk.Now(), -time.Minute), secs(clk.Now(), time.Hour)
	const items = 2000
	for i := range items {
		k := strconv.Itoa(i)
		if err := put(env.c, "plain", av{"pk": s(k), "expires": n(past)}); err != nil {
			t.Fatal(err)
		}
		exp := future
		if i%500 == 0 {
			exp = past
		}
		if err := put(env.c, "expiring", av{"pk": s(k), "expires": n(exp)}); err != nil {
			t.Fatal(err)
		}
	}
	env.sweep(t)
	if got, want := e.TTLVisited(), uint64(items/500); got != want {
		t.Errorf("the sweep looked at %d items, want %d (the expired ones only)", got, want)
	}
	out, err := env.c.Scan(ctx, &awsddb.ScanInput{TableName: aws.String("expiring"), Select: types.SelectCount})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out.Count, int32(items-items/500); got != want {
		t.Errorf("expiring holds %d items, want %d", got, want)
	}
	env.sweep(t)
	if got, want := e.TTLVisited(), uint64(items/500); got != want {
		t.Errorf("a second sweep with nothing due looked at %d items in all, want %d", got, want)
	}
}

// TestTimeToLiveValidation sends what the SDK would refuse to send.
func TestTimeToLiveValidation(t *testing.T) {
	e := engine.New()
	if _, err := e.Do("CreateTable", []byte(`{"TableName":"tbl","BillingMode":"PAY_PER_REQUEST","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}]}`)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ op, body, want string }{
		{"UpdateTimeToLive", `{"TableName":"tbl"}`, "ValidationException: 1 validation error detected: Value null at 'timeToLiveSpecification' failed to satisfy constraint: Member must not be null"},
		{"UpdateTimeToLive", `{"TableName":"tbl","TimeToLiveSpecification":{"AttributeName":"x"}}`, "ValidationException: 1 validation error detected: Value null at 'timeToLiveSpecification.enabled' failed to satisfy constraint: Member must not be null"},
		{"UpdateTimeToLive", `{"TableName":"tbl","TimeToLiveSpecification":{"Enabled":true}}`, "ValidationException: 1 validation error detected: Value null at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must not be null"},
		{"UpdateTimeToLive", `{"TableName":"tbl","TimeToLiveSpecification":{"Enabled":true,"AttributeName":""}}`, "ValidationException: 1 validation error detected: Value '' at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"UpdateTimeToLive", `{"TableName":"no-such-table","TimeToLiveSpecification":{"Enabled":true}}`, "ValidationException: 1 validation error detected: Value null at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must not be null"},
		{"UpdateTimeToLive", `{"TableName":"no-such-table","TimeToLiveSpecification":{"Enabled":true,"AttributeName":"x"}}`, "ResourceNotFoundException: Requested resource not found"},
		{"UpdateTimeToLive", `{"TableName":"ab","TimeToLiveSpecification":{"Enabled":true,"AttributeName":"x"}}`, "ValidationException: 1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 3 and 255"},
		{"UpdateTimeToLive", `{"TableName":"tbl","TimeToLiveSpecification":{"Enabled":"yes","AttributeName":"x"}}`, "SerializationException"},
		{"DescribeTimeToLive", `{"TableName":"no-such-table"}`, "ResourceNotFoundException: Requested resource not found: Table: no-such-table not found"},
		{"DescribeTimeToLive", `{}`, "ValidationException: 1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null"},
	} {
		_, err := e.Do(tc.op, []byte(tc.body))
		got := "no error"
		if err != nil {
			got = err.Error()
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s %s:\n got %s\nwant %s", tc.op, tc.body, got, tc.want)
		}
	}
}
