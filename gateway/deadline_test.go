package gateway

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// deadlineRecorder is a net.Conn that records the deadlines armed on it.
type deadlineRecorder struct {
	net.Conn
	reads []time.Time
}

func (r *deadlineRecorder) SetReadDeadline(t time.Time) error {
	r.reads = append(r.reads, t)
	return nil
}

func TestLazyDeadlineArmsOnlyEarlierDeadlines(t *testing.T) {
	rec := &deadlineRecorder{}
	c := &lazyDeadlineConn{Conn: rec}
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, s := range []struct {
		name string
		t    time.Time
		arm  bool
	}{
		{"first deadline: armed", t0, true},
		{"a later one (the next request): kept, the armed one is earlier", t0.Add(30 * time.Second), false},
		{"the idle deadline after it: kept", t0.Add(90 * time.Second), false},
		{"no deadline: kept until the armed one expires", time.Time{}, false},
		{"an earlier one (an interrupt): armed", t0.Add(-time.Second), true},
	} {
		n := len(rec.reads)
		c.SetReadDeadline(s.t)
		switch armed := rec.reads[n:]; {
		case s.arm && (len(armed) != 1 || !armed[0].Equal(s.t)):
			t.Errorf("%s: armed %v, want [%v]", s.name, armed, s.t)
		case !s.arm && len(armed) != 0:
			t.Errorf("%s: armed %v, want nothing", s.name, armed)
		}
	}
}

// connPair returns both ends of a loopback TCP connection, the first one lazy.
func connPair(t *testing.T) (*lazyDeadlineConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { raw.Close(); peer.Close() })
	return &lazyDeadlineConn{Conn: raw}, peer
}

// An armed deadline that expires before the one asked for is not a timeout: the read re-arms and goes on.
func TestLazyDeadlineEarlyExpiryIsNotATimeout(t *testing.T) {
	c, peer := connPair(t)
	if _, err := peer.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(-time.Second)) // armed, already expired
	c.SetReadDeadline(time.Now().Add(time.Hour))    // later: only recorded
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil || b[0] != 'x' {
		t.Fatalf("read %q, %v; want the byte the peer sent", b, err)
	}

	// Asking for no deadline any more works the same way.
	if _, err := peer.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(-time.Second))
	c.SetReadDeadline(time.Time{})
	if _, err := io.ReadFull(c, b); err != nil || b[0] != 'y' {
		t.Fatalf("read %q, %v after clearing the deadline", b, err)
	}

	c.SetWriteDeadline(time.Now().Add(-time.Second))
	c.SetWriteDeadline(time.Now().Add(time.Hour))
	if n, err := c.Write([]byte("z")); n != 1 || err != nil {
		t.Fatalf("write: %d, %v after an early write deadline", n, err)
	}
	if _, err := io.ReadFull(peer, b); err != nil || b[0] != 'z' {
		t.Fatalf("peer read %q, %v", b, err)
	}
}

// The deadline asked for still ends a blocked read, and not before it, even when an earlier one was armed.
func TestLazyDeadlineFiresWhenAsked(t *testing.T) {
	c, _ := connPair(t)
	c.SetReadDeadline(time.Now().Add(5 * time.Millisecond)) // armed
	want := time.Now().Add(40 * time.Millisecond)
	c.SetReadDeadline(want) // recorded; the armed one expires first and is re-armed to this
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want a deadline error", err)
	}
	if now := time.Now(); now.Before(want) {
		t.Errorf("the read timed out %v before the deadline asked for", want.Sub(now))
	}
}
