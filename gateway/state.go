package gateway

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/sfgate/sfgate/gateway/expr"
	"github.com/sfgate/sfgate/gateway/policy"
	"github.com/sfgate/sfgate/gateway/route"
	"github.com/valyala/fasthttp"
)

// reqState is everything one request needs, pooled so that a steady stream of requests allocates nothing:
// the policy context and result, routing buffers, the outgoing request and a spare response buffer (the
// last good response survives a failed retry). It is also the request's context.Context (deadline =
// limits.requestTimeout) and the policy.Forwarder.
type reqState struct {
	rt   *compiled
	fctx *fasthttp.RequestCtx
	api  *api
	op   *operation

	ec       expr.Context
	res      policy.Result
	exprResp expr.Response
	lastErr  expr.LastError

	params    []route.Param
	paramBuf  []byte
	requestID []byte
	ipBuf     []byte // the peer's address, appended to X-Forwarded-For
	clientIP  []byte // the client's address (context.Request.IpAddress): the peer, or what a trusted proxy says
	urlBuf    []byte
	endpoint  []byte
	xff       []byte
	keyBuf    []byte // a partition key hashed by the backend's partitionKeyHash
	rp        rpScratch
	upgrade   []byte  // the Upgrade protocol of an upgrade request (upgrade.go); empty for others
	tunnel    *tunnel // an endpoint connection that switched protocols, for switchProtocols
	scratch   []byte
	logAttrs  []slog.Attr // the request's log line (logRequest)
	logLine   []byte      // the request's log line, formatted by the gateway (logRequest)
	logClock  clockText   // the text of the last log line's second, kept across requests

	body         []byte // the request body, read by readBody (aliased by the request: SetBodyRaw)
	bodyReserved int64  // bytes of body taken from Gateway.bodies
	stream       streamedBody

	out       fasthttp.Request
	plan      attemptPlan        // the attempt's deadlines, for responseTransport (out's user value)
	spare     fasthttp.Response  // the response buffer an attempt fills while the client's holds lastGood
	spareUsed bool               // nextResponse handed out spare: end resets it (most requests never use it)
	lastGood  *fasthttp.Response // last response a backend gave (the client's response or spare), nil if none

	trustedPeer  bool       // the peer is one of trustedProxies (setClientAddress)
	lastPeer     netip.Addr // the peer of the state's previous request and its text (kept across requests),
	lastPeerText []byte     // so that a peer seen again is not formatted again (setClientAddress)
	backend      *backend
	partition    string        // ID of the Service Fabric partition the request went to, for the log
	failure      *requestError // the error answered, for the log
	attempts     int
	reresolves   int
	upstreamTime time.Duration
	bo           backoff.ExponentialBackOff

	deadline time.Time
	mu       sync.Mutex
	done     chan struct{} // created on first Done()
	timer    *time.Timer
}

func newReqState() *reqState {
	s := &reqState{}
	s.bo = backoff.ExponentialBackOff{
		InitialInterval:     20 * time.Millisecond,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         500 * time.Millisecond,
		MaxElapsedTime:      0, // bounded by the retry count and the request deadline instead
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	return s
}

// begin prepares a pooled state for one request (end left it reset).
func (s *reqState) begin(rt *compiled, ctx *fasthttp.RequestCtx, now time.Time) {
	s.rt, s.fctx = rt, ctx
	s.deadline = now.Add(rt.requestTimeout)
}

// end clears references so that the pooled state keeps no request alive.
func (s *reqState) end() {
	s.mu.Lock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.done = nil
	s.mu.Unlock()
	s.rt, s.fctx, s.api, s.op, s.backend, s.failure = nil, nil, nil, nil, nil, nil
	s.ec.Reset()
	s.res.Reset()
	s.exprResp = expr.Response{}
	s.lastErr = expr.LastError{}
	s.out.Reset()
	if s.spareUsed {
		s.spare.Reset()
		s.spareUsed = false
	}
	s.lastGood = nil
	s.attempts, s.reresolves, s.upstreamTime = 0, 0, 0
	s.partition, s.endpoint = "", s.endpoint[:0]
	s.upgrade = s.upgrade[:0]
	s.stream.end()
	if s.tunnel != nil {
		s.tunnel.conn.Close()
		s.tunnel = nil
	}
	for i := range s.params {
		s.params[i] = route.Param{}
	}
	s.params = s.params[:0]
}

// Deadline implements context.Context.
func (s *reqState) Deadline() (time.Time, bool) { return s.deadline, true }

// Done implements context.Context. The channel and its timer are created only when someone waits
// (a resolver miss), so a request served from the cache does not pay for them.
func (s *reqState) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		ch := make(chan struct{})
		s.done = ch
		if d := time.Until(s.deadline); d <= 0 {
			close(ch)
		} else {
			s.timer = time.AfterFunc(d, func() { close(ch) })
		}
	}
	return s.done
}

// Err implements context.Context.
func (s *reqState) Err() error {
	if !time.Now().Before(s.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value implements context.Context; the state carries no values.
func (s *reqState) Value(any) any { return nil }
