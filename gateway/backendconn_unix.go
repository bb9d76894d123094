//go:build linux || darwin || freebsd || netbsd || openbsd

package gateway

import (
	"errors"
	"syscall"
)

// closedByPeer peeks at the socket without blocking: end of stream or a reset means the backend closed it.
func (c *backendConn) closedByPeer() bool {
	c.gone = false
	if err := c.raw.Read(c.peekFn); err != nil {
		return true
	}
	return c.gone
}

// peek is the raw-socket callback of closedByPeer; it never waits (true: done).
func (c *backendConn) peek(fd uintptr) bool {
	var b [1]byte
	n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	switch {
	case err == nil:
		c.gone = n == 0 // 0 bytes: the backend sent FIN; data waiting: not ours to judge, the read will tell
	case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EINTR):
		c.gone = false // nothing to read: alive
	default:
		c.gone = true // ECONNRESET and friends
	}
	return true
}
