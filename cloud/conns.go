package cloud

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// unusedConns ends, when the server shuts down, the connections that have
// not sent a request yet. http.Server.Shutdown closes idle keep-alive
// connections at once but waits for a new connection's first request for
// five seconds before it treats the connection as idle, and HTTP clients
// leave such connections behind as a matter of course: Go's transport, for
// one, dials a connection for a request that another connection then
// serves, and keeps the spare one in its pool unused. `orderflow up` and
// `orderflow bench` stopped five seconds after Ctrl-C because of them.
//
// A connection that has not sent a request when the server shuts down is
// told so by a read deadline in the past: its wait for a first request
// ends, and the server closes it. A request already read is unaffected (it
// is handled and answered, as Shutdown promises); one caught half-read is
// refused without effect, as a request arriving after the shutdown is.
type unusedConns struct {
	mu      sync.Mutex
	fresh   map[net.Conn]struct{} // in http.StateNew
	closing bool
}

func newUnusedConns() *unusedConns { return &unusedConns{fresh: map[net.Conn]struct{}{}} }

// track is the server's ConnState hook.
func (u *unusedConns) track(c net.Conn, state http.ConnState) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if state != http.StateNew {
		delete(u.fresh, c)
		return
	}
	if u.closing {
		// Accepted as the listener closed: the hook runs before the
		// server starts reading, so no request of it has been read.
		c.Close()
		return
	}
	u.fresh[c] = struct{}{}
}

// closeAll runs when the server's Shutdown begins, after its listeners are
// closed.
func (u *unusedConns) closeAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.closing = true
	past := time.Unix(1, 0)
	for c := range u.fresh {
		c.SetReadDeadline(past)
	}
}
