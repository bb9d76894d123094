package gateway

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http/httputil"
	"os"
	"time"

	"github.com/valyala/fasthttp"
)

// Streaming responses (docs/policies.md, "What streams"). Every backend HostClient reads its responses through
// responseTransport: a response whose Content-Length is at most limits.bufferBodyBytes is read whole, as
// fasthttp's own transport would (the common small answer costs nothing more); a larger one, or one of unknown
// length (chunked, server-sent events, a body that ends when the connection closes), is not read. Its response
// carries a backendBody instead, which the server reads from the backend's connection while it writes the
// client's response, one piece at a time, flushing each piece of a chunked answer. Policies see the status and
// headers only (no policy reads a backend's body), so nothing waits for the body before the client gets it.
//
// Lifetime: the backendBody owns the backend connection until it is closed: by the server once the client's
// response is written (the connection goes back to the pool when the body was read to its end, else it is
// closed), or when the response it belongs to is reset (a retry replaced it, an error answer was sent). It
// holds nothing of the request's pooled state, which serves another request before the body is written.

// attemptKey is the user-value key under which attempt hands the transport its attemptPlan.
type attemptKey struct{}

// attemptPlan is what responseTransport needs to know about one attempt.
type attemptPlan struct {
	deadline time.Time     // the response head must arrive before it
	idle     time.Duration // each read of a streamed body waits at most this (the attempt's timeout)
}

// responseTransport is the fasthttp.RoundTripper of the backend pools (newHostClient).
type responseTransport struct {
	bufferBody int // limits.bufferBodyBytes: larger or unknown-length bodies stream
	maxBody    int // limits.maxResponseBodyBytes (noLimit)
}

// RoundTrip sends req on a pooled connection and reads the response head, then the body or a backendBody.
func (t *responseTransport) RoundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	plan, _ := req.UserValue(attemptKey{}).(*attemptPlan)
	if plan == nil {
		return fasthttp.DefaultTransport.RoundTrip(hc, req, resp)
	}
	cc, err := hc.AcquireConn(time.Until(plan.deadline), req.ConnectionClose())
	if err != nil {
		return false, err
	}
	conn := cc.Conn()
	resp.ParseNetConn(conn)
	if err = conn.SetWriteDeadline(plan.deadline); err == nil {
		bw := hc.AcquireWriter(conn)
		if err = req.Write(bw); err == nil {
			err = bw.Flush()
		}
		hc.ReleaseWriter(bw)
	}
	if err == nil {
		err = conn.SetReadDeadline(plan.deadline)
	}
	if err != nil {
		hc.CloseConn(cc)
		return true, err
	}
	if req.Header.IsHead() {
		resp.SkipBody = true
	}
	br := hc.AcquireReader(conn)
	if err = readResponseHead(resp, br); err != nil {
		hc.ReleaseReader(br)
		hc.CloseConn(cc)
		return true, err
	}
	closeConn := req.ConnectionClose() || resp.ConnectionClose()
	size := resp.Header.ContentLength() // -1 chunked, -2 until the connection closes
	status := resp.StatusCode()
	noBody := resp.SkipBody || status < 200 || status == fasthttp.StatusNoContent || status == fasthttp.StatusNotModified
	if noBody || size >= 0 && size <= t.bufferBody {
		if !noBody {
			err = resp.ReadBody(br, t.maxBody)
		}
		hc.ReleaseReader(br)
		if err != nil || closeConn {
			hc.CloseConn(cc)
		} else {
			hc.ReleaseConn(cc)
		}
		return false, err
	}
	if size > t.maxBody {
		hc.ReleaseReader(br)
		hc.CloseConn(cc)
		return false, fasthttp.ErrBodyTooLarge
	}
	b := &backendBody{br: br, conn: conn, idle: plan.idle, limit: int64(t.maxBody), keep: !closeConn && size != -2,
		release: func(reuse bool) {
			hc.ReleaseReader(br)
			if reuse {
				hc.ReleaseConn(cc)
			} else {
				hc.CloseConn(cc)
			}
		}}
	switch size {
	case -1:
		b.r = httputil.NewChunkedReader(br)
		b.chunked = true
	case -2:
		b.r = br
	default:
		b.r = io.LimitReader(br, int64(size))
		b.want = int64(size)
	}
	resp.SetBodyStream(b, max(size, -1)) // -1: the client gets it chunked
	return false, nil
}

