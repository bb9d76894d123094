package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/sfgate/sfgate/internal/bareproxy"
	"github.com/valyala/fasthttp"
)

// serveFasthttpProxy is the child-process mode -serve-fasthttp-proxy LISTEN=UPSTREAM[,LISTEN=UPSTREAM...]:
// the bare fasthttp proxy (package internal/bareproxy). It is the floor of what the data-path library costs
// per proxied request, so sfgate ÷ this row is the price of everything the gateway adds, and this row ÷ nginx
// is what the library itself can reach on the machine.
func serveFasthttpProxy(spec string) error {
	var addrs []string
	var servers []*fasthttp.Server
	for _, pair := range strings.Split(spec, ",") {
		listen, upstream, ok := strings.Cut(pair, "=")
		if !ok {
			return fmt.Errorf("%q: want LISTEN=UPSTREAM (host:port=host:port)", pair)
		}
		addrs = append(addrs, listen)
		servers = append(servers, bareproxy.New(upstream))
	}
	return serveUntilSignal(addrs, servers)
}

// startFasthttpProxy re-executes this program in -serve-fasthttp-proxy mode in front of each upstream URL
// (http://host:port), pinned to cpus when set; it returns the proxy addresses in the same order.
func startFasthttpProxy(ctx context.Context, upstreams []string, cpus string) (*proc, []string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("find own executable: %w", err)
	}
	var pairs, addrs []string
	for _, u := range upstreams {
		addr, err := freeAddr()
		if err != nil {
			return nil, nil, err
		}
		addrs = append(addrs, addr)
		pu, err := url.Parse(u)
		if err != nil {
			return nil, nil, err
		}
		pairs = append(pairs, addr+"="+pu.Host)
	}
	p, err := startProc("fasthttp proxy", cpus, nil, self, "-serve-fasthttp-proxy", strings.Join(pairs, ","))
	if err != nil {
		return nil, nil, err
	}
	if err := waitListening(ctx, p, addrs, 20*time.Second); err != nil {
		return nil, nil, err
	}
	return p, addrs, nil
}
