package main

import (
	"context"
	"errors"
	"testing"
)

// TestPeerConfigsDoEqualWork starts fakesf and each peer proxy that is installed with its configuration from
// this package, and checks through fakesf's echo that it routes peerTarget to the primary with the five
// headers sfgate adds, so a configuration that drifts from equal work fails here and not only in a benchmark run.
// A peer that is not installed is skipped with the reason.
func TestPeerConfigsDoEqualWork(t *testing.T) {
	fsf, err := startFakesfProc(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer fsf.stop()
	parts, err := fsf.partitions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	replica, err := primaryURL(parts)
	if err != nil {
		t.Fatal(err)
	}
	for name, start := range map[string]func(ctx context.Context, dir string) (*proc, string, error){
		"nginx": func(ctx context.Context, dir string) (*proc, string, error) { return startNginxPeer(ctx, dir, replica) },
		"haproxy": func(ctx context.Context, dir string) (*proc, string, error) {
			return startHaproxyPeer(ctx, dir, replica, 100)
		},
		"Caddy": func(ctx context.Context, dir string) (*proc, string, error) { return startCaddyPeer(ctx, dir, replica) },
	} {
		t.Run(name, func(t *testing.T) {
			p, addr, err := start(t.Context(), t.TempDir())
			if errors.Is(err, errMissingTool) {
				t.Skipf("skipped, because %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer p.stop()
			if err := checkPeer(t.Context(), peer{addr: addr}.url(), parts[0]); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPeerListenRefusesUnsafePaths(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:1/a b", "http://127.0.0.1:1/a;rm", "http://127.0.0.1:1/a{uri}", "/no-host", "http://[::1"} {
		if _, _, err := peerListen(u); err == nil {
			t.Errorf("peerListen(%q): no error", u)
		}
	}
	if u, addr, err := peerListen("http://127.0.0.2:8080/3f0f926b-6773/134398450763848503"); err != nil || u.Host != "127.0.0.2:8080" || addr == "" {
		t.Fatalf("plain replica URL: %v %q %v", u, addr, err)
	}
}
