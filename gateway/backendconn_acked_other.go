//go:build !linux

package gateway

// neverAcknowledged cannot read the connection's acknowledged bytes on this platform: a request written on a
// connection that then failed is taken as possibly received.
func (c *backendConn) neverAcknowledged() bool { return false }
