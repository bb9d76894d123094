package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"

	"github.com/sfgate/sfgate/internal/certfile"
	"github.com/sfgate/sfgate/listener"
	"github.com/sfgate/sfgate/partition"
	"github.com/sfgate/sfgate/resolver"
)

const resolveUsage = `usage: sfgate resolve --cluster URL [flags] fabric:/App/Service

Resolves one partition of a Service Fabric service through the cluster's HTTP gateway (like
"sfctl service resolve") and prints the partition, the Version and the endpoint a request would go to.
With -o json it prints the ResolvedServicePartition as the gateway returns it (Name, PartitionInformation,
Endpoints, Version) instead, as sfctl does. Flags may come before or after the service name.

Examples:
  sfgate resolve --cluster http://localhost:19080 fabric:/Shop/Orders --key 42
  sfgate resolve --cluster http://localhost:19080 fabric:/Shop/Carts --key eu -o json
  sfgate resolve --cluster https://mycluster:19080 --cert client.pem --key-file client.key \
      --server-thumbprint 0123456789ABCDEF0123456789ABCDEF01234567 fabric:/Shop/Web -v
  sfgate resolve --cluster https://mycluster:19080 --aad-app-id <cluster app id> --aad-credential default fabric:/Shop/Web

Exit status: 0 resolved, 1 resolution failed (the SF error and its code are printed on stderr; also when
no endpoint of the asked replica type and listener exists), 2 bad usage.

Flags:
`

// listFlag is a repeatable flag that also splits comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

type resolveFlags struct {
	clusters          listFlag
	key               string
	keySet            bool
	replica           string
	listenerName      string
	verbose           bool
	output            string
	timeout           time.Duration
	callTimeout       time.Duration
	certFile, keyFile string
	caFile            string
	thumbprints       listFlag
	x509Names         listFlag
	issuerThumbprints listFlag
	aadAppID          string
	aadCredential     string
	aadTenant         string
	aadClientID       string
	aadAuthority      string
	aadAllowHTTP      bool
}

