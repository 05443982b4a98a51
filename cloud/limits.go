package cloud

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/orderflow/orderflow/cloud/awsproto"
)

// What a client can make the edge hold is bounded, so that no client, slow
// or hostile, can make the process run out of memory or of file
// descriptors:
//
//   - Connections: at most Options.MaxConnections are served at once. More
//     wait (accepted by the kernel, not yet by the server) until one ends;
//     while they wait, connections that sit idle (between requests, or
//     before their first) are closed to make room.
//   - Descriptors: the connection cap is derived from the open-file limit
//     (RLIMIT_NOFILE) less a reserve for the data file, the write-ahead
//     log's segments and its rotation, the cloud's own clients and the
//     runtime, so that idle clients can never leave the journal without a
//     descriptor.
//   - Request bodies: the services read a body whole before they act on it,
//     so the bytes of bodies in flight are what a slow upload pins in
//     memory. A request may read its body only once it holds that many
//     bytes of a budget shared by every request (Options.MaxBodyBuffer); it
//     waits for them up to bodyWait, then is refused with ServiceUnavailable
//     (503) before anything of it is read.

const (
	// DefaultMaxConnections is the default cap on client connections
	// served at once (lowered to what the open-file limit allows).
	DefaultMaxConnections = 1024
	// DefaultMaxBodyBuffer is the default budget of request-body bytes
	// held in memory at once, across all requests.
	DefaultMaxBodyBuffer = 64 << 20
	// MinMaxBodyBuffer is the smallest budget accepted: the share large
	// bodies may take (three quarters) must hold the largest body twice
	// (a chunked one is held twice; see readUnsized).
	MinMaxBodyBuffer = 3 * MaxRequestBytes

	// fdReserve is the descriptors kept for what is not a client
	// connection: the standard streams, the runtime's poller, the
	// listener, the data file, the log segment in use, the next one a
	// rotation creates and the directory it syncs, recovery's files, and
	// room for what a library opens on its own.
	fdReserve = 64
	// maxHeaderBytes bounds a request's line and headers, which the
	// server holds before any limit here applies: times MaxConnections, it
	// is what connections alone can pin. AWS's own requests carry a few
	// KiB (a presigned URL with a session token among the longest).
	maxHeaderBytes = 32 << 10
	// maxOwnConns bounds the connections the cloud's own clients (the
	// function host's functions, the provisioner) open to the edge: each
	// takes a descriptor on the client's side, beyond the cap.
	maxOwnConns = 256
)

// Tunables of the limits, variables for the tests.
var (
	// bodyWait is how long a request waits for body budget before it is
	// refused: long enough to ride out a burst of large bodies, short
	// enough that a client stuck behind slow uploads hears back and
	// retries (SDKs retry a 503).
	bodyWait = 5 * time.Second
	// idleShedAfter is how long a connection must have been idle before
	// it is closed to make room for one waiting at the cap: the race with
	// a request starting on it is then as rare as at the idle timeout.
	idleShedAfter = time.Second
	// shedEvery is how often a connection waiting at the cap looks again
	// for an idle one to close.
	shedEvery = 250 * time.Millisecond
)

// smallBody is the largest body that may use the budget's reserve: the
// quarter of it that bodies over this size cannot take, so that ordinary
// API calls are still answered while large uploads fill the rest.
const smallBody = 1 << 20

// fdPlan divides the open-file limit between client connections and
// everything else.
type fdPlan struct {
	limit    uint64 // the soft RLIMIT_NOFILE (Go raises it to just under the hard limit at start)
	own      int    // cap on the cloud's own clients' connections
	kept     int64  // descriptors kept from client connections
	maxConns int    // the most client connections that fit; < 1 if none do
}

func planFDs(limit uint64) fdPlan {
	own := int(min(maxOwnConns, limit/4))
	// One more: a connection accepted while at the cap, held until a slot
	// frees.
	kept := fdReserve + int64(own) + 1
	free := int64(limit) - kept
	return fdPlan{limit: limit, own: own, kept: kept, maxConns: int(max(min(free, 1<<30), 0))}
}

// openFileLimit is the process's soft RLIMIT_NOFILE.
func openFileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("read the open-file limit: %w", err)
	}
	return rl.Cur, nil
}

