// Package bareproxy is the bare fasthttp proxy: the documented fasthttp pattern (valyala/fasthttp#64) with no
// routing, policies or resolution, the floor of what the data-path library costs per proxied request. bench runs
// it as a baseline row beside sfgate and nginx, and the gateway's benchmarks run its handler beside sfgate's
// (bench's instructions section), so both measure one floor. It is internal: only bench and the gateway's
// benchmarks use it, and it is not part of sfgate.
package bareproxy

import (
	"time"

	"github.com/valyala/fasthttp"
)

// New returns the proxy to upstream (host:port): it drops the hop-by-hop headers, adds X-Forwarded-For,
// calls HostClient.Do on the server's own request and response, and answers 502 on error.
func New(upstream string) *fasthttp.Server {
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
