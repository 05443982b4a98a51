package engine

import (
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/journal"
)

// TestTokensBounded: past maxTokens the oldest tokens are forgotten, and
// expired ones are dropped, so the memory kept for tokens is bounded.
func TestTokensBounded(t *testing.T) {
	var ts txTokens
	now := time.Unix(1_000_000, 0)
	for i := range maxTokens + 50 {
		tok := fmt.Sprintf("t%d", i)
		h := sha256.Sum256([]byte(tok))
		if replay, err := ts.begin(tok, h, now); err != nil || replay != nil {
			t.Fatalf("begin %s: %q, %v", tok, replay, err)
		}
		ts.finish(tok, []byte("{}"), true, now)
	}
	if got := ts.remembered(); got != maxTokens {
		t.Fatalf("remembered %d tokens, want %d", got, maxTokens)
	}
	// The oldest were forgotten: t0 runs again; the newest replays.
	if replay, err := ts.begin("t0", sha256.Sum256([]byte("t0")), now); err != nil || replay != nil {
		t.Errorf("t0 after eviction: %q, %v; want a new request", replay, err)
	}
	ts.finish("t0", nil, false, now)
	last := fmt.Sprintf("t%d", maxTokens+49)
	if replay, err := ts.begin(last, sha256.Sum256([]byte(last)), now); err != nil || string(replay) != "{}" {
		t.Errorf("%s: %q, %v; want the replay {}", last, replay, err)
	}
	// Ten minutes later every token has expired.
	ts.begin("fresh", sha256.Sum256([]byte("fresh")), now.Add(tokenWindow))
	ts.finish("fresh", []byte("{}"), true, now.Add(tokenWindow))
	if got := ts.remembered(); got != 1 {
		t.Errorf("remembered %d tokens after the window, want 1", got)
	}
	if len(ts.order) != 1 {
		t.Errorf("%d entries queued after the window, want 1", len(ts.order))
	}
}

// TestTokenInProgress: while a token's transaction runs, the same token is
// answered TransactionInProgressException, and another request with it
// IdempotentParameterMismatchException.
func TestTokenInProgress(t *testing.T) {
	var ts txTokens
	now := time.Unix(1_000_000, 0)
	h := sha256.Sum256([]byte("a"))
	if _, err := ts.begin("tok", h, now); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.begin("tok", h, now); err == nil || asAPIError(err).code != codeTxInProgress {
		t.Errorf("same request in progress: %v, want %s", err, codeTxInProgress)
	}
	if _, err := ts.begin("tok", sha256.Sum256([]byte("b")), now); err == nil || asAPIError(err).code != codeIdempotentMismatch {
		t.Errorf("another request: %v, want %s", err, codeIdempotentMismatch)
	}
	ts.finish("tok", nil, false, now)
	if replay, err := ts.begin("tok", sha256.Sum256([]byte("b")), now); err != nil || replay != nil {
		t.Errorf("after a failure the token is free: %q, %v", replay, err)
	}
}

// TestTokensLoadedBounded: at start the engine remembers the token records
// of its data file that are still in their window, at most maxTokens of
// them (the newest), and deletes the others from the file.
func TestTokensLoadedBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.db")
	db, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Unix(1_000_000, 0)
	e, err := Open(Options{DB: db, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	const expired = 7
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.Bucket(rootBucket).CreateBucketIfNotExists(tokensPath[1])
		if err != nil {
			return err
		}
		for i := range maxTokens + 5 + expired {
			at := now.Add(-time.Duration(i) * time.Millisecond) // t0 newest
			if i >= maxTokens+5 {
				at = now.Add(-tokenWindow - time.Duration(i)*time.Millisecond)
			}
			if err := b.Put(fmt.Appendf(nil, "t%d", i), encodeToken(sha256.Sum256(nil), at, []byte("{}"))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err = Open(Options{DB: db, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.tokens.remembered(); got != maxTokens {
		t.Errorf("remembered %d tokens, want %d", got, maxTokens)
	}
	for _, tok := range []string{"t0", fmt.Sprintf("t%d", maxTokens-1)} {
		if replay, err := e.tokens.begin(tok, sha256.Sum256(nil), now); err != nil || string(replay) != "{}" {
			t.Errorf("%s, among the newest: %q, %v; want the replay {}", tok, replay, err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	var held []string
	_ = db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(rootBucket).Bucket(tokensPath[1]).ForEach(func(k, _ []byte) error {
			held = append(held, string(k))
			return nil
		})
	})
	if len(held) != maxTokens {
		t.Errorf("the file holds %d token records, want %d", len(held), maxTokens)
	}
	for _, k := range held {
		var i int
		fmt.Sscanf(k, "t%d", &i)
		if i >= maxTokens {
			t.Errorf("the file still holds %s, older than the newest %d or expired", k, maxTokens)
			break
		}
	}
}
