//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package fakesf

import "net"

// takeQueued cannot accept without waiting on this platform: queued connections are reset at close.
func takeQueued(*net.TCPListener) []net.Conn { return nil }

// pendingInput cannot peek at a socket on this platform: no connection is taken as having input waiting.
func pendingInput(net.Conn) bool { return false }
