package resolver_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/fakesftest"
	"github.com/sfgate/sfgate/resolver"
)

// BenchmarkResolveHit measures a cache hit: Int64Range key parse, partition lookup, snapshot load and age
// check, with keys spread over the four partitions.
func BenchmarkResolveHit(b *testing.B) {
	c := fakesftest.Start(b)
	r, _ := newResolver(b, []string{c.URL()}, nil)
	keys := make([][]byte, 64)
	for i := range keys {
		keys[i] = []byte(strconv.Itoa(i * 16))
		if _, err := r.Resolve(context.Background(), orders, keys[i]); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	b.Run("single", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := r.Resolve(ctx, orders, keys[i&63]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := r.Resolve(ctx, orders, keys[i&63]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	})
}

// BenchmarkResolveMissFakesf measures a cold resolution against fakesf on loopback: one ResolvePartition
// round trip through the azcore pipeline and the decode (the scheme stays cached; the snapshot cache holds one
// partition, and alternating keys of two partitions evicts it each time).
func BenchmarkResolveMissFakesf(b *testing.B) {
	c := fakesftest.Start(b)
	r, _ := newResolver(b, []string{c.URL()}, func(o *resolver.Options) { o.MaxPartitions = 1 })
	ctx := context.Background()
	if _, err := r.Scheme(ctx, orders); err != nil {
		b.Fatal(err)
	}
	keys := [][]byte{[]byte("1"), []byte("300")}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := r.Resolve(ctx, orders, keys[i&1]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.StopTimer()
	if st := r.Stats(); st.Hits != 0 {
		b.Fatalf("%d hits: the benchmark must only miss", st.Hits)
	}
}

// BenchmarkReresolveFakesf measures a complaint: Invalidate with the current version, which makes one
// ResolvePartition with PreviousRspVersion against fakesf's stale naming cache and publishes the answer.
func BenchmarkReresolveFakesf(b *testing.B) {
	c := fakesftest.Start(b, fakesf.WithNamingCache(fakesf.NamingCache{Stale: true}))
	r, _ := newResolver(b, []string{c.URL()}, nil)
	ctx := context.Background()
	key := []byte("42")
	s, err := r.Resolve(ctx, orders, key)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if s, err = r.Invalidate(ctx, orders, key, s.Version); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if st := r.Stats(); st.Reresolves != uint64(b.N) {
		b.Fatalf("%d naming calls for %d complaints about the current version, want one each", st.Reresolves, b.N)
	}
}
