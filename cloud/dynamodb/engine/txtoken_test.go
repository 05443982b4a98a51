package engine

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"
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
