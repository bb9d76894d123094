//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package fakesf

import "net"

// acceptQueued cannot accept without waiting on this platform: queued connections are reset at close.
func acceptQueued(*net.TCPListener) (net.Conn, bool) { return nil, false }
