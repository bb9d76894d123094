package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// serveFasthttpProxy is the child-process mode -serve-fasthttp-proxy LISTEN=UPSTREAM[,LISTEN=UPSTREAM...]:
// research/perf.md §3.1's "bare fasthttp proxy" (port 9004 there), the documented fasthttp pattern
// (valyala/fasthttp#64) with no routing, policies or resolution. It is the floor of what the data-path
// library costs per proxied request, so sfgate ÷ this row is the price of everything the gateway adds
// (perf.md goal G2), and this row ÷ nginx is what the library itself can reach on the machine.
func serveFasthttpProxy(spec string) error {
	var addrs []string
	var servers []*fasthttp.Server
	for _, pair := range strings.Split(spec, ",") {
		listen, upstream, ok := strings.Cut(pair, "=")
		if !ok {
			return fmt.Errorf("%q: want LISTEN=UPSTREAM (host:port=host:port)", pair)
		}
		addrs = append(addrs, listen)
		servers = append(servers, bareProxy(upstream))
	}
	return serveUntilSignal(addrs, servers)
}

// bareProxy is perf.md §3.1's handler: drop the hop-by-hop headers, add X-Forwarded-For, HostClient.Do
// on the server's own request and response, 502 on error.
func bareProxy(upstream string) *fasthttp.Server {
	hc := &fasthttp.HostClient{Addr: upstream, MaxConns: 512, MaxIdleConnDuration: time.Minute,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, NoDefaultUserAgentHeader: true, DisablePathNormalizing: true}
	return &fasthttp.Server{DisableHeaderNamesNormalizing: true, Handler: func(c *fasthttp.RequestCtx) {
		c.Request.Header.Del("Connection")
		c.Request.Header.Del("Keep-Alive")
		c.Request.Header.Del("Proxy-Connection")
		c.Request.Header.Set("X-Forwarded-For", c.RemoteIP().String())
		if err := hc.Do(&c.Request, &c.Response); err != nil {
			c.Response.Reset()
			c.SetStatusCode(fasthttp.StatusBadGateway)
		}
		c.Response.Header.Del("Connection")
	}}
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
