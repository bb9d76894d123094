package resolver

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// sfVersion builds a Version string the way SF's gateway does: JSON, then URL-escaped (docs/servicefabric.md §2).
func sfVersion(pid, fm, gen string) string {
	js := `{"PartitionId":"` + pid + `","FMVersion":"` + fm + `","StoreVersion":"7","GenerationNumber":{"Generation":"` + gen + `","NodeId":{"Id":"5d1c0e2f"}}}`
	var b strings.Builder
	for i := 0; i < len(js); i++ {
		if strings.IndexByte("{}\"[]&^`|<>\\ ", js[i]) >= 0 {
			b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[js[i]>>4])+string("0123456789abcdef"[js[i]&15])))
			continue
		}
		b.WriteByte(js[i])
	}
	return b.String()
}

func TestVersionOrdering(t *testing.T) {
	const p = "8f0c2d7a-5b1e-4c3f-9a6d-2e4b7c1d9f00"
	for _, tc := range []struct {
		a, b  string
		order int
		ok    bool
	}{
		{sfVersion(p, "42", "100"), sfVersion(p, "42", "100"), 0, true},
		{sfVersion(p, "43", "100"), sfVersion(p, "42", "100"), 1, true},
		{sfVersion(p, "42", "100"), sfVersion(p, "43", "100"), -1, true},
		{sfVersion(p, "1", "101"), sfVersion(p, "99", "100"), 1, true},             // Generation first
		{sfVersion(p, "9", "100"), sfVersion(p, "10", "100"), -1, true},            // numbers, not strings
		{sfVersion(strings.ToUpper(p), "2", "1"), sfVersion(p, "1", "1"), 1, true}, // GUID case does not matter
		{sfVersion(p, "2", "1"), sfVersion("other", "1", "1"), 0, false},           // another partition: not comparable
		{"opaque", sfVersion(p, "1", "1"), 0, false},
		{sfVersion(p, "x", "1"), sfVersion(p, "1", "1"), 0, false},
		{"%ZZ", "%7B%7D", 0, false},
	} {
		order, ok := parseVersion(tc.a).compare(parseVersion(tc.b))
		if order != tc.order || ok != tc.ok {
			t.Errorf("compare(%s, %s) = %d, %v; want %d, %v", tc.a, tc.b, order, ok, tc.order, tc.ok)
		}
	}
	// The decoded testdata answer carries its version.
	s, err := decodeResolved(readTestdata(t, "resolve_int64range.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.version.ok || s.version.fmVersion != 42 || s.version.generation != 133512345678901234 {
		t.Errorf("decoded version = %+v, want FMVersion 42, Generation 133512345678901234", s.version)
	}
}

// FuzzParseVersion: Version strings come from the network (and PreviousRspVersion from the gateway's caller);
// decoding never panics, and comparison is antisymmetric.
func FuzzParseVersion(f *testing.F) {
	f.Add(sfVersion("8f0c2d7a", "42", "133512345678901234"), sfVersion("8f0c2d7a", "43", "133512345678901234"))
	f.Add(`{"PartitionId":"p","FMVersion":1,"GenerationNumber":{"Generation":"2"}}`, "%7B%7D")
	f.Add("%", "")
	f.Fuzz(func(t *testing.T, a, b string) {
		va, vb := parseVersion(a), parseVersion(b)
		ab, okAB := va.compare(vb)
		ba, okBA := vb.compare(va)
		if okAB != okBA || ab != -ba {
			t.Fatalf("compare(%q, %q) = %d %v but reversed %d %v", a, b, ab, okAB, ba, okBA)
		}
		if va.ok {
			if order, ok := va.compare(va); !ok || order != 0 {
				t.Fatalf("%q does not equal itself", a)
			}
		}
	})
}

// TestBackoffIsBoundedAndJittered: the failover waits grow from 50 ms, never exceed 2 s ± 50 %, and differ
// between operations (jitter), so failing callers do not retry in lockstep.
func TestBackoffIsBoundedAndJittered(t *testing.T) {
	first := map[time.Duration]bool{}
	for range 50 {
		b := newBackoff()
		nominal := 50 * time.Millisecond
		for i := range 12 {
			d := b.NextBackOff()
			if d == backoff.Stop {
				t.Fatalf("wait %d: backoff stopped; attempts are bounded by MaxAttempts, not by elapsed time", i)
			}
			if lo, hi := nominal/2, nominal*3/2; d < lo || d > hi {
				t.Fatalf("wait %d = %v, want within [%v, %v]", i, d, lo, hi)
			}
			if i == 0 {
				first[d] = true
			}
			nominal = min(2*nominal, 2*time.Second)
		}
	}
	if len(first) < 10 {
		t.Errorf("50 operations drew only %d distinct first waits: no jitter", len(first))
	}
}

// TestGetStopsBackoffWhenContextEnds: an operation waiting between attempts returns as soon as its context
// ends, with the context error and the last attempt's error.
func TestGetStopsBackoffWhenContextEnds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	cfg, err := (&Auth{}).tlsConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c := &namingClient{
		endpoints:   []string{dead},
		pipeline:    newPipeline(newTransport(cfg), nil),
		callTimeout: time.Minute,
		maxAttempts: 5,
		backoff:     func() backoff.BackOff { return cancelingBackOff(cancel) },
		stats:       new(counters),
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.get(ctx, "ResolvePartition", "/Services/A~B/$/ResolvePartition", "api-version=6.0")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), dead) {
			t.Errorf("get = %v; want context.Canceled with the last attempt's error", err)
		}
	case <-time.After(30 * time.Second): // hang detector, not a timing assertion
		t.Fatal("get waits out its backoff after the context ended")
	}
}

// cancelingBackOff asks for a one-hour wait and cancels the operation's context as the wait begins.
type cancelingBackOff context.CancelFunc

func (b cancelingBackOff) NextBackOff() time.Duration {
	b()
	return time.Hour
}

func (cancelingBackOff) Reset() {}