// readResponseHead reads the status line and headers, skipping interim 1xx answers (101 is final).
func readResponseHead(resp *fasthttp.Response, br *bufio.Reader) error {
	for n := 0; ; n++ {
		if err := resp.Header.Read(br); err != nil {
			return err
		}
		if c := resp.StatusCode(); c >= 200 || c < 100 || c == fasthttp.StatusSwitchingProtocols {
			return nil
		}
		if n >= maxInterimResponses {
			return errTooManyInterim
		}
	}
}

const maxInterimResponses = 16

var (
	errTooManyInterim = errors.New("the backend sent more than 16 interim (1xx) answers")
	// errResponseCut: a streamed response body grew past limits.maxResponseBodyBytes; the client's connection
	// is closed, so the client sees the body end early.
	errResponseCut = errors.New("the streamed response body is larger than limits.maxResponseBodyBytes: cut off")
	// errShortBody: the backend closed the connection before the Content-Length it declared.
	errShortBody = errors.New("the backend's connection ended before the response body's Content-Length")
)

// backendBody is a response body read from the backend's connection as the client's response is written.
type backendBody struct {
	r       io.Reader // the body: a LimitReader (Content-Length), a chunked reader, or br until the connection ends
	br      *bufio.Reader
	conn    net.Conn      // the backend connection, for read deadlines
	idle    time.Duration // each read waits at most this
	chunked bool
	want    int64 // Content-Length, 0 for the others
	got     int64
	limit   int64 // limits.maxResponseBodyBytes: a body growing past it is cut off
	keep    bool  // the connection may serve another request once the body was read to its end
	done    bool  // read to its end (and a chunked body's trailer consumed)
	err     error // the end (io.EOF) or failure, returned by every read from now on
	release func(reuse bool)

	// The client's connection and limits.writeTimeout, set when the response is the client's (answer): each
	// piece read pushes the client's write deadline on, so a long download is bounded per write, not as a whole.
	client       net.Conn
	writeTimeout time.Duration
	live         *liveSet[*backendBody] // the Gateway's streams while it is the client's (Shutdown cuts it)
}

func (b *backendBody) Read(p []byte) (int, error) {
	switch {
	case b.err != nil:
		return 0, b.err
	case b.release == nil:
		return 0, os.ErrClosed
	}
	now := time.Now()
	b.conn.SetReadDeadline(now.Add(b.idle))
	if b.client != nil && b.writeTimeout > 0 {
		b.client.SetWriteDeadline(now.Add(b.writeTimeout))
	}
	n, err := b.r.Read(p)
	if over := b.got + int64(n) - b.limit; over > 0 {
		n, err = n-int(over), errResponseCut
	}
	b.got += int64(n)
	switch {
	case err == nil:
		if b.want > 0 && b.got == b.want {
			err = io.EOF
		}
	case errors.Is(err, io.EOF):
		if b.want > 0 && b.got < b.want {
			err = errShortBody
		}
	}
	if errors.Is(err, io.EOF) {
		if b.chunked && !skipTrailer(b.br) {
			b.keep = false
		}
		b.done = true
	}
	if err != nil {
		b.err = err
		if n > 0 {
			err = nil // this read's bytes first: fasthttp's chunked writer drops an error that comes with bytes
		}
	}
	return n, err
}

// skipTrailer reads a chunked body's trailer section up to its empty line; false when it is malformed or
// longer than the read buffer (the connection is not reused then).
func skipTrailer(br *bufio.Reader) bool {
	for range 64 {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return false
		}
		if len(line) <= 2 && (len(line) == 1 || line[0] == '\r') {
			return true
		}
	}
	return false
}

// Close gives the connection back: to the pool when the body was read to its end, else it is closed (the rest
// of a large body is never read just to reuse a connection).
func (b *backendBody) Close() error {
	if b.live != nil {
		b.live.remove(b)
		b.live = nil
	}
	if b.release != nil {
		b.release(b.done && b.keep)
		b.release = nil
	}
	return nil
}

// abort cuts the body off from another goroutine (Shutdown): the backend connection is closed, so the read in
// progress fails and the server's write of the client's response ends (then Close releases the rest).
func (b *backendBody) abort() { b.conn.Close() }

// moveTo makes the body dst's (the client's response) and leaves b empty, so that resetting the response b
// came from does not close it.
func (b *backendBody) moveTo(dst *fasthttp.Response, size int) {
	moved := *b
	*b = backendBody{}
	dst.SetBodyStream(&moved, size)
}
