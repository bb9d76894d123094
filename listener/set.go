package listener

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Role is the role of one resolved endpoint (SF ServiceEndpointRole, Endpoints[].Kind).
type Role uint8

// Endpoint roles.
const (
	Stateless Role = 1 // an instance of a stateless service
	Primary   Role = 2 // the primary replica of a stateful service
	Secondary Role = 3 // a secondary replica of a stateful service
)

// String returns SF's spelling: "Stateless", "StatefulPrimary" or "StatefulSecondary".
func (r Role) String() string {
	switch r {
	case Stateless:
		return "Stateless"
	case Primary:
		return "StatefulPrimary"
	case Secondary:
		return "StatefulSecondary"
	}
	return "Role(" + strconv.Itoa(int(r)) + ")"
}

// noun names the role in error messages.
func (r Role) noun() string {
	switch r {
	case Stateless:
		return "instance"
	case Primary:
		return "primary"
	case Secondary:
		return "secondary"
	}
	return "replica"
}

// plural names several replicas of the role in error messages.
func (r Role) plural() string {
	switch r {
	case Stateless:
		return "instances"
	case Secondary:
		return "secondaries"
	}
	return "replicas"
}

// ParseRole parses SF's Endpoints[].Kind: "Stateless", "StatefulPrimary" or
// "StatefulSecondary" (exact, as SF prints them).
func ParseRole(kind string) (Role, error) {
	switch kind {
	case "Stateless":
		return Stateless, nil
	case "StatefulPrimary":
		return Primary, nil
	case "StatefulSecondary":
		return Secondary, nil
	}
	return 0, fmt.Errorf("listener: unknown endpoint kind %q (want Stateless, StatefulPrimary or StatefulSecondary)", kind)
}

// Replica is one resolved endpoint of a partition.
type Replica struct {
	Role      Role
	Address   string    // as published, raw
	Listeners Listeners // parsed Address
}

// ParseReplica builds a Replica from one ResolvePartition Endpoints[] entry. If only the
// address is malformed it returns the replica (with no listeners, so it is never chosen)
// together with the error, so the caller can keep the replica and report the error.
func ParseReplica(kind, address string) (Replica, error) {
	role, err := ParseRole(kind)
	if err != nil {
		return Replica{}, err
	}
	r := Replica{Role: role, Address: address}
	r.Listeners, err = ParseAddress(address)
	return r, err
}

// ReplicaType selects which replica of a partition serves a request.
type ReplicaType uint8

// Replica types.
const (
	Default          ReplicaType = 0 // primary for a stateful set, any instance for a stateless one
	ReplicaPrimary   ReplicaType = 1 // the primary
	ReplicaSecondary ReplicaType = 2 // a random secondary that published an address
	ReplicaAny       ReplicaType = 3 // a random replica or instance that published an address
)

// String returns "default", "primary", "secondary" or "any".
func (t ReplicaType) String() string {
	switch t {
	case Default:
		return "default"
	case ReplicaPrimary:
		return "primary"
	case ReplicaSecondary:
		return "secondary"
	case ReplicaAny:
		return "any"
	}
	return "ReplicaType(" + strconv.Itoa(int(t)) + ")"
}

// ParseReplicaType parses a replica type case-insensitively: "" or "default", "primary",
// "secondary", "any"; also the SF reverse proxy's TargetReplicaSelector names
// "PrimaryReplica", "RandomSecondaryReplica", "RandomReplica" and "RandomInstance".
func ParseReplicaType(s string) (ReplicaType, error) {
	switch strings.ToLower(s) {
	case "", "default":
		return Default, nil
	case "primary", "primaryreplica":
		return ReplicaPrimary, nil
	case "secondary", "randomsecondaryreplica":
		return ReplicaSecondary, nil
	case "any", "randomreplica", "randominstance":
		return ReplicaAny, nil
	}
	return 0, fmt.Errorf("listener: unknown replica type %q (want primary, secondary, any or empty for the default)", s)
}

// Errors returned by Select; test with errors.Is.
var (
	// ErrNoPrimary: the set has no primary, or the primary published no address.
	ErrNoPrimary = errors.New("no primary replica")
	// ErrNoSecondary: the set has no secondary that published an address.
	ErrNoSecondary = errors.New("no secondary with an address")
	// ErrNoReplica: the set has no replica or instance that published an address.
	ErrNoReplica = errors.New("no replica with an address")
	// ErrNoListener: the chosen replicas do not publish the requested listener (or, with no
	// name, no http(s) listener). Wrapped by *ListenerError.
	ErrNoListener = errors.New("listener not published")
)

// ListenerError reports that no candidate replica publishes the requested listener.
type ListenerError struct {
	Name      string // requested listener; "" means the default (http/https) listener
	Role      Role   // role of the replicas tried; 0 if unknown
	Tried     int    // how many replicas were tried (0 or 1: one replica)
	Published string // the first tried replica's listeners, `"name": "address"`, capped to a few
}

