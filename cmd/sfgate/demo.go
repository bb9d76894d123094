package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"net/url"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/gateway/config"
)

//go:embed demo.yaml
var demoConfig []byte

// runDemo starts fakesf's default cluster and a gateway in front of it, prints what to try, and runs until
// ctx ends (Ctrl-C), then stops both.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "gateway address")
	admin := fs.String("admin", "127.0.0.1:9901", "admin address (/metrics, /readyz, /debug/...)")
	fake := fs.String("fakesf", "127.0.0.1:19080", "address of the fake cluster's management API")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	cfg, err := demoSetup(*listen, *admin)
	if err != nil {
		fmt.Fprintln(stderr, "sfgate demo:", err)
		return 1
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The naming cache is stale as on a real cluster: after a failover, naming answers with the old primary
	// until the gateway complains with the Version it used (PreviousRspVersion).
	cluster, err := fakesf.Start(cctx, fakesf.DefaultTopology(), fakesf.WithListenAddr(*fake),
		fakesf.WithNamingCache(fakesf.NamingCache{Stale: true}))
	if err != nil {
		fmt.Fprintf(stderr, "sfgate demo: start the fake cluster on %s: %v (choose another address with --fakesf)\n", *fake, err)
		return 1
	}
	defer cluster.Close()
	for _, b := range cfg.Backends {
		if b.ServiceFabricCluster != nil {
			b.ServiceFabricCluster.ManagementEndpoints = []string{cluster.URL()}
		}
	}
	onListen := func(gw, adm, _ string) { printDemo(stdout, cluster, gw, adm) }
	if err := serve(ctx, cfg, control{onListen: onListen}, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "sfgate demo:", err)
		return 1
	}
	return 0
}

// demoSetup loads the embedded demo configuration with the chosen addresses.
func demoSetup(listen, admin string) (*config.Config, error) {
	cfg, err := config.Parse(demoConfig, "demo.yaml")
	if err != nil {
		return nil, err
	}
	cfg.Listen, cfg.Admin = listen, admin
	return cfg, nil
}

func printDemo(w io.Writer, cluster *fakesf.Cluster, gw, admin string) {
	orders, _ := cluster.Partitions("fabric:/Shop/Orders")
	var first fakesf.PartitionState
	if len(orders) > 0 {
		first = orders[0]
	}
	g := "http://" + gw
	fmt.Fprintf(w, `
sfgate demo
  gateway     %s
  admin       http://%s   (/metrics /readyz /debug/resolve /debug/cache)
  fake SF     %s   (Service Fabric management API; /_fake/state shows the cluster)

Partition routing: the key picks the partition, the gateway resolves it and forwards to its primary.
Each answer names the partition, replica, role and node that served it.
  curl -s '%s/orders/api/orders?customer=42'       # Int64Range key 42   -> partition [0..255]
  curl -s '%s/orders/api/orders?customer=900'      # Int64Range key 900  -> partition [768..1023]
  curl -s '%s/carts/eu/items'                      # Named partition "eu", a secondary replica
  curl -s '%s/web/hello'                           # stateless, a random instance
  curl -s -H 'X-Listener: Admin' '%s/web/hello'   # the instance's "Admin" listener
  curl -s '%s/orders/x?customer=abc'               # 400: the key is not an int64

Failover: move the primary of partition [%d..%d] to another node, then ask again.
The old primary's listener closes; sf-resolve-condition sees BackendConnectionFailure, the gateway complains
to naming with the Version it used, gets the new primary and resends: the answer names another node.
  curl -s -X POST '%s/Partitions/%s/$/MovePrimaryReplica?api-version=6.5&IgnoreConstraints=true'
  curl -s '%s/orders/api/orders?customer=42'
  curl -s 'http://%s/debug/resolve?service=fabric:/Shop/Orders&key=42'
  curl -s 'http://%s/metrics' | grep -E 'sfgate_(reresolutions|retries)_total'

Ctrl-C stops the gateway and the fake cluster.
`, g, admin, cluster.URL(), g, g, g, g, g, g, first.LowKey, first.HighKey, cluster.URL(), url.PathEscape(first.ID), g, admin, admin)
}
