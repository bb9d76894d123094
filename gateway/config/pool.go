package config

import (
	"fmt"
	"strings"
)

// Pool is APIM's BackendPool: the backends a Pool backend spreads requests over.
type Pool struct {
	Pos      Pos
	Services []*PoolMember `yaml:"services"`
}

// PoolMember is one backend of a pool. Requests go to the best (lowest) priority that has a member whose
// circuit breaker is not tripped, round-robin weighted by Weight within it.
type PoolMember struct {
	Pos Pos
	// ID names a single backend: "orders-west", or APIM's form "/backends/orders-west".
	ID string `yaml:"id"`
	// Priority: 0 (the default) is the highest, 100 the lowest.
	Priority int `yaml:"priority"`
	// Weight is the member's share within its priority, 1..100 (default 1).
	Weight *int `yaml:"weight"`
}

// Backend types (Backend.Type).
const (
	TypeSingle = "Single"
	TypePool   = "Pool"
)

// Pool bounds.
const (
	MaxPoolMembers = 64
	MaxPoolWeight  = 100
	MaxPoolPrio    = 100
)

// IsPool reports whether the backend is a pool (type: Pool).
func (b *Backend) IsPool() bool { return strings.EqualFold(b.Type, TypePool) }

// BackendID is the backend-id a member names: "x", APIM's "/backends/x" and a full resource ID ending in
// "/backends/x" all give "x".
func (m *PoolMember) BackendID() string {
	if i := strings.LastIndex(m.ID, "/backends/"); i >= 0 {
		return m.ID[i+len("/backends/"):]
	}
	return m.ID
}

// MemberWeight is the member's weight (1 when not given).
func (m *PoolMember) MemberWeight() int {
	if m.Weight == nil {
		return 1
	}
	return *m.Weight
}

// checkPools checks every backend's type, and each pool's members once all backends are known: they must be
// single backends of this file, each named once.
func checkPools(l *errorList, cfg *Config, ids []string) {
	for _, id := range ids {
		b := cfg.Backends[id]
		if b == nil {
			continue
		}
		field := "backends." + id
		switch {
		case b.Type == "" || strings.EqualFold(b.Type, TypeSingle):
			if b.Pool != nil {
				l.bad(field+".pool", "only a backend with type: Pool has pool members")
			}
			continue
		case !b.IsPool():
			l.bad(field+".type", "%q is not Single or Pool", b.Type)
			continue
		}
		for name, set := range map[string]bool{
			"url": b.URL != "", "serviceFabricCluster": b.ServiceFabricCluster != nil, "credentials": b.Credentials != nil,
			"tls": b.TLS != nil, "circuitBreaker": b.CircuitBreaker != nil, "retryBudget": b.RetryBudget != nil,
		} {
			if set {
				l.bad(field+"."+name, "a pool has no %s of its own: give it to the member backends", name)
			}
		}
		if b.Pool == nil || len(b.Pool.Services) == 0 {
			l.bad(field+".pool.services", "required: the member backends, such as [{id: orders-west, priority: 1, weight: 3}]")
			continue
		}
		if len(b.Pool.Services) > MaxPoolMembers {
			l.bad(field+".pool.services", "%d members, more than the %d allowed", len(b.Pool.Services), MaxPoolMembers)
		}
		seen := map[string]bool{}
		for i, m := range b.Pool.Services {
			mf := fmt.Sprintf("%s.pool.services[%d]", field, i)
			if m == nil {
				l.bad(mf, "empty member")
				continue
			}
			mid := m.BackendID()
			member, ok := cfg.Backends[mid]
			switch {
			case m.ID == "":
				l.bad(mf+".id", "required: a backend-id, such as orders-west or /backends/orders-west")
			case !ok || member == nil:
				l.bad(mf+".id", "no backend %q is configured (see backends:)", mid)
			case member.IsPool():
				l.bad(mf+".id", "%q is a pool: a pool's members are single backends (pools of pools are not allowed, as in APIM)", mid)
			case seen[mid]:
				l.bad(mf+".id", "backend %q is already a member of this pool", mid)
			}
			seen[mid] = true
			if m.Priority < 0 || m.Priority > MaxPoolPrio {
				l.bad(mf+".priority", "%d is outside 0..%d (0 is the highest)", m.Priority, MaxPoolPrio)
			}
			if w := m.MemberWeight(); w < 1 || w > MaxPoolWeight {
				l.bad(mf+".weight", "%d is outside 1..%d", w, MaxPoolWeight)
			}
		}
	}
}
