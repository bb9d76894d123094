package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sfgate/sfgate/gateway/expr"
	"github.com/valyala/fasthttp"
)

// Upgrade requests (WebSocket and any other protocol a client asks for with "Connection: Upgrade" and
// "Upgrade: <protocol>") are sent to the endpoint the request resolves to, on a connection of their own. A
// connection that cannot be made is, like any request that never left the gateway, re-resolved and tried
// again (resendRule) before anything is answered. When the endpoint answers 101 Switching Protocols, the
// gateway answers 101 to the client and then copies bytes both ways until either side closes, no byte moved in
// either direction for limits.idleTimeout (bytes flowing one way keep it open: a server that pushes to a client
// that never sends), the tunnel has been open for limits.tunnelMaxLifetime, or the gateway shuts down. Any
// other answer is an ordinary response.

var (
	hdrUpgrade   = []byte("Upgrade")
	tokenUpgrade = []byte("upgrade")
)

// upgradeProtocol returns the protocol an upgrade request asks for (its Upgrade header) when its Connection
// header names "upgrade"; nil for any other request. It must run before the Connection tokens are dropped.
func upgradeProtocol(h *fasthttp.RequestHeader) []byte {
	proto := h.PeekCanonical(hdrUpgrade)
	if len(proto) == 0 {
		return nil
	}
	for tok := range bytes.SplitSeq(h.PeekCanonical(hdrConnection), []byte(",")) {
		if bytes.EqualFold(bytes.TrimSpace(tok), tokenUpgrade) {
			return proto
		}
	}
	return nil
}

// tunnel is an endpoint connection that switched protocols, waiting for the client's side (reqState.tunnel).
type tunnel struct {
	conn  net.Conn
	br    *bufio.Reader // holds what the endpoint sent after its 101 head
	proto []byte        // the endpoint's Upgrade header (the hop-by-hop filter removes it from the answer)
}

// attemptUpgrade is attempt for an upgrade request (hc and key are the endpoint's in p): it dials the endpoint (a failure is notSent, so
// resendRule re-resolves), writes the request with its Connection and Upgrade headers, and reads the answer.
// A 101 keeps the connection in s.tunnel for the client side (serveHTTP); anything else is read whole and
// the connection closed.
func (s *reqState) attemptUpgrade(p *pool, hc *fasthttp.HostClient, key, url []byte, be *backend, timeout time.Duration) *forwardError {
	if s.tunnel != nil { // an earlier attempt's 101 that a condition did not take
		s.tunnel.conn.Close()
		s.tunnel = nil
	}
	start := time.Now()
	if left := s.deadline.Sub(start); left < timeout {
		timeout = left
	}
	if timeout <= 0 {
		return &forwardError{reason: expr.ReasonTimeout, endpoint: key, err: context.DeadlineExceeded}
	}
	deadline := start.Add(timeout)
	d := net.Dialer{Timeout: min(p.settings.connectTimeout, timeout), KeepAlive: 30 * time.Second}
	if d.Timeout <= 0 {
		d.Timeout = timeout
	}
	conn, err := d.Dial("tcp", hc.Addr) // not a pooled backendConn: this connection is never reused
	if err != nil {
		return classify(&dialError{err: err}, key)
	}
	if hc.IsTLS {
		tc := tls.Client(conn, hc.TLSConfig)
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err = tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			conn.Close()
			return classify(&dialError{err: err}, key) // no byte of the request left: as a failed connect
		}
		conn = tc
	}
	out := &s.out
	s.prepareOutbound(out, url, key, be)
	out.Header.SetCanonical(hdrConnection, hdrUpgrade)
	out.Header.SetCanonical(hdrUpgrade, s.upgrade)
	out.URI().DisablePathNormalizing = true // the request line carries the path and query byte for byte
	conn.SetDeadline(deadline)
	bw := bufio.NewWriter(conn)
	err = out.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	br := bufio.NewReaderSize(conn, 4096)
	resp := s.nextResponse()
	if err == nil {
		err = resp.ReadLimitBody(br, p.settings.maxResponseBody)
	}
	s.upstreamTime += time.Since(start)
	if be != nil {
		be.metrics.attempts.Add(1)
	}
	if err != nil {
		conn.Close()
		if be != nil {
			be.metrics.failures.Add(1)
		}
		return classify(err, key)
	}
	if resp.StatusCode() == fasthttp.StatusSwitchingProtocols {
		conn.SetDeadline(time.Time{})
		s.tunnel = &tunnel{conn: conn, br: br, proto: append([]byte(nil), resp.Header.PeekBytes(hdrUpgrade)...)}
	} else {
		conn.Close()
	}
	s.useResponse(resp)
	s.lastGood = resp
	return nil
}

