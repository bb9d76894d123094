package resolver

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// VerifyServer exposes the server certificate rules of a for tests.
func VerifyServer(a *Auth, certs []*x509.Certificate) error {
	v, err := newServerVerifier(a, a.RootCAs)
	if err != nil {
		return err
	}
	return v.verify(certs)
}

// VerifyServerAt is VerifyServer with the clock at now (validity periods).
func VerifyServerAt(a *Auth, certs []*x509.Certificate, now time.Time) error {
	v, err := newServerVerifier(a, a.RootCAs)
	if err != nil {
		return err
	}
	v.now = func() time.Time { return now }
	return v.verify(certs)
}

// TransportFor exposes the management HTTP transport built from a for tests.
func TransportFor(a *Auth) (*http.Transport, error) {
	files, err := a.watchFiles()
	if err != nil {
		return nil, err
	}
	cfg, err := a.tlsConfig(files)
	if err != nil {
		return nil, err
	}
	return newTransport(cfg).Transport.(*http.Transport), nil
}

// SetBackoff replaces the failover backoff of r (before r's first call).
func SetBackoff(r *Resolver, b func() backoff.BackOff) { r.client.backoff = b }

// OnFlightJoined makes r call f(flightKey) each time a caller has joined (or started) a shared naming call
// (before r's first call). Keys start with "S\x00" (GetPartitions) or "P\x00" (ResolvePartition).
func OnFlightJoined(r *Resolver, f func(flightKey string)) { r.testHookJoined = f }

// CheckInvariants verifies the cache structure of r: the services map equals the scheme LRU; every slot in
// the snapshot LRU belongs to a cached service and holds a snapshot of its own partition; every slot of a
// cached service that holds a snapshot is in the snapshot LRU (so MaxPartitions bounds them); versions
// installed are of the slot's partition.
func CheckInvariants(r *Resolver) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := *r.services.Load()
	if len(m) != r.schemeLRU.Len() {
		return fmt.Errorf("services map has %d entries, scheme LRU %d", len(m), r.schemeLRU.Len())
	}
	for _, svc := range r.schemeLRU.Keys() {
		e, _ := r.schemeLRU.Peek(svc)
		if m[svc] != e {
			return fmt.Errorf("service %s: map entry %p, LRU entry %p", svc, m[svc], e)
		}
	}
	tracked := map[*slot]bool{}
	for _, pid := range r.snapLRU.Keys() {
		sl, _ := r.snapLRU.Peek(pid)
		tracked[sl] = true
		owned := false
		for _, e := range m {
			if i, ok := e.scheme.IndexOfID(pid); ok && &e.slots[i] == sl {
				owned = true
			}
		}
		if !owned {
			return fmt.Errorf("snapshot LRU holds partition %s of no cached service (orphan slot)", pid)
		}
		s := sl.snap.Load()
		if s == nil {
			return fmt.Errorf("snapshot LRU holds partition %s with no snapshot", pid)
		}
		if s.Partition.ID != pid {
			return fmt.Errorf("slot of partition %s holds a snapshot of %s", pid, s.Partition.ID)
		}
	}
	if len(tracked) > r.maxPartitions {
		return fmt.Errorf("%d snapshots tracked, MaxPartitions %d", len(tracked), r.maxPartitions)
	}
	for svc, e := range m {
		for i := range e.slots {
			if e.slots[i].snap.Load() != nil && !tracked[&e.slots[i]] {
				return fmt.Errorf("service %s partition %s holds a snapshot the LRU does not track", svc, e.scheme.Partition(i).ID)
			}
		}
	}
	return nil
}
