//go:build linux

package gateway

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const postRequest = "POST /orders HTTP/1.1\r\nHost: replica\r\nContent-Length: 5\r\n\r\norder"

// writeThenRead writes a request on c and reads until the connection fails, as an attempt does.
func writeThenRead(t *testing.T, c net.Conn) error {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // only a broken test waits that long
	if _, err := io.WriteString(c, postRequest); err != nil {
		return err
	}
	_, err := c.Read(make([]byte, 1))
	if err == nil {
		t.Fatal("the backend answered; the test expects the connection to fail first")
	}
	return err
}

// A replica that closes its listening socket while a connection's handshake is still completing resets that
// connection when the request arrives: the backend acknowledged no byte, so the failure is marked resendable.
// TCP_DEFER_ACCEPT holds the connection half open on the server's side (the client counts it established)
// until its first bytes arrive, which stands for the instant a loaded machine takes to process the last ACK.
func TestResetBeforeAnyAcknowledgementIsResendable(t *testing.T) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ln.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, 30) })
	if err != nil {
		t.Fatalf("TCP_DEFER_ACCEPT: %v", err)
	}
	c, err := dialer(0)(ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ln.Close() // the replica's listener closes with the handshake not yet complete on its side

	failure := writeThenRead(t, c)
	got := unacknowledged(c, failure)
	if !errors.Is(got, errNotAcknowledged) {
		if !kernelCountsBytes(c) {
			t.Skip("skipped, because this kernel does not report the bytes a connection sent (TCP_INFO, Linux 4.19)")
		}
		t.Fatalf("failure %v after a reset before any acknowledgement: not marked resendable", failure)
	}
	if fe := classify(got, []byte("http://replica")); !fe.notSent {
		t.Fatalf("classify(%v): notSent false; want the request known not sent", got)
	}
}

// A backend that read the request and then reset the connection acknowledged the bytes: the request may have
// run, so the failure is not marked resendable.
func TestResetAfterTheRequestWasReadIsNotResendable(t *testing.T) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		s, err := ln.AcceptTCP()
		if err != nil {
			return
		}
		_, _ = io.ReadFull(s, make([]byte, len(postRequest)))
		_ = s.SetLinger(0) // close with a reset, as a crashing service's host would
		s.Close()
	}()
	c, err := dialer(0)(ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	failure := writeThenRead(t, c)
	if got := unacknowledged(c, failure); errors.Is(got, errNotAcknowledged) {
		t.Fatalf("failure %v after the backend read the request: marked resendable", failure)
	}
}

// kernelCountsBytes reports whether TCP_INFO on c reports bytes sent (Linux 4.19 and later).
func kernelCountsBytes(c net.Conn) bool {
	bc, ok := c.(*backendConn)
	if !ok || bc.raw == nil {
		return false
	}
	counts := false
	_ = bc.raw.Control(func(fd uintptr) {
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		counts = err == nil && info.Bytes_sent > 0
	})
	return counts
}