// connCap returns the connection cap for the requested one (0: the
// default) and the fd plan, or an error saying why none fits.
func connCap(requested int, p fdPlan) (int, error) {
	switch {
	case requested < 0:
		return 0, fmt.Errorf("a cap of %d connections is negative", requested)
	case p.maxConns < 1:
		return 0, fmt.Errorf("the open-file limit of %d leaves no room for client connections once %d descriptors are kept for the data files and the cloud's own clients: raise it (ulimit -n)", p.limit, p.kept)
	case requested == 0:
		return min(DefaultMaxConnections, p.maxConns), nil
	case requested > p.maxConns:
		return 0, fmt.Errorf("%d connections at once do not fit the open-file limit of %d: it leaves room for at most %d once %d descriptors are kept for the data files and the cloud's own clients; raise it (ulimit -n) or ask for fewer", requested, p.limit, p.maxConns, p.kept)
	}
	return requested, nil
}

// connLimiter is a listener that serves at most max connections at once.
// Past the cap it accepts one more connection and holds it until a slot
// frees, closing the connection that has been idle longest to free one;
// the rest wait in the kernel's accept queue.
type connLimiter struct {
	net.Listener
	slots chan struct{} // one token per connection served
	done  chan struct{} // closed by Close
	once  sync.Once

	mu    sync.Mutex
	conns map[*limitedConn]struct{}
}

func newConnLimiter(ln net.Listener, max int) *connLimiter {
	return &connLimiter{Listener: ln, slots: make(chan struct{}, max), done: make(chan struct{}), conns: map[*limitedConn]struct{}{}}
}

func (l *connLimiter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	select {
	case l.slots <- struct{}{}:
	default:
		if err := l.waitForSlot(); err != nil {
			c.Close()
			return nil, err
		}
	}
	lc := &limitedConn{Conn: c, l: l}
	lc.setState(http.StateNew)
	l.mu.Lock()
	l.conns[lc] = struct{}{}
	l.mu.Unlock()
	return lc, nil
}

// waitForSlot waits until a connection ends, closing idle ones meanwhile.
func (l *connLimiter) waitForSlot() error {
	t := time.NewTicker(shedEvery)
	defer t.Stop()
	for {
		l.shedIdle()
		select {
		case l.slots <- struct{}{}:
			return nil
		case <-t.C:
		case <-l.done:
			return net.ErrClosed
		}
	}
}

// shedIdle closes the connection that has been idle (between requests, or
// before its first) longest, if for at least idleShedAfter.
func (l *connLimiter) shedIdle() {
	var oldest *limitedConn
	var since int64
	cutoff := time.Now().Add(-idleShedAfter).UnixMilli()
	l.mu.Lock()
	for c := range l.conns {
		st, at := c.stateSince()
		if (st == http.StateIdle || st == http.StateNew) && at <= cutoff && (oldest == nil || at < since) {
			oldest, since = c, at
		}
	}
	l.mu.Unlock()
	if oldest != nil {
		oldest.Close()
	}
}

// track is the server's ConnState hook: it keeps each connection's state
// and since when.
func (l *connLimiter) track(c net.Conn, state http.ConnState) {
	if lc, ok := c.(*limitedConn); ok {
		lc.setState(state)
	}
}

// open is the number of connections being served.
func (l *connLimiter) open() int { return len(l.slots) }

func (l *connLimiter) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitedConn is a connection holding one of the limiter's slots until it
// closes.
type limitedConn struct {
	net.Conn
	l     *connLimiter
	state atomic.Uint64 // http.ConnState << 56 | Unix milliseconds since
	once  sync.Once
}

func (c *limitedConn) setState(s http.ConnState) {
	c.state.Store(uint64(s)<<56 | uint64(time.Now().UnixMilli()))
}

// stateSince returns the connection's state and since when (Unix
// milliseconds).
func (c *limitedConn) stateSince() (http.ConnState, int64) {
	v := c.state.Load()
	return http.ConnState(v >> 56), int64(v & (1<<56 - 1))
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		<-c.l.slots
	})
	return err
}

// CloseWrite lets the server half-close as it does on a bare TCP
// connection (it does so before closing one whose request it refused).
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// bodyBudget admits requests to read their bodies while the bytes of
// bodies in flight stay within a budget. Bodies over smallBody take from
// bulk only; smaller ones take from bulk when it has room and nobody waits
// there, else from reserve, so that a queue of large uploads never holds
// up an ordinary call.
type bodyBudget struct {
	bulk    *semaphore.Weighted
	reserve *semaphore.Weighted
	held    atomic.Int64 // bytes held now, for the tests
	peak    atomic.Int64 // the most held at once, for the tests
	fail    func(http.ResponseWriter, *http.Request, *awsproto.Error)
	next    http.Handler
}

