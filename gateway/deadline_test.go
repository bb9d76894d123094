package gateway

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// deadlineRecorder is a net.Conn that records the deadlines armed on it.
type deadlineRecorder struct {
	net.Conn
	reads, writes []time.Time
}

func (r *deadlineRecorder) SetReadDeadline(t time.Time) error {
	r.reads = append(r.reads, t)
	return nil
}
func (r *deadlineRecorder) SetWriteDeadline(t time.Time) error {
	r.writes = append(r.writes, t)
	return nil
}

func TestLazyDeadlineRearmsOnlyOutsideTheSlack(t *testing.T) {
	rec := &deadlineRecorder{}
	c := &lazyDeadlineConn{Conn: rec}
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	steps := []struct {
		name string
		t    time.Time
		arm  bool // whether the real deadline must change
		want time.Time
	}{
		{"first deadline: armed, slack late", t0, true, t0.Add(deadlineSlack)},
		{"a later one inside the slack: kept", t0.Add(deadlineSlack / 2), false, time.Time{}},
		{"exactly the armed one: kept", t0.Add(deadlineSlack), false, time.Time{}},
		{"past the armed one: re-armed", t0.Add(deadlineSlack + time.Millisecond), true, t0.Add(2*deadlineSlack + time.Millisecond)},
		{"earlier than the armed one by more than the slack: re-armed, never late by more", t0, true, t0.Add(deadlineSlack)},
		{"no deadline: cleared", time.Time{}, true, time.Time{}},
		{"no deadline again: nothing to do", time.Time{}, false, time.Time{}},
		{"a deadline after none: armed", t0, true, t0.Add(deadlineSlack)},
	}
	for _, s := range steps {
		nr, nw := len(rec.reads), len(rec.writes)
		c.SetDeadline(s.t)
		for what, calls := range map[string][]time.Time{"read": rec.reads[nr:], "write": rec.writes[nw:]} {
			switch {
			case !s.arm && len(calls) != 0:
				t.Errorf("%s: %s deadline re-armed to %v, want it kept", s.name, what, calls)
			case s.arm && (len(calls) != 1 || !calls[0].Equal(s.want)):
				t.Errorf("%s: %s deadline armed %v, want [%v]", s.name, what, calls, s.want)
			}
		}
	}
}

// On a real connection a lazily armed read deadline still ends a blocked read, and not before the deadline
// asked for.
func TestLazyDeadlineFiresOnARealConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	peer := <-accepted
	defer peer.Close()

	c := &lazyDeadlineConn{Conn: raw}
	deadline := time.Now().Add(20 * time.Millisecond)
	c.SetReadDeadline(deadline)
	c.SetReadDeadline(deadline.Add(time.Millisecond)) // inside the slack: not re-armed
	_, err = c.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want a deadline error", err)
	}
	if now := time.Now(); now.Before(deadline) {
		t.Errorf("the read ended %v before the deadline", deadline.Sub(now))
	}
}