// Error names the listener, the replica role and what is published.
func (e *ListenerError) Error() string {
	who := "the " + e.Role.noun()
	if e.Tried > 1 {
		who = "any of " + strconv.Itoa(e.Tried) + " " + e.Role.plural()
	}
	if e.Name == "" {
		return "no http(s) listener published by " + who + "; name a listener (published: " + e.Published + ")"
	}
	return "listener " + strconv.Quote(e.Name) + " not published by " + who + " (published: " + e.Published + ")"
}

// Unwrap returns ErrNoListener.
func (e *ListenerError) Unwrap() error { return ErrNoListener }

// Set is the immutable replica set of one partition, built once per resolution. Safe for
// concurrent use.
type Set struct {
	replicas   []Replica
	primary    int   // index of the first primary, -1 if none
	secondary  []int // secondaries that published an address
	usable     []int // all replicas that published an address
	stateful   bool  // any primary or secondary present
	secondaryN int   // secondaries, with or without an address
	// intN returns a random int in [0,n); rand.IntN, replaceable in tests.
	intN func(n int) int
}

// NewSet builds a Set. replicas is copied. A replica whose Listeners is empty but whose
// Address is not gets its Address parsed here; if that fails the replica keeps no listeners and
// is never chosen (call ParseAddress or ParseReplica first to see the error).
func NewSet(replicas []Replica) *Set {
	s := &Set{replicas: append([]Replica(nil), replicas...), primary: -1, intN: rand.IntN}
	for i := range s.replicas {
		r := &s.replicas[i]
		if r.Listeners.Len() == 0 && r.Address != "" {
			r.Listeners, _ = ParseAddress(r.Address)
		}
		usable := r.Listeners.Len() > 0
		switch r.Role {
		case Primary:
			s.stateful = true
			if s.primary < 0 {
				s.primary = i
			}
		case Secondary:
			s.stateful = true
			s.secondaryN++
			if usable {
				s.secondary = append(s.secondary, i)
			}
		}
		if usable {
			s.usable = append(s.usable, i)
		}
	}
	return s
}

// Replicas returns the replicas in the order given to NewSet. The slice is shared and must not
// be modified.
func (s *Set) Replicas() []Replica { return s.replicas[:len(s.replicas):len(s.replicas)] }

// Stateful reports whether the set holds stateful replicas (a primary or secondaries).
func (s *Set) Stateful() bool { return s.stateful }

// Select picks a replica by type (Default = primary for a stateful set, any instance for a
// stateless one) and then its listener by name (see Listeners.Pick). Among several candidates
// (secondary, any) it starts at a random one and takes the first, in order, that publishes the
// listener. It does not allocate on success. Errors: ErrNoPrimary, ErrNoSecondary,
// ErrNoReplica, or a *ListenerError.
func (s *Set) Select(t ReplicaType, listenerName string) (url string, r *Replica, err error) {
	if t == Default {
		t = ReplicaAny
		if s.stateful {
			t = ReplicaPrimary
		}
	}
	switch t {
	case ReplicaPrimary:
		if s.primary < 0 {
			if !s.stateful && len(s.replicas) > 0 {
				return "", nil, fmt.Errorf("listener: %w: the service is stateless; use replica type any", ErrNoPrimary)
			}
			return "", nil, fmt.Errorf("listener: %w (partition may be in reconfiguration)", ErrNoPrimary)
		}
		r := &s.replicas[s.primary]
		if r.Listeners.Len() == 0 {
			return "", nil, fmt.Errorf("listener: %w: the primary published no address", ErrNoPrimary)
		}
		if u, ok := r.Listeners.pick(listenerName); ok {
			return u, r, nil
		}
		return "", nil, &ListenerError{Name: listenerName, Role: Primary, Tried: 1, Published: r.Listeners.describe()}
	case ReplicaSecondary:
		if len(s.secondary) == 0 {
			return "", nil, fmt.Errorf("listener: %w (%d secondaries, none published an address)", ErrNoSecondary, s.secondaryN)
		}
		return s.pickAmong(s.secondary, listenerName)
	case ReplicaAny:
		if len(s.usable) == 0 {
			return "", nil, fmt.Errorf("listener: %w (%d replicas, none published an address)", ErrNoReplica, len(s.replicas))
		}
		return s.pickAmong(s.usable, listenerName)
	}
	return "", nil, fmt.Errorf("listener: unknown replica type %d", t)
}

// pickAmong starts at a random candidate and returns the first, cyclically, that publishes
// the listener.
func (s *Set) pickAmong(candidates []int, listenerName string) (string, *Replica, error) {
	n := len(candidates)
	start := 0
	if n > 1 {
		start = s.intN(n)
	}
	for k := range n {
		r := &s.replicas[candidates[(start+k)%n]]
		if u, ok := r.Listeners.pick(listenerName); ok {
			return u, r, nil
		}
	}
	r := &s.replicas[candidates[start]]
	role := r.Role
	for _, i := range candidates {
		if s.replicas[i].Role != role {
			role = 0 // mixed roles: "replica"
		}
	}
	return "", nil, &ListenerError{Name: listenerName, Role: role, Tried: n, Published: r.Listeners.describe()}
}
