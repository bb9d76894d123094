package gateway

import (
	"errors"
	"io"
	"math"
	"strconv"
	"sync/atomic"

	"github.com/sfgate/sfgate/gateway/config"
	"github.com/valyala/fasthttp"
)

// bodyBudget counts the request-body bytes all requests hold in memory at once, against
// limits.maxBufferedBodyBytes, so that many clients declaring large bodies cannot exhaust the gateway.
type bodyBudget struct{ used atomic.Int64 }

// reserve takes n bytes from the budget; false (nothing taken) when that would pass limit.
func (b *bodyBudget) reserve(n, limit int64) bool {
	if b.used.Add(n) > limit {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *bodyBudget) release(n int64) { b.used.Add(-n) }

// noLimit stands for a body limit written as 0 (limits.maxBodyBytes, limits.maxResponseBodyBytes): no body is
// larger.
const noLimit = math.MaxInt

func orNoLimit(n int) int {
	if n <= 0 {
		return noLimit
	}
	return n
}

// bufferBodyOf is limits.bufferBodyBytes as it applies to request and response bodies: at most maxBodyBytes,
// and config.DefaultBufferBodyBytes when unset and maxBodyBytes is no limit.
func bufferBodyOf(lim config.Limits) int {
	b, m := lim.BufferBodyBytes, orNoLimit(lim.MaxBodyBytes)
	if b <= 0 || b > m {
		b = min(m, config.DefaultBufferBodyBytes)
	}
	return b
}

const (
	// bodyChunk is the first buffer for a streamed body; it doubles as bytes arrive.
	bodyChunk = 16 << 10
	// keptBodyCap is the largest body buffer a pooled request state keeps for the next request; a larger one
	// goes to the garbage collector, so one large upload does not pin its memory.
	keptBodyCap = 64 << 10
)

// readBody reads the client's request body into s.body as it arrives. The server streams request bodies
// (fasthttp reads at most 8 KB ahead), so memory follows the bytes received, not the Content-Length declared:
// a client that declares 10 MB and sends one byte costs a few KB. Every byte is counted against the
// gateway-wide budget first; past it the request gets 503 ServerBusy. The body then stays buffered, so a
// resend carries it intact. A body larger than limits.bufferBodyBytes is buffered up to there; the rest
// streams (s.stream).
func (g *Gateway) readBody(s *reqState) *requestError {
	req := &s.fctx.Request
	r := req.BodyStream()
	if r == nil {
		return nil // no body (GET, HEAD, Content-Length: 0)
	}
	rt := s.rt
	declared := req.Header.ContentLength() // -1: chunked
	if declared > rt.maxBody {
		return bodyTooLarge(rt.maxBody)
	}
	var re *requestError
	s.body, re = g.fillBody(s, r, declared) // the buffer, grown or not, serves the next request too
	return re
}

// fillBody reads the body into s.body's buffer (returned, maybe grown) until its end, the start of streaming, or
// a refusal.
func (g *Gateway) fillBody(s *reqState, r io.Reader, declared int) ([]byte, *requestError) {
	req, rt := &s.fctx.Request, s.rt
	buf := s.body[:0]
	for {
		if len(buf) == cap(buf) {
			next := max(2*cap(buf), bodyChunk)
			if declared >= 0 {
				next = min(next, declared+1) // +1: room to read the end of the body
			}
			nb := make([]byte, len(buf), max(next, len(buf)+1))
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		if n > 0 {
			if !g.bodies.reserve(int64(n), rt.maxBuffered) {
				return buf, &requestError{Status: fasthttp.StatusServiceUnavailable, Code: CodeBodyBudget, RetryAfter: 1,
					Message: "the gateway is buffering as many request bodies as limits.maxBufferedBodyBytes allows; try again"}
			}
			s.bodyReserved += int64(n)
			buf = buf[:len(buf)+n]
		}
		if len(buf) > rt.bufferBody && rt.bufferBody < rt.maxBody && !errors.Is(err, io.EOF) {
			// Larger than limits.bufferBodyBytes: the buffered head, then the rest as the client sends it.
			req.SetBodyRaw(buf)
			s.stream.begin(buf, r)
			return buf, nil
		}
		switch {
		case len(buf) > rt.maxBody:
			return buf, bodyTooLarge(rt.maxBody)
		case errors.Is(err, io.EOF):
			req.SetBodyRaw(buf) // what policies read and every attempt sends
			return buf, nil
		case err != nil && isTimeout(err):
			return buf, &requestError{Status: fasthttp.StatusRequestTimeout, Code: CodeRequestTimeout,
				Message: "the request body was not received within limits.readTimeout", Err: err}
		case err != nil:
			return buf, &requestError{Status: fasthttp.StatusBadRequest, Code: CodeBadRequest,
				Message: "the request body could not be read (malformed chunked encoding or a short body)", Err: err}
		}
	}
}

func bodyTooLarge(maxBody int) *requestError {
	return &requestError{Status: fasthttp.StatusRequestEntityTooLarge, Code: CodeRequestEntityTooLarge,
		Message: "the request body is larger than limits.maxBodyBytes (" + strconv.Itoa(maxBody) + " bytes)"}
}

// streamedBody is the body of a request larger than limits.bufferBodyBytes: its buffered head, then the rest
// read from the client while it is sent. Each attempt reads it from the start (reset); once a byte of the rest
// was read, the body cannot be sent again (sent reports it), and attempt refuses to.
type streamedBody struct {
	head     []byte
	off      int
	rest     io.Reader // nil: the request's body is buffered whole
	restRead int64
}

func (b *streamedBody) begin(head []byte, rest io.Reader) {
	b.head, b.off, b.rest, b.restRead = head, 0, rest, 0
}

// active reports whether the request's body streams.
func (b *streamedBody) active() bool { return b.rest != nil }

// sent reports whether bytes of the rest were read: sending the body again would lose them.
func (b *streamedBody) sent() bool { return b.restRead > 0 }

// reset rewinds the head for the next attempt (only while sent is false).
func (b *streamedBody) reset() { b.off = 0 }

func (b *streamedBody) end() { *b = streamedBody{} }

func (b *streamedBody) Read(p []byte) (int, error) {
	if b.off < len(b.head) {
		n := copy(p, b.head[b.off:])
		b.off += n
		return n, nil
	}
	n, err := b.rest.Read(p)
	b.restRead += int64(n)
	return n, err
}

// releaseBody returns the body's bytes to the budget and drops a large buffer (end of request).
func (g *Gateway) releaseBody(s *reqState) {
	if s.bodyReserved > 0 {
		g.bodies.release(s.bodyReserved)
		s.bodyReserved = 0
	}
	if cap(s.body) > keptBodyCap {
		s.body = nil
	}
}
