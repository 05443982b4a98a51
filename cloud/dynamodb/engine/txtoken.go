package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/orderflow/orderflow/cloud/journal"
)

// TransactWriteItems' ClientRequestToken (API reference): a token is valid
// for 10 minutes after the first request that uses it completes; within
// that window the same request with the same token succeeds again without
// writing anything, and a different request with the same token is
// refused with IdempotentParameterMismatchException.
const (
	tokenWindow   = 10 * time.Minute
	maxTokenChars = 36
	// maxTokens bounds the tokens remembered (about 100 bytes each): past
	// it the oldest is forgotten before its window ends, and a replay of
	// it would run again.
	maxTokens = 10_000

	codeIdempotentMismatch = "IdempotentParameterMismatchException"
	codeTxInProgress       = "TransactionInProgressException"
	msgIdempotentMismatch  = "The request uses the same client token as a previous, but non-identical request."
	msgTxInProgress        = "Transaction from previous request is still in progress"
)

// txTokens remembers the client request tokens of recent successful
// transactions, oldest first.
//
// On a data file each remembered token has a record, under the bucket
// dynamodb/txtokens keyed by the token: the request's hash, the
// completion time and the response (tokenRecord). The record is journaled
// in the transaction's own commit (runTransaction), so after a crash a
// transaction and its token are both there or both gone; a token
// forgotten (expired, or past the bound) has its record deleted, and
// loading skips and deletes the records whose window has ended.
type txTokens struct {
	mu      sync.Mutex
	byToken map[string]*tokenEntry
	order   []*tokenEntry    // by completion; pending entries are not in it
	j       *journal.Journal // nil in memory
}

var tokensPath = journal.Path(rootBucket, []byte("txtokens"))

// tokenRecord is the journal op recording a completed token.
func tokenRecord(token string, hash [sha256.Size]byte, at time.Time, resp []byte) journal.Op {
	return journal.Put(tokensPath, []byte(token), encodeToken(hash, at, resp))
}

func encodeToken(hash [sha256.Size]byte, at time.Time, resp []byte) []byte {
	enc := journal.NewEncoder(len(hash) + len(resp) + 16)
	enc.Blob(hash[:])
	enc.Int(at.UnixNano())
	enc.Blob(resp)
	return enc.Bytes()
}

// load reads the token records of tx as of now: it remembers those still
// in their window, at most maxTokens (the newest), and returns the keys
// of the others, to be deleted.
func (ts *txTokens) load(tx *bbolt.Tx, now time.Time) (stale [][]byte, err error) {
	b := tx.Bucket(rootBucket)
	if b != nil {
		b = b.Bucket(tokensPath[1])
	}
	if b == nil {
		return nil, nil
	}
	var entries []*tokenEntry
	err = b.ForEach(func(k, v []byte) error {
		d := journal.NewDecoder(v)
		hash := d.Blob()
		at := time.Unix(0, d.Int())
		resp := d.Blob()
		if err := d.Err(); err != nil || len(hash) != sha256.Size || checkToken(string(k)) != nil {
			return fmt.Errorf("%w: client request token %q: bad record", ErrDataFile, k)
		}
		if now.Sub(at) >= tokenWindow {
			stale = append(stale, bytes.Clone(k))
			return nil
		}
		e := &tokenEntry{token: string(k), done: true, at: at, resp: bytes.Clone(resp)}
		copy(e.hash[:], hash)
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].at.Before(entries[j].at) })
	if n := len(entries) - maxTokens; n > 0 {
		for _, e := range entries[:n] {
			stale = append(stale, []byte(e.token))
		}
		entries = entries[n:]
	}
	ts.byToken = make(map[string]*tokenEntry, len(entries))
	for _, e := range entries {
		ts.byToken[e.token] = e
	}
	ts.order = entries
	return stale, nil
}

type tokenEntry struct {
	token   string
	hash    [sha256.Size]byte
	done    bool
	at      time.Time // completion
	resp    []byte
	removed bool // forgotten (expired or evicted) while still in order
}

// requestHash identifies a TransactWriteItems request apart from its
// token: the body's JSON with the token taken out and the object keys in
// order, so that the same request encoded another way matches.
func requestHash(body []byte) ([sha256.Size]byte, error) {
	var v map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return [sha256.Size]byte{}, errf("%s", err.Error())
	}
	delete(v, "ClientRequestToken")
	b, err := json.Marshal(v)
	if err != nil {
		return [sha256.Size]byte{}, errf("%s", err.Error())
	}
	return sha256.Sum256(b), nil
}

func checkToken(token string) error {
	if n := len([]rune(token)); n > maxTokenChars {
		return errf("1 validation error detected: Value '%s' at 'clientRequestToken' failed to satisfy constraint: Member must have length less than or equal to %d", token, maxTokenChars)
	}
	if token == "" {
		return errf("1 validation error detected: Value '' at 'clientRequestToken' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	return nil
}

// begin looks token up at now. It returns the response to replay when the
// same request completed within the window; otherwise it records the
// request as in progress, and the caller ends it with finish.
func (ts *txTokens) begin(token string, hash [sha256.Size]byte, now time.Time) (replay []byte, err error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.expire(now)
	if ts.byToken == nil {
		ts.byToken = map[string]*tokenEntry{}
	}
	if e, ok := ts.byToken[token]; ok {
		switch {
		case e.hash != hash:
			return nil, &apiError{status: http.StatusBadRequest, code: codeIdempotentMismatch, msg: msgIdempotentMismatch}
		case !e.done:
			return nil, &apiError{status: http.StatusBadRequest, code: codeTxInProgress, msg: msgTxInProgress}
		}
		return e.resp, nil
	}
	ts.byToken[token] = &tokenEntry{token: token, hash: hash}
	return nil, nil
}

// finish ends the request begun with token: a success, completed at now,
// is remembered with its response for the window, a failure forgotten
// (the same request may be tried again).
func (ts *txTokens) finish(token string, resp []byte, ok bool, now time.Time) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	e := ts.byToken[token]
	if e == nil || e.done {
		return
	}
	if !ok {
		delete(ts.byToken, token)
		return
	}
	e.done, e.at, e.resp = true, now, resp
	ts.order = append(ts.order, e)
	for len(ts.byToken) > maxTokens && len(ts.order) > 0 {
		ts.forgetOldest()
	}
}

// expire forgets the tokens whose window ended before now.
func (ts *txTokens) expire(now time.Time) {
	for len(ts.order) > 0 && (ts.order[0].removed || now.Sub(ts.order[0].at) >= tokenWindow) {
		ts.forgetOldest()
	}
}

func (ts *txTokens) forgetOldest() {
	e := ts.order[0]
	ts.order[0] = nil
	ts.order = ts.order[1:]
	was := e.removed
	if !e.removed && ts.byToken[e.token] == e {
		delete(ts.byToken, e.token)
	}
	e.removed = true
	if ts.j != nil && !was && ts.byToken[e.token] == nil {
		// Under ts.mu, so that it reaches the journal before a later
		// use of the same token records it again.
		ts.j.Append(journal.Delete(tokensPath, []byte(e.token)))
	}
	if cap(ts.order) > 2*maxTokens && len(ts.order) < cap(ts.order)/4 {
		ts.order = append([]*tokenEntry(nil), ts.order...)
	}
}

// remembered is how many tokens are held (for tests of the bound).
func (ts *txTokens) remembered() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.byToken)
}
