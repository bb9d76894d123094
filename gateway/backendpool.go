package gateway

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/sfgate/sfgate/gateway/config"
	"github.com/sfgate/sfgate/gateway/expr"
	"github.com/sfgate/sfgate/gateway/policy"
)

// backendPool is a compiled Pool backend (docs/configuration.md, "Pools"): its members grouped by priority,
// best first. A request goes to the best priority that has a member whose circuit breaker is not tripped,
// weighted round-robin within it; a member whose breaker refuses the attempt is left for the next choice.
type backendPool struct {
	groups []*poolGroup
}

type poolGroup struct {
	priority int
	members  []*backend
	weights  []int
	bits     []uint64      // each member's bit in a request's set of refused members
	next     atomic.Uint64 // round-robin position
}

// compilePool links the members of pool bc to their compiled backends (checked by config: single, known,
// named once, at most 64).
func compilePool(bc *config.Backend, backends map[string]*backend) *backendPool {
	byPrio := map[int]*poolGroup{}
	for i, m := range bc.Pool.Services {
		g := byPrio[m.Priority]
		if g == nil {
			g = &poolGroup{priority: m.Priority}
			byPrio[m.Priority] = g
		}
		g.members = append(g.members, backends[m.BackendID()])
		g.weights = append(g.weights, m.MemberWeight())
		g.bits = append(g.bits, 1<<i)
	}
	p := &backendPool{}
	for _, g := range byPrio {
		p.groups = append(p.groups, g)
	}
	slices.SortFunc(p.groups, func(a, b *poolGroup) int { return a.priority - b.priority })
	return p
}

// pick chooses the member for the next send, skipping those in refused and those whose backend-scope breaker
// is open; nil when none is left.
func (p *backendPool) pick(refused uint64) (*backend, uint64) {
	for _, g := range p.groups {
		total := 0
		for i, m := range g.members {
			if refused&g.bits[i] == 0 && !m.tripped() {
				total += g.weights[i]
			}
		}
		if total == 0 {
			continue // every member of this priority is tripped: the next priority takes over
		}
		r := int((g.next.Add(1) - 1) % uint64(total))
		for i, m := range g.members {
			if refused&g.bits[i] != 0 || m.tripped() {
				continue
			}
			if r < g.weights[i] {
				return m, g.bits[i]
			}
			r -= g.weights[i]
		}
	}
	return nil, 0
}

// tripped reports whether the backend's whole-backend circuit breaker refuses requests now (a partition's or
// replica's breaker is known only once the request is resolved: the attempt finds out).
func (b *backend) tripped() bool {
	cb := b.breaker
	if cb == nil || cb.scope != config.ScopeBackend {
		return false
	}
	switch cb.whole.state.Load() {
	case breakerClosed:
		return false
	case breakerOpen:
		return cb.now().UnixNano() < cb.whole.openUntil.Load()
	}
	return true // a probe is in flight
}

// soonestOpen is how long until the first open backend-scope breaker of a member lets a probe through (for
// Retry-After); -1 when no member has one open.
func (p *backendPool) soonestOpen() time.Duration {
	wait := time.Duration(-1)
	for _, g := range p.groups {
		for _, m := range g.members {
			if cb := m.breaker; cb != nil && cb.scope == config.ScopeBackend && cb.whole.state.Load() != breakerClosed {
				if d := max(time.Duration(cb.whole.openUntil.Load()-cb.now().UnixNano()), 0); wait < 0 || d < wait {
					wait = d
				}
			}
		}
	}
	return wait
}

// forwardPool sends the request to a member of the pool: the chosen member's own forwarding (and, for a
// Service Fabric member, its resolve loop) runs as if the policy had named it. When the member's breaker
// refused the request before anything was sent, the next choice is tried.
func (s *reqState) forwardPool(ctx context.Context, c *expr.Context, t *policy.Target, p *backendPool, timeout time.Duration) error {
	var refused uint64
	wait := p.soonestOpen() // the members pick leaves out; -1: none
	for {
		m, bit := p.pick(refused)
		if m == nil {
			break
		}
		err := s.forwardBackend(ctx, c, t, m, timeout)
		fe, ok := err.(*forwardError)
		if !ok || !fe.tripped {
			return err
		}
		refused |= bit
		if wait < 0 || fe.wait < wait {
			wait = fe.wait
		}
	}
	// Every member's breaker refused the request: the answer is a tripped breaker's, with the soonest probe.
	return &forwardError{reason: expr.ReasonBackendConnectionFailure, notSent: true, tripped: true, wait: max(wait, 0),
		endpoint: []byte("every member of the backend pool"), err: errCircuitOpen}
}
