//go:build linux

package gateway

import "golang.org/x/sys/unix"

// neverAcknowledged reports whether the connection is closed for good (reset) and the backend's host acknowledged
// none of the bytes written on it (TCP_INFO: state CLOSE, bytes sent, none acknowledged past the SYN). Such a connection
// carried no byte of the request to the backend's socket, let alone to the service, and can carry none later:
// the case of a connection reset because the replica closed its listening socket while the connection's
// handshake was still completing, after the gateway had written. A connection still open (a timeout, or only a
// FIN received) may yet deliver what it holds, so it does not count. False when the kernel does not report the
// counts (before Linux 4.19) or the connection has no socket.
func (c *backendConn) neverAcknowledged() bool {
	if c.raw == nil {
		return false
	}
	closed, sent, acked := false, uint64(0), uint64(0)
	_ = c.raw.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			closed, sent, acked = info.State == tcpClose, info.Bytes_sent, info.Bytes_acked
		}
	})
	return closed && sent > 0 && acked <= synAcknowledged
}

// synAcknowledged is tcpi_bytes_acked once the handshake is done: the SYN takes one sequence number.
const synAcknowledged = 1

// tcpClose is TCP_CLOSE in the kernel's socket states (include/net/tcp_states.h): no connection any more.
const tcpClose = 7
