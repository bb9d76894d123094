//go:build linux || darwin || freebsd || netbsd || openbsd

package fakesf

import (
	"net"
	"os"
	"syscall"
)

// takeQueued accepts, without waiting, every connection the kernel has queued on ln and, in the same step, stops
// ln listening (shutdown), so that no connection can complete between the last accept and the close: a later
// dial is refused, which a client knows to be safe to retry.
func takeQueued(ln *net.TCPListener) []net.Conn {
	raw, err := ln.SyscallConn()
	if err != nil {
		return nil
	}
	var fds []int
	_ = raw.Control(func(fd uintptr) {
		for {
			nfd, _, err := syscall.Accept(int(fd)) // the listener is non-blocking: EAGAIN when the queue is empty
			if err != nil {
				_ = syscall.Shutdown(int(fd), syscall.SHUT_RD)
				return
			}
			fds = append(fds, nfd)
		}
	})
	var out []net.Conn
	for _, nfd := range fds {
		f := os.NewFile(uintptr(nfd), "replica connection")
		if c, err := net.FileConn(f); err == nil {
			out = append(out, c)
		}
		f.Close()
	}
	return out
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