// runResolve implements "sfgate resolve". It returns the process exit status.
func runResolve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f resolveFlags
	fs := flag.NewFlagSet("sfgate resolve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, resolveUsage)
		fs.PrintDefaults()
	}
	fs.Var(&f.clusters, "cluster", "management endpoint URL, e.g. http://localhost:19080 (repeat or comma-separate for failover)")
	fs.Func("key", "partition key: a decimal int64 (Int64Range) or a partition name (Named); ignored for Singleton", func(v string) error {
		f.key, f.keySet = v, true
		return nil
	})
	fs.StringVar(&f.replica, "replica", "", "replica to choose: primary, secondary or any (default: primary if stateful, any instance if stateless)")
	fs.StringVar(&f.listenerName, "listener", "", "listener name in the replica's address (default: the unnamed listener, else the first http(s) one)")
	fs.BoolVar(&f.verbose, "v", false, "also print every replica and its listeners")
	fs.StringVar(&f.output, "o", "text", "output format: text, or json (the ResolvedServicePartition as SF returns it)")
	fs.DurationVar(&f.timeout, "timeout", resolver.DefaultResolveTimeout, "time limit of the whole resolution, failovers included (serviceFabricCluster.resolveTimeout)")
	fs.DurationVar(&f.callTimeout, "call-timeout", 0, fmt.Sprintf("time limit of one call to one management endpoint before the next is tried (serviceFabricCluster.callTimeout; default %s, at most --timeout)", resolver.DefaultCallTimeout))
	fs.StringVar(&f.certFile, "cert", "", "client certificate PEM file (X.509 clusters)")
	fs.StringVar(&f.keyFile, "key-file", "", "client private key PEM file (default: the --cert file)")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM file of trusted roots for server validation (default: system roots)")
	fs.Var(&f.thumbprints, "server-thumbprint", "accept the server certificate with this SHA-1 thumbprint (repeatable)")
	fs.Var(&f.x509Names, "server-x509-name", "accept a server certificate with this common/DNS name (repeatable)")
	fs.Var(&f.issuerThumbprints, "server-issuer-thumbprint", "with --server-x509-name: pin the issuer's SHA-1 thumbprint (repeatable)")
	fs.StringVar(&f.aadAppID, "aad-app-id", "", "Azure AD cluster application ID (token scope <id>/.default)")
	fs.StringVar(&f.aadCredential, "aad-credential", "default", "Azure AD credential: "+strings.Join(resolver.CredentialKinds, ", ")+" (secret reads AZURE_CLIENT_SECRET)")
	fs.StringVar(&f.aadTenant, "aad-tenant", "", "Azure AD tenant ID (secret; optional for the others)")
	fs.StringVar(&f.aadClientID, "aad-client-id", "", "Azure AD client ID of the caller (secret, user-assigned managed identity, workload)")
	fs.StringVar(&f.aadAuthority, "aad-authority", "", "Azure AD authority host (default: Azure public cloud)")
	fs.BoolVar(&f.aadAllowHTTP, "aad-allow-http", false, "send the bearer token over plain http (local test clusters only)")

	var positional []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		rest = rest[1:]
	}
	switch {
	case len(positional) != 1:
		fmt.Fprintf(stderr, "sfgate resolve: want exactly one service name (fabric:/App/Service), got %d: %q\n", len(positional), positional)
		return 2
	case len(f.clusters) == 0:
		fmt.Fprintln(stderr, "sfgate resolve: --cluster is required (e.g. --cluster http://localhost:19080)")
		return 2
	}
	service := positional[0]
	switch {
	case f.output != "text" && f.output != "json":
		fmt.Fprintf(stderr, "sfgate resolve: -o %q: want text or json\n", f.output)
		return 2
	case f.output == "json" && (f.replica != "" || f.listenerName != "" || f.verbose):
		fmt.Fprintln(stderr, "sfgate resolve: -o json prints the whole resolution; --replica, --listener and -v apply to text output only")
		return 2
	}
	if f.callTimeout == 0 {
		f.callTimeout = min(resolver.DefaultCallTimeout, f.timeout)
	}
	switch {
	case f.timeout <= 0 || f.callTimeout <= 0:
		fmt.Fprintf(stderr, "sfgate resolve: --timeout %s and --call-timeout %s must be positive\n", f.timeout, f.callTimeout)
		return 2
	case f.callTimeout > f.timeout:
		fmt.Fprintf(stderr, "sfgate resolve: --call-timeout %s is longer than --timeout %s: give one call less time than the whole resolution, so that a silent endpoint leaves time for the next (defaults %s and %s)\n",
			f.callTimeout, f.timeout, resolver.DefaultCallTimeout, resolver.DefaultResolveTimeout)
		return 2
	}
	replicaType, err := listener.ParseReplicaType(f.replica)
	if err != nil {
		fmt.Fprintf(stderr, "sfgate resolve: --replica: %v\n", err)
		return 2
	}
	auth, err := f.auth()
	if err != nil {
		fmt.Fprintf(stderr, "sfgate resolve: %v\n", err)
		return 2
	}

	progress := &callProgress{w: stderr}
	r, err := resolver.New(resolver.Options{
		ManagementEndpoints: f.clusters,
		Auth:                auth,
		ResolveTimeout:      f.timeout,
		CallTimeout:         f.callTimeout,
		OnNamingCall:        progress.call,
	})
	if err != nil {
		fmt.Fprintf(stderr, "sfgate resolve: %v\n", err)
		return 2
	}
	defer r.Close()

	endpoints := strings.Join(f.clusters, ", failing over to ")
	fmt.Fprintf(stderr, "sfgate resolve: asking %s for %s (--timeout %s, --call-timeout %s per attempt)\n", endpoints, service, f.timeout, f.callTimeout)
	snap, err := r.Resolve(ctx, service, []byte(f.key))
	progress.stop()
	if err != nil {
		if errors.Is(err, resolver.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintf(stderr, "sfgate resolve: no answer from %s within --timeout %s (is it the cluster's HTTP gateway, "+
				"usually port 19080, and reachable from here? a slow cluster needs a longer --timeout): %v\n", strings.Join(f.clusters, ", "), f.timeout, err)
			return 1
		}
		fmt.Fprintf(stderr, "sfgate resolve: %v\n", err)
		return 1
	}
	if !f.keySet && snap.Partition.Kind != partition.Singleton {
		fmt.Fprintf(stderr, "sfgate resolve: note: no --key given for a %s service\n", snap.Partition.Kind)
	}
	if f.output == "json" {
		if err := printResolvedJSON(stdout, snap); err != nil {
			fmt.Fprintf(stderr, "sfgate resolve: write output: %v\n", err)
			return 1
		}
		return 0
	}
	printSnapshot(stdout, snap, f.verbose)
	url, rep, err := snap.Replicas.Select(replicaType, f.listenerName)
	if err != nil {
		fmt.Fprintf(stderr, "sfgate resolve: choose endpoint (replica %s, listener %q): %v\n", replicaType, f.listenerName, err)
		return 1
	}
	fmt.Fprintf(stdout, "endpoint:  %s (%s, listener %q)\n", url, rep.Role, f.listenerName)
	return 0
}

