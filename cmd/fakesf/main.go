// Command fakesf runs a fake Service Fabric cluster (package fakesf): SF's HTTP management API on --listen and
// one HTTP server per replica listener on each node's loopback IP. It prints the management URL and every
// replica endpoint, and stops cleanly on SIGINT or SIGTERM. SIGHUP reads --tls-cert and --tls-key again and
// serves the certificate they hold to new connections (a server certificate rollover).
//
//	fakesf [--listen 127.0.0.1:19080] [--topology FILE] [--stale-naming]
//	fakesf --version    module version, VCS revision and Go version of this binary
//
// Secured mode: --tls (generated certificate) or --tls-cert/--tls-key serve HTTPS and print the server
// certificate's SHA-1 thumbprint (--tls-cert-out writes the certificate); --client-cert-thumbprint and
// --client-cert-common-name demand a client certificate; --bearer-key (with --bearer-audience, --bearer-tenant)
// accepts bearer tokens signed by that key.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/buildinfo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "fakesf:", err)
		os.Exit(1)
	}
}

// run starts the cluster, prints its endpoints to out and serves until ctx is done.
func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("fakesf", flag.ContinueOnError)
	fs.SetOutput(errOut)
	listen := fs.String("listen", "127.0.0.1:19080", "management API listen address (port 0 picks a free port)")
	topoFile := fs.String("topology", "", "topology YAML file (default: the built-in topology, see package fakesf)")
	stale := fs.Bool("stale-naming", false, "simulate the naming gateway's cache: ResolvePartition stays stale until a PreviousRspVersion complaint")
	version := fs.Bool("version", false, "print the module version, VCS revision and Go version, then exit")
	sec := securityFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version {
		fmt.Fprintln(out, "fakesf", buildinfo.Read())
		return nil
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (see fakesf --help for the flags)", fs.Args())
	}
	topo := fakesf.DefaultTopology()
	if *topoFile != "" {
		data, err := os.ReadFile(*topoFile)
		if err != nil {
			return fmt.Errorf("read topology: %w", err)
		}
		if topo, err = fakesf.ParseTopology(data); err != nil {
			return fmt.Errorf("%s: %w", *topoFile, err)
		}
	}
	opts, err := sec.options(*listen, out)
	if err != nil {
		return err
	}
	opts = append(opts, fakesf.WithListenAddr(*listen), fakesf.WithNamingCache(fakesf.NamingCache{Stale: *stale}))
	c, err := fakesf.Start(ctx, topo, opts...)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "management: %s\n", c.URL())
	for _, svc := range c.Services() {
		parts, err := c.Partitions(svc)
		if err != nil {
			return errors.Join(err, c.Close())
		}
		for _, p := range parts {
			key := p.Kind
			switch p.Kind {
			case fakesf.Int64Range:
				key = fmt.Sprintf("[%d..%d]", p.LowKey, p.HighKey)
			case fakesf.Named:
				key = fmt.Sprintf("%q", p.Name)
			}
			for _, r := range p.Replicas {
				names := make([]string, 0, len(r.Endpoints))
				for name := range r.Endpoints {
					names = append(names, name)
				}
				sort.Strings(names)
				if len(names) == 0 {
					fmt.Fprintf(out, "replica: %s %s partition %s replica %d %s on %s: no open listener\n", svc, key, p.ID, r.ID, r.Role, r.Node)
				}
				for _, name := range names {
					fmt.Fprintf(out, "replica: %s %s partition %s replica %d %s on %s listener %q: %s\n", svc, key, p.ID, r.ID, r.Role, r.Node, name, r.Endpoints[name])
				}
			}
		}
	}
	fmt.Fprintf(out, "try: curl '%s/Services/Shop~Orders/$/ResolvePartition?api-version=6.0&PartitionKeyType=2&PartitionKeyValue=42'\n", c.URL())
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	fmt.Fprintln(out, "ready")
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "stopping")
			return c.Close()
		case <-hup:
			if thumb, err := sec.reloadServerCertificate(c); err != nil {
				fmt.Fprintln(errOut, "fakesf: SIGHUP:", err)
			} else {
				fmt.Fprintf(out, "server certificate reloaded, thumbprint: %s\n", thumb)
			}
		}
	}
}
