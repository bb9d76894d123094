//go:build linux || darwin || freebsd || netbsd || openbsd

package fakesf

import (
	"net"
	"os"
	"syscall"
)

// acceptQueued accepts one connection the kernel has queued on ln, without waiting: false when none is queued.
// (net.TCPListener.Accept cannot: past its deadline it fails before asking the kernel.)
func acceptQueued(ln *net.TCPListener) (net.Conn, bool) {
	raw, err := ln.SyscallConn()
	if err != nil {
		return nil, false
	}
	nfd := -1
	if err := raw.Control(func(fd uintptr) {
		nfd, _, _ = syscall.Accept(int(fd)) // the listener is non-blocking: EAGAIN when the queue is empty
	}); err != nil || nfd < 0 {
		return nil, false
	}
	f := os.NewFile(uintptr(nfd), "replica connection")
	defer f.Close()
	c, err := net.FileConn(f)
	return c, err == nil
}

// pendingInput reports whether bytes wait unread on c (a request the server has not read yet), without blocking.
func pendingInput(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	pending := false
	_ = raw.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		pending = err == nil && n > 0
	})
	return pending
}