func newBodyBudget(limit int64, next http.Handler, fail func(http.ResponseWriter, *http.Request, *awsproto.Error)) *bodyBudget {
	r := limit / 4
	return &bodyBudget{bulk: semaphore.NewWeighted(limit - r), reserve: semaphore.NewWeighted(r), next: next, fail: fail}
}

// hold is what one request holds of the budget.
type hold struct {
	b             *bodyBudget
	bulk, reserve int64
}

// take adds n bytes to h, for a body that will then have read total,
// waiting until ctx ends for them.
func (h *hold) take(ctx context.Context, n, total int64) error {
	if h.tryTake(n, total) {
		return nil
	}
	sem, held := h.b.bulk, &h.bulk
	if total <= smallBody {
		sem, held = h.b.reserve, &h.reserve
	}
	if err := sem.Acquire(ctx, n); err != nil {
		return err
	}
	*held += n
	h.b.count(n)
	return nil
}

// tryTake adds n bytes to h if the budget has them now.
func (h *hold) tryTake(n, total int64) bool {
	b := h.b
	switch {
	case b.bulk.TryAcquire(n):
		h.bulk += n
	case total <= smallBody && b.reserve.TryAcquire(n):
		h.reserve += n
	default:
		return false
	}
	b.count(n)
	return true
}

// count records n more bytes held.
func (b *bodyBudget) count(n int64) {
	now := b.held.Add(n)
	for p := b.peak.Load(); now > p && !b.peak.CompareAndSwap(p, now); p = b.peak.Load() {
	}
}

func (h *hold) release() {
	b := h.b
	if h.bulk > 0 {
		b.bulk.Release(h.bulk)
	}
	if h.reserve > 0 {
		b.reserve.Release(h.reserve)
	}
	b.held.Add(-h.bulk - h.reserve)
	h.bulk, h.reserve = 0, 0
}

func (b *bodyBudget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		b.next.ServeHTTP(w, r)
		return
	}
	h := &hold{b: b}
	defer h.release()
	// The services read at most MaxRequestBytes of a body.
	n := min(r.ContentLength, MaxRequestBytes)
	var err error
	if n < 0 || !h.tryTake(n, n) {
		ctx, cancel := context.WithTimeout(r.Context(), bodyWait)
		if n < 0 {
			err = b.readUnsized(ctx, h, r)
		} else {
			err = h.take(ctx, n, n)
		}
		cancel()
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			// AWS's common error for a temporary failure of the server:
			// SDKs retry it, with backoff.
			b.fail(w, r, &awsproto.Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Receiver: true,
				Message: "the endpoint holds as many request bytes as it may at once; retry shortly"})
			return
		}
		// The client went away, or its body could not be read: an answer
		// is written all the same (a handler that writes none answers 200).
		b.fail(w, r, awsproto.Errorf(http.StatusBadRequest, "IncompleteBody", "the request body cannot be read: %v", err))
		return
	}
	b.next.ServeHTTP(w, r)
}

// unsizedChunk is how much of a body of unknown length (chunked) is
// admitted at a time.
const unsizedChunk = 64 << 10

// readUnsized reads a body of unknown length (Transfer-Encoding: chunked)
// up to MaxRequestBytes bytes, a chunk at a time as the budget allows, and
// gives the request what it read followed by the rest (which the services'
// size limit then refuses). It holds twice the bytes it read: the service
// copies them again.
func (b *bodyBudget) readUnsized(ctx context.Context, h *hold, r *http.Request) error {
	var parts []io.Reader
	total := int64(0)
	for total < MaxRequestBytes {
		n := int64(unsizedChunk)
		if err := h.take(ctx, 2*n, total+n); err != nil {
			return err
		}
		chunk := make([]byte, n)
		got, err := io.ReadFull(r.Body, chunk)
		total += int64(got)
		parts = append(parts, bytes.NewReader(chunk[:got]))
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read body: %w", err)
		}
	}
	rest := r.Body
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(append(parts, rest)...), rest}
	return nil
}

// limits checks the options' limits against the open-file limit and
// returns the descriptor plan and the connection cap.
func (o *Options) limits() (fdPlan, int, error) {
	if o.MaxBodyBuffer < MinMaxBodyBuffer {
		return fdPlan{}, 0, fmt.Errorf("a body budget of %d bytes is below the least that holds the largest request, %d (%d MiB)", o.MaxBodyBuffer, int64(MinMaxBodyBuffer), MinMaxBodyBuffer>>20)
	}
	limit, err := openFileLimit()
	if err != nil {
		return fdPlan{}, 0, err
	}
	plan := planFDs(limit)
	n, err := connCap(o.MaxConnections, plan)
	return plan, n, err
}
