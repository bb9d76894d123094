package listener

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func addr(host string) string {
	return `{"Endpoints":{"":"http:\/\/` + host + `:8080","Admin":"https:\/\/` + host + `:8443"}}`
}

func replica(t testing.TB, kind, address string) Replica {
	t.Helper()
	r, err := ParseReplica(kind, address)
	if err != nil {
		t.Fatalf("ParseReplica(%q, %q): %v", kind, address, err)
	}
	return r
}

// statefulSet: primary on .4, secondaries on .5 (published) and .6 (empty address), .7 (published).
func statefulSet(t testing.TB) *Set {
	return NewSet([]Replica{
		replica(t, "StatefulPrimary", addr("10.0.0.4")),
		replica(t, "StatefulSecondary", addr("10.0.0.5")),
		replica(t, "StatefulSecondary", ""),
		replica(t, "StatefulSecondary", addr("10.0.0.7")),
	})
}

func statelessSet(t testing.TB, hosts ...string) *Set {
	rs := make([]Replica, len(hosts))
	for i, h := range hosts {
		rs[i] = replica(t, "Stateless", addr(h))
	}
	return NewSet(rs)
}

// sequence returns an intN that yields the given values in turn (mod n), for deterministic tests.
func sequence(values ...int) func(int) int {
	i := 0
	return func(n int) int {
		v := values[i%len(values)] % n
		i++
		return v
	}
}

func TestParseRoleAndReplicaType(t *testing.T) {
	for in, want := range map[string]Role{"Stateless": Stateless, "StatefulPrimary": Primary, "StatefulSecondary": Secondary} {
		if got, err := ParseRole(in); err != nil || got != want || got.String() != in {
			t.Errorf("ParseRole(%q) = %v (%s), %v", in, got, got, err)
		}
	}
	for _, bad := range []string{"", "Invalid", "Primary", "statefulprimary"} {
		if _, err := ParseRole(bad); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("ParseRole(%q) error %v, want one naming the value", bad, err)
		}
	}
	for in, want := range map[string]ReplicaType{
		"": Default, "default": Default, "primary": ReplicaPrimary, "PRIMARY": ReplicaPrimary, "Secondary": ReplicaSecondary,
		"any": ReplicaAny, "Any": ReplicaAny, "PrimaryReplica": ReplicaPrimary, "RandomSecondaryReplica": ReplicaSecondary,
		"RandomReplica": ReplicaAny, "RandomInstance": ReplicaAny,
	} {
		if got, err := ParseReplicaType(in); err != nil || got != want {
			t.Errorf("ParseReplicaType(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseReplicaType("leader"); err == nil || !strings.Contains(err.Error(), `"leader"`) {
		t.Errorf("ParseReplicaType(leader) error %v", err)
	}
}

func TestParseReplicaKeepsReplicaOnBadAddress(t *testing.T) {
	r, err := ParseReplica("StatefulPrimary", `{"Endpoints":`)
	if !errors.Is(err, ErrAddress) || r.Role != Primary || r.Address != `{"Endpoints":` || r.Listeners.Len() != 0 {
		t.Fatalf("ParseReplica = %+v, %v", r, err)
	}
	if _, err := ParseReplica("Bogus", ""); err == nil {
		t.Fatal("ParseReplica accepted an unknown kind")
	}
}

func TestSelectStateful(t *testing.T) {
	s := statefulSet(t)
	for _, tc := range []struct {
		name     string
		t        ReplicaType
		listener string
		draw     int // the random start index among candidates
		want     string
	}{
		{"default is primary", Default, "", 0, "http://10.0.0.4:8080"},
		{"primary default listener", ReplicaPrimary, "", 0, "http://10.0.0.4:8080"},
		{"primary named listener", ReplicaPrimary, "Admin", 0, "https://10.0.0.4:8443"},
		{"primary case-insensitive listener", ReplicaPrimary, "aDMIN", 0, "https://10.0.0.4:8443"},
		{"secondary draw 0", ReplicaSecondary, "", 0, "http://10.0.0.5:8080"},
		{"secondary draw 1 skips the empty address", ReplicaSecondary, "", 1, "http://10.0.0.7:8080"},
		{"secondary named", ReplicaSecondary, "admin", 1, "https://10.0.0.7:8443"},
		{"any draw 0 is the primary", ReplicaAny, "", 0, "http://10.0.0.4:8080"},
		{"any draw 1", ReplicaAny, "", 1, "http://10.0.0.5:8080"},
		{"any draw 2 skips the empty address", ReplicaAny, "", 2, "http://10.0.0.7:8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.intN = sequence(tc.draw)
			url, r, err := s.Select(tc.t, tc.listener)
			if err != nil || url != tc.want {
				t.Fatalf("Select = %q, %v; want %q", url, err, tc.want)
			}
			if got, err := r.Listeners.Pick(tc.listener); err != nil || got != url {
				t.Fatalf("returned replica %+v does not publish %q as %q", r, url, tc.listener)
			}
		})
	}
}

