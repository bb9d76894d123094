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
