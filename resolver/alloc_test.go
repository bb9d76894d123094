//go:build !race

package resolver_test

import (
	"testing"

	"github.com/sfgate/sfgate/internal/fakesftest"
	"github.com/sfgate/sfgate/listener"
)

// TestResolveHitDoesNotAllocate: a cache hit (scheme lookup, key parse, snapshot load, age check) and the
// endpoint choice allocate nothing, for every partition kind, with service names longer than 32 bytes.
func TestResolveHitDoesNotAllocate(t *testing.T) {
	c := fakesftest.Start(t)
	r, _ := newResolver(t, []string{c.URL()}, nil)
	for _, tc := range []struct{ service, key string }{
		{orders, "1000"},
		{carts, "asia"},
		{web, ""},
		{products, ""},
	} {
		key := []byte(tc.key)
		service := string([]byte(tc.service)) // not a constant: as the gateway would hold it
		if _, err := r.Resolve(t.Context(), service, key); err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		allocs := testing.AllocsPerRun(1000, func() {
			s, err := r.Resolve(ctx, service, key)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Replicas.Select(listener.Default, ""); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Resolve(%s, %q) hit + Select: %v allocs/op, want 0", tc.service, tc.key, allocs)
		}
	}
	st := r.Stats()
	if st.Misses != 4 {
		t.Errorf("misses = %d, want 4 (one per service); the loop must only hit", st.Misses)
	}
}