// auth turns the auth flags into resolver.Auth.
func (f *resolveFlags) auth() (resolver.Auth, error) {
	a := resolver.Auth{
		ClientCertFile:        f.certFile,
		ClientKeyFile:         f.keyFile,
		ServerCertThumbprints: f.thumbprints,
		ClusterAppID:          f.aadAppID,
		AllowBearerOverHTTP:   f.aadAllowHTTP,
	}
	if f.keyFile != "" && f.certFile == "" {
		return a, errors.New("--key-file needs --cert")
	}
	if len(f.issuerThumbprints) > 0 && len(f.x509Names) == 0 {
		return a, errors.New("--server-issuer-thumbprint needs --server-x509-name")
	}
	for _, n := range f.x509Names {
		a.ServerX509Names = append(a.ServerX509Names, resolver.X509Name{Name: n, IssuerThumbprints: f.issuerThumbprints})
	}
	if f.caFile != "" {
		pool, err := certfile.LoadCAs(f.caFile)
		if err != nil {
			return a, fmt.Errorf("--ca-file: %w", err)
		}
		a.RootCAs = pool
	}
	if f.aadAppID != "" {
		opts := resolver.CredentialOptions{
			Kind:         f.aadCredential,
			TenantID:     f.aadTenant,
			ClientID:     f.aadClientID,
			ClientSecret: os.Getenv("AZURE_CLIENT_SECRET"),
		}
		if f.aadAuthority != "" {
			opts.ClientOptions = azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: f.aadAuthority}}
		}
		cred, err := resolver.NewCredential(opts)
		if err != nil {
			return a, fmt.Errorf("--aad-credential %s: %w", f.aadCredential, err)
		}
		a.Credential = cred
	}
	return a, nil
}

// printSnapshot writes the partition and version, and with verbose every replica and listener.
func printSnapshot(w io.Writer, s *resolver.Snapshot, verbose bool) {
	p := s.Partition
	desc := p.Kind.String()
	switch p.Kind {
	case partition.Int64Range:
		desc = fmt.Sprintf("Int64Range [%d..%d]", p.LowKey, p.HighKey)
	case partition.Named:
		desc = fmt.Sprintf("Named %q", p.Name)
	}
	fmt.Fprintf(w, "service:   %s\n", s.Service)
	fmt.Fprintf(w, "partition: %s (%s)\n", p.ID, desc)
	fmt.Fprintf(w, "version:   %s\n", s.Version)
	if !verbose {
		return
	}
	reps := s.Replicas.Replicas()
	fmt.Fprintf(w, "replicas:  %d\n", len(reps))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range reps {
		if r.Listeners.Len() == 0 {
			fmt.Fprintf(tw, "  %s\t(no listener)\t%q\n", r.Role, r.Address)
			continue
		}
		for i := 0; i < r.Listeners.Len(); i++ {
			name, url := r.Listeners.At(i)
			fmt.Fprintf(tw, "  %s\t%q\t%s\n", r.Role, name, url)
		}
	}
	tw.Flush()
}

// printResolvedJSON writes s in SF's ResolvedServicePartition shape (resolver.ResolvedServicePartition).
func printResolvedJSON(w io.Writer, s *resolver.Snapshot) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(s.ResolvedServicePartition())
}

// callProgress prints each failed naming attempt while a resolution runs, so that a slow failover is
// visible. After stop it prints nothing: a naming call may end after the resolution gave up.
type callProgress struct {
	mu      sync.Mutex
	w       io.Writer
	stopped bool
}

func (p *callProgress) call(c resolver.NamingCall) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.Err != nil && !p.stopped {
		fmt.Fprintf(p.w, "sfgate resolve: failed after %s: %v\n", c.Duration.Round(time.Millisecond), c.Err)
	}
}

func (p *callProgress) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
}
