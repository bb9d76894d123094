package gateway

import (
	"errors"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// lazyDeadlineConn is a net.Conn that arms the runtime timer behind a deadline only when it has to.
//
// fasthttp sets a read and a write deadline on the client's connection and on the backend's for every
// request, and re-arming the runtime timer each time costs about a tenth of the gateway's CPU per proxied
// request (bench/, pinned -c64). The deadlines asked for only ever move forward in steady state, so this
// conn records the deadline asked for and keeps the armed one while it is no later than that: an armed
// deadline that expires early (before the one asked for) makes Read or Write re-arm the deadline asked for
// and carry on. A timeout therefore fires when asked, never early; the timer is re-armed about once per
// timeout period per connection instead of twice per request.
type lazyDeadlineConn struct {
	net.Conn
	read, write lazyDeadline
}

// lazyDeadline is one direction's deadline: the one asked for and the one armed on the connection, as
// offsets from monoBase (0 = none), so that comparisons use the monotonic clock as the runtime's timers do.
type lazyDeadline struct {
	want, armed atomic.Int64
}

// monoBase is the origin of lazyDeadline's offsets.
var monoBase = time.Now()

// offset is t as a non-zero offset from monoBase.
func offset(t time.Time) int64 {
	if d := int64(t.Sub(monoBase)); d != 0 {
		return d
	}
	return 1
}

// set records t as asked for and returns whether it must be armed now: only when it is earlier than the
// armed deadline or nothing is armed. No deadline (zero t) is applied lazily too, by expire.
func (d *lazyDeadline) set(t time.Time) bool {
	if t.IsZero() {
		d.want.Store(0)
		return false
	}
	w := offset(t)
	d.want.Store(w)
	if a := d.armed.Load(); a != 0 && a <= w {
		return false
	}
	d.armed.Store(w)
	return true
}

// expire is called when the armed deadline passed. It returns the deadline to arm and true when the one asked
// for has not passed yet (the armed one was early, or none is asked for any more), false when the timeout is real.
func (d *lazyDeadline) expire() (time.Time, bool) {
	w := d.want.Load()
	if w == 0 {
		d.armed.Store(0)
		return time.Time{}, true
	}
	if int64(time.Since(monoBase)) >= w {
		return time.Time{}, false
	}
	d.armed.Store(w)
	return monoBase.Add(time.Duration(w)), true
}

func (c *lazyDeadlineConn) SetReadDeadline(t time.Time) error {
	if c.read.set(t) {
		return c.Conn.SetReadDeadline(t)
	}
	return nil
}

func (c *lazyDeadlineConn) SetWriteDeadline(t time.Time) error {
	if c.write.set(t) {
		return c.Conn.SetWriteDeadline(t)
	}
	return nil
}

func (c *lazyDeadlineConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *lazyDeadlineConn) Read(b []byte) (int, error) {
	for {
		n, err := c.Conn.Read(b)
		if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		at, again := c.read.expire()
		if !again {
			return n, err
		}
		if err := c.Conn.SetReadDeadline(at); err != nil {
			return 0, err
		}
	}
}

func (c *lazyDeadlineConn) Write(b []byte) (int, error) {
	written := 0
	for {
		n, err := c.Conn.Write(b[written:])
		written += n
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return written, err
		}
		at, again := c.write.expire()
		if !again {
			return written, err
		}
		if err := c.Conn.SetWriteDeadline(at); err != nil {
			return written, err
		}
	}
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