func TestSelectSecondaryNeverPicksEmptyAddress(t *testing.T) {
	s := statefulSet(t) // real random source
	for range 500 {
		url, r, err := s.Select(ReplicaSecondary, "")
		if err != nil || r.Role != Secondary || r.Address == "" || url == "" {
			t.Fatalf("Select(secondary) = %q, %+v, %v", url, r, err)
		}
	}
}

func TestSelectStatelessSpreadsOverInstances(t *testing.T) {
	hosts := []string{"10.0.0.4", "10.0.0.5", "10.0.0.6"}
	s := statelessSet(t, hosts...)
	if s.Stateful() {
		t.Fatal("stateless set reports stateful")
	}
	// Deterministic: draw k picks instance k.
	for k, h := range hosts {
		s.intN = sequence(k)
		url, r, err := s.Select(Default, "")
		if want := "http://" + h + ":8080"; err != nil || url != want || r != &s.Replicas()[k] {
			t.Fatalf("draw %d: Select(Default) = %q, %p, %v; want %q, replica %d", k, url, r, err, want, k)
		}
	}
	// With the real math/rand/v2 source every instance is chosen over 1000 draws
	// (the chance that one is never chosen is about 3·(2/3)^1000).
	s = statelessSet(t, hosts...)
	seen := map[string]int{}
	for range 1000 {
		url, _, err := s.Select(Default, "Admin")
		if err != nil {
			t.Fatal(err)
		}
		seen[url]++
	}
	for _, h := range hosts {
		if seen["https://"+h+":8443"] == 0 {
			t.Fatalf("instance %s never chosen: %v", h, seen)
		}
	}
}

func TestSelectSkipsCandidatesWithoutTheListener(t *testing.T) {
	s := NewSet([]Replica{
		replica(t, "Stateless", `{"Endpoints":{"":"http://a:1"}}`),
		replica(t, "Stateless", `{"Endpoints":{"":"http://b:1","Grpc":"https://b:2"}}`),
		replica(t, "Stateless", "10.0.0.9:20001+p-r"), // has an address, but no http(s) default
	})
	for draw := range 3 {
		s.intN = sequence(draw)
		if url, _, err := s.Select(ReplicaAny, "grpc"); err != nil || url != "https://b:2" {
			t.Fatalf("draw %d: Select(any, grpc) = %q, %v", draw, url, err)
		}
		url, _, err := s.Select(ReplicaAny, "")
		if err != nil || (url != "http://a:1" && url != "http://b:1") {
			t.Fatalf("draw %d: Select(any, \"\") = %q, %v", draw, url, err)
		}
	}
	s.intN = sequence(2)
	if url, _, _ := s.Select(ReplicaAny, ""); url != "http://a:1" {
		t.Fatalf("from the remoting instance the next candidate in order should be taken, got %q", url)
	}
}

