package gateway

import (
	"net"
	"sync/atomic"
	"time"
)

// deadlineSlack is how late a connection deadline may fire. fasthttp sets a read and a write deadline on
// the client's connection and on the backend's for every request; re-arming the runtime timer each time
// costs about a tenth of the gateway's CPU per proxied request (bench/, pinned -c64). Like nginx's lazy
// timers (NGX_TIMER_LAZY_DELAY, 300 ms), a deadline is armed deadlineSlack late and a new one that falls
// in that window is not re-armed: a timeout fires up to deadlineSlack late, never early.
const deadlineSlack = 250 * time.Millisecond

// lazyDeadlineConn is a net.Conn whose deadlines are re-armed only when deadlineSlack does not cover them.
type lazyDeadlineConn struct {
	net.Conn
	read, write atomic.Int64 // the deadline armed on Conn, as UnixNano; 0 = none
}

// lazyArm reports whether t must be armed given the deadline armed now, and records what is armed: nothing
// when the armed deadline is no earlier than t and at most deadlineSlack later; else t + deadlineSlack (a
// zero t, no deadline, is armed as is).
func lazyArm(armed *atomic.Int64, t time.Time) (time.Time, bool) {
	a := armed.Load()
	if t.IsZero() {
		armed.Store(0)
		return t, a != 0
	}
	if want := t.UnixNano(); a != 0 && a >= want && a-want <= int64(deadlineSlack) {
		return t, false
	}
	t = t.Add(deadlineSlack)
	armed.Store(t.UnixNano())
	return t, true
}

func (c *lazyDeadlineConn) SetReadDeadline(t time.Time) error {
	if at, ok := lazyArm(&c.read, t); ok {
		return c.Conn.SetReadDeadline(at)
	}
	return nil
}

func (c *lazyDeadlineConn) SetWriteDeadline(t time.Time) error {
	if at, ok := lazyArm(&c.write, t); ok {
		return c.Conn.SetWriteDeadline(at)
	}
	return nil
}

func (c *lazyDeadlineConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// lazyDeadlineListener hands out lazyDeadlineConns.
type lazyDeadlineListener struct{ net.Listener }

func (l lazyDeadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lazyDeadlineConn{Conn: c}, nil
}
