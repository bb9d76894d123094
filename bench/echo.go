package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// echoBody is the reference backend's answer: a fixed 100-byte body.
var echoBody = []byte(strings.Repeat("0123456789", 10))

// serveEcho is the child-process mode -serve-echo ADDR: the reference backend, a
// default fasthttp.Server answering every request with 200 and echoBody. It costs far less CPU per request
// than a fakesf replica, so the proxy's own cost shows more clearly in the ratios.
func serveEcho(addr string) error {
	srv := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) {
		c.SetContentType("text/plain; charset=utf-8")
		c.SetBody(echoBody)
	}}
	return serveUntilSignal([]string{addr}, []*fasthttp.Server{srv})
}

// startEchoProc re-executes this program in -serve-echo mode, pinned to cpus when set.
func startEchoProc(ctx context.Context, cpus string) (*proc, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", fmt.Errorf("find own executable: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := startProc("echo backend", cpus, nil, self, "-serve-echo", addr)
	if err != nil {
		return nil, "", err
	}
	u := "http://" + addr
	if err := waitListening(ctx, p, []string{addr}, 20*time.Second); err != nil {
		return nil, "", err
	}
	return p, u, nil
}
