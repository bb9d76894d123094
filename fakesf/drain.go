package fakesf

import (
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// drainingListener is a replica's TCP listener that can close without resetting the connections the kernel has
// already completed but the server has not accepted yet: close stops it with drain, which wakes the accept loop;
// the loop then takes every connection still queued and stops the socket listening in one step (takeQueued), hands
// those connections to the server, and closes. A client whose connection the kernel had queued therefore gets its
// request served; one that dials after the close is refused. Without this a request could be lost on a connection
// the replica never saw, which no client can tell from a lost answer. Two instants remain, as with any server: a
// connection whose handshake is still completing on the replica's side at the close, and one the kernel queues
// between the last accept and the close (a loaded machine can stall the thread there), are reset after their
// client wrote its request.
type drainingListener struct {
	*net.TCPListener
	draining atomic.Bool
	queued   []net.Conn // taken by takeQueued, handed out by Accept; only the accept loop touches it
	taken    bool
}

// drain makes Accept return what is queued and then net.ErrClosed.
func (l *drainingListener) drain() {
	l.draining.Store(true)
	_ = l.SetDeadline(time.Unix(1, 0)) // wakes a blocked Accept
}

func (l *drainingListener) Accept() (net.Conn, error) {
	if !l.taken {
		c, err := l.TCPListener.Accept()
		if err == nil || !l.draining.Load() {
			return c, err
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return nil, err
		}
		l.queued, l.taken = takeQueued(l.TCPListener), true
	}
	if len(l.queued) > 0 {
		c := l.queued[0]
		l.queued = l.queued[1:]
		return c, nil
	}
	_ = l.TCPListener.Close()
	return nil, net.ErrClosed
}