// switchProtocols completes an upgrade the endpoint accepted: the client gets the 101 (with the Connection
// and Upgrade headers the hop-by-hop filter removed) and then its connection is joined to the endpoint's.
// Called at the end of serveHTTP; without a 101 to send, the endpoint's connection is closed.
func (g *Gateway) switchProtocols(ctx *fasthttp.RequestCtx, s *reqState) {
	t := s.tunnel
	s.tunnel = nil
	if ctx.Response.StatusCode() != fasthttp.StatusSwitchingProtocols {
		t.conn.Close()
		return
	}
	ctx.Response.Header.SetCanonical(hdrConnection, hdrUpgrade)
	if len(t.proto) > 0 {
		ctx.Response.Header.SetCanonical(hdrUpgrade, t.proto)
	}
	idle, life := s.rt.tunnelIdle, s.rt.tunnelLife
	ctx.Hijack(func(client net.Conn) {
		g.metrics.tunnels.Add(1)
		defer g.metrics.tunnels.Add(-1)
		joinConns(&g.tunnels, client, client, t.conn, t.br, idle, life)
	})
}

// joined is one open tunnel: a client connection joined to an endpoint's.
type joined struct {
	client, backend net.Conn
	once            sync.Once
	closed          atomic.Bool // set before the connections are woken: a watch that runs after does not re-arm

	// The idle limit: each copy stores the time (since start, monotonic) after each read and each write that
	// moved bytes, and one timer per tunnel (watch) closes it when idle passed since the latest in either
	// direction. A read that waits on a quiet side and a write that waits on a slow reader set no deadline of
	// their own, so a tunnel that carries bytes one way only (server push) stays open.
	start    time.Time
	idle     time.Duration
	last     atomic.Int64               // time.Since(start) of the latest read or write that moved bytes
	idleTime atomic.Pointer[time.Timer] // stored before it is armed
}

// abort is close (liveSet).
func (j *joined) abort() { j.close() }

// close ends the tunnel: both connections are closed, which ends both copies.
func (j *joined) close() {
	j.once.Do(func() {
		j.closed.Store(true)
		j.client.SetDeadline(time.Now()) // a hijacked connection is closed when the hijack handler returns: wake its reader
		j.client.Close()
		j.backend.Close()
	})
}

// moved notes that bytes moved (either direction).
func (j *joined) moved() { j.last.Store(int64(time.Since(j.start))) }

// watch runs when the idle timer fires: it closes the tunnel when nothing moved for idle, and otherwise arms
// the timer again for idle after the latest move.
func (j *joined) watch() {
	if j.closed.Load() {
		return
	}
	if left := j.idle - (time.Since(j.start) - time.Duration(j.last.Load())); left > 0 {
		j.idleTime.Load().Reset(left)
		return
	}
	j.close()
}

// joinConns copies client → backend and backend (from backendR, which may hold bytes already) → client until
// one side ends, no byte moved in either direction for idle, the tunnel has been open for life (0: no limit)
// or Shutdown closes it (ts); then both connections are closed.
func joinConns(ts *liveSet[*joined], client net.Conn, clientR io.Reader, backend net.Conn, backendR io.Reader, idle, life time.Duration) {
	j := &joined{client: client, backend: backend, start: time.Now(), idle: idle}
	if !ts.add(j) {
		return
	}
	defer ts.remove(j)
	if life > 0 {
		t := time.AfterFunc(life, j.close)
		defer t.Stop()
	}
	idleTime := time.AfterFunc(time.Duration(math.MaxInt64), j.watch)
	j.idleTime.Store(idleTime)
	idleTime.Reset(idle)
	defer idleTime.Stop()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer j.close()
		j.copy(backend, clientR)
	}()
	go func() {
		defer wg.Done()
		defer j.close()
		j.copy(client, backendR)
	}()
	wg.Wait()
}

// copy copies src to dst until src ends or fails, a write fails, or the tunnel is closed (close wakes both
// connections), noting each move for the idle watch.
func (j *joined) copy(dst net.Conn, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			j.moved()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			j.moved()
		}
		if err != nil {
			return
		}
	}
}