func TestSelectErrors(t *testing.T) {
	onlySecondaries := NewSet([]Replica{replica(t, "StatefulSecondary", addr("10.0.0.5"))})
	silentPrimary := NewSet([]Replica{replica(t, "StatefulPrimary", ""), replica(t, "StatefulSecondary", "")})
	stateless := statelessSet(t, "10.0.0.4", "10.0.0.5")
	silentStateless := NewSet([]Replica{replica(t, "Stateless", ""), replica(t, "Stateless", "")})
	empty := NewSet(nil)
	for _, tc := range []struct {
		name     string
		s        *Set
		t        ReplicaType
		listener string
		is       error
		msg      string
	}{
		{"no primary in reconfiguration", onlySecondaries, Default, "", ErrNoPrimary, "listener: no primary replica (partition may be in reconfiguration)"},
		{"primary without address", silentPrimary, ReplicaPrimary, "", ErrNoPrimary, "listener: no primary replica: the primary published no address"},
		{"stateless has no primary", stateless, ReplicaPrimary, "", ErrNoPrimary, "listener: no primary replica: the service is stateless; use replica type any"},
		{"no secondary with an address", silentPrimary, ReplicaSecondary, "", ErrNoSecondary, "listener: no secondary with an address (1 secondaries, none published an address)"},
		{"stateless has no secondary", stateless, ReplicaSecondary, "", ErrNoSecondary, "listener: no secondary with an address (0 secondaries, none published an address)"},
		{"no instance with an address", silentStateless, Default, "", ErrNoReplica, "listener: no replica with an address (2 replicas, none published an address)"},
		{"empty set", empty, Default, "", ErrNoReplica, "listener: no replica with an address (0 replicas, none published an address)"},
		{"empty set primary", empty, ReplicaPrimary, "", ErrNoPrimary, "listener: no primary replica (partition may be in reconfiguration)"},
		{"listener missing on primary", statefulSet(t), Default, "Metrics", ErrNoListener,
			`listener "Metrics" not published by the primary (published: "": "http://10.0.0.4:8080", "Admin": "https://10.0.0.4:8443")`},
		{"listener missing on secondaries", statefulSet(t), ReplicaSecondary, "Metrics", ErrNoListener,
			`listener "Metrics" not published by any of 2 secondaries (published: "": "http://10.0.0.5:8080", "Admin": "https://10.0.0.5:8443")`},
		{"listener missing on instances", stateless, Default, "Metrics", ErrNoListener,
			`listener "Metrics" not published by any of 2 instances (published: "": "http://10.0.0.4:8080", "Admin": "https://10.0.0.4:8443")`},
		{"listener missing on the only usable replica", onlySecondaries, ReplicaAny, "Metrics", ErrNoListener,
			`listener "Metrics" not published by the secondary (published: "": "http://10.0.0.5:8080", "Admin": "https://10.0.0.5:8443")`},
		{"unknown replica type", stateless, ReplicaType(9), "", nil, "listener: unknown replica type 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.s.intN = sequence(0)
			url, r, err := tc.s.Select(tc.t, tc.listener)
			if err == nil || url != "" || r != nil {
				t.Fatalf("Select = %q, %v, %v; want an error", url, r, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v is not %v", err, tc.is)
			}
			if err.Error() != tc.msg {
				t.Fatalf("error:\n got %s\nwant %s", err, tc.msg)
			}
		})
	}
	// The listener error names the role and is a *ListenerError.
	_, _, err := statefulSet(t).Select(ReplicaPrimary, "x")
	var le *ListenerError
	if !errors.As(err, &le) || le.Role != Primary || le.Name != "x" || le.Tried != 1 {
		t.Fatalf("want *ListenerError{Role: Primary, Name: x}, got %#v", err)
	}
}

func TestNewSetCopiesAndParsesAddresses(t *testing.T) {
	in := []Replica{{Role: Stateless, Address: addr("10.0.0.4")}, {Role: Stateless, Address: `{"bad`}}
	s := NewSet(in)
	in[0].Address = "changed"
	rs := s.Replicas()
	if len(rs) != 2 || rs[0].Address != addr("10.0.0.4") || rs[0].Listeners.Len() != 2 || rs[1].Listeners.Len() != 0 {
		t.Fatalf("NewSet did not copy and parse: %+v", rs)
	}
	for range 100 {
		url, r, err := s.Select(Default, "")
		if err != nil || url != "http://10.0.0.4:8080" || r != &rs[0] {
			t.Fatalf("Select chose %q, %p, %v; only replica 0 is usable", url, r, err)
		}
	}
}

func TestSelectDoesNotAllocate(t *testing.T) {
	stateful := statefulSet(t)
	stateless := statelessSet(t, "10.0.0.4", "10.0.0.5", "10.0.0.6")
	for _, tc := range []struct {
		name     string
		s        *Set
		t        ReplicaType
		listener string
	}{
		{"primary", stateful, ReplicaPrimary, ""},
		{"default stateful", stateful, Default, ""},
		{"secondary", stateful, ReplicaSecondary, ""},
		{"any", stateful, ReplicaAny, ""},
		{"default stateless", stateless, Default, ""},
		{"named listener", stateless, Default, "Admin"},
		{"case-insensitive listener", stateful, ReplicaPrimary, "ADMIN"},
		{"case-insensitive secondary", stateful, ReplicaSecondary, "admin"},
	} {
		var n int
		allocs := testing.AllocsPerRun(1000, func() {
			url, _, err := tc.s.Select(tc.t, tc.listener)
			if err != nil {
				t.Fatal(err)
			}
			n += len(url)
		})
		if allocs != 0 {
			t.Errorf("%s: Select allocates %v times per call, want 0", tc.name, allocs)
		}
	}
}

func BenchmarkSelect(b *testing.B) {
	stateful := statefulSet(b)
	stateless := statelessSet(b, "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.8")
	for _, tc := range []struct {
		name     string
		s        *Set
		t        ReplicaType
		listener string
	}{
		{"Primary", stateful, ReplicaPrimary, ""},
		{"PrimaryNamed", stateful, ReplicaPrimary, "Admin"},
		{"PrimaryCaseInsensitive", stateful, ReplicaPrimary, "admin"},
		{"Secondary", stateful, ReplicaSecondary, ""},
		{"StatelessAny", stateless, Default, ""},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := tc.s.Select(tc.t, tc.listener); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseAddress(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAddress(sfTwoListeners); err != nil {
			b.Fatal(err)
		}
	}
}
