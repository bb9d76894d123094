package fakesf

import (
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// drainingListener is a replica's TCP listener that can close without resetting the connections the kernel has
// already completed but the server has not accepted yet: close stops it with drain, which wakes the accept loop,
// hands it every connection still queued, and only then closes the socket. A client whose connection was
// established therefore always gets its request served; one that dials after the close is refused. Without this a
// request could be lost on a connection the replica never saw, which no client can tell from a lost answer.
type drainingListener struct {
	*net.TCPListener
	draining atomic.Bool
}

// drain makes Accept return what is queued and then net.ErrClosed.
func (l *drainingListener) drain() {
	l.draining.Store(true)
	_ = l.SetDeadline(time.Unix(1, 0)) // wakes a blocked Accept
}

func (l *drainingListener) Accept() (net.Conn, error) {
	c, err := l.TCPListener.Accept()
	if err == nil || !l.draining.Load() {
		return c, err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if c, ok := acceptQueued(l.TCPListener); ok {
			return c, nil
		}
	}
	_ = l.TCPListener.Close()
	return nil, net.ErrClosed
}
