package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// echoBody is the reference backend's answer: research/perf.md §3.1's fixed 100-byte body.
var echoBody = []byte(strings.Repeat("0123456789", 10))

// serveEcho is the child-process mode -serve-echo ADDR: the reference backend of research/perf.md §3.1, a
// default fasthttp.Server answering every request with 200 and echoBody. It costs far less CPU per request
// than a fakesf replica, so the proxy's own cost shows more clearly in the ratios.
func serveEcho(addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) {
		c.SetContentType("text/plain; charset=utf-8")
		c.SetBody(echoBody)
	}}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe(addr) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return srv.Shutdown()
	}
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
	if err := waitHTTP(ctx, p, u+"/", 20*time.Second); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, u, nil
}
