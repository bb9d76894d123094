//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package gateway

// closedByPeer cannot peek at a socket on this platform: a pooled connection is assumed alive.
func (c *backendConn) closedByPeer() bool { return false }

func (c *backendConn) peek(uintptr) bool { return true }
