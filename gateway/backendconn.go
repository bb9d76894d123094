package gateway

import (
	"errors"
	"net"
	"syscall"
)

// errStaleConn: a pooled backend connection was found closed by the backend before any byte of the request was
// written to it. The request never left the gateway, so it may be resent whatever its method.
var errStaleConn = errors.New("the pooled connection was closed by the backend before the request was written")

// backendConn is a connection to a backend endpoint (lazy deadlines as lazyDeadlineConn). Before it carries a
// request on a connection that already carried one (a pooled keep-alive connection), it checks without
// blocking whether the backend has closed it meanwhile: a replica that moved or stopped closes its idle
// connections, and a request written into such a connection is lost without any proof that it was not
// received. For idempotent requests, which may be resent anyway, the check is skipped when it can see the
// method (plain HTTP); over TLS it always runs, one non-blocking recv per reused request.
type backendConn struct {
	lazyDeadlineConn
	raw    syscall.RawConn // nil when the connection has no file descriptor (then no check)
	reused bool            // a response byte was read: the next write starts a request on a reused connection
	gone   bool            // result of the last peek
	peekFn func(fd uintptr) bool
}

func newBackendConn(c net.Conn) *backendConn {
	bc := &backendConn{lazyDeadlineConn: lazyDeadlineConn{Conn: c}}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			bc.raw = raw
			bc.peekFn = bc.peek // bound once, so that a check allocates nothing
		}
	}
	return bc
}

func (c *backendConn) Read(b []byte) (int, error) {
	n, err := c.lazyDeadlineConn.Read(b)
	if n > 0 {
		c.reused = true
	}
	return n, err
}

func (c *backendConn) Write(b []byte) (int, error) {
	if c.reused {
		c.reused = false
		if c.raw != nil && !startsIdempotentRequest(b) && c.closedByPeer() {
			return 0, errStaleConn
		}
	}
	return c.lazyDeadlineConn.Write(b)
}

// startsIdempotentRequest reports whether b begins a plain-text HTTP/1.1 request whose method may be resent after
// it reached the backend (RFC 9110 §9.2.2), so that checking the connection first buys nothing.
func startsIdempotentRequest(b []byte) bool {
	for _, m := range idempotentRequestLines {
		if len(b) >= len(m) && string(b[:len(m)]) == m {
			return true
		}
	}
	return false
}

var idempotentRequestLines = []string{"GET ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "TRACE "}
