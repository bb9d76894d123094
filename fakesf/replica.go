package fakesf

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// replicaServer is one open listener of one replica.
type replicaServer struct {
	listener string
	url      string
	srv      *http.Server
	ln       *drainingListener
	handler  *replicaHandler
	done     chan struct{}

	mu    sync.Mutex
	conns map[net.Conn]*connUse // open connections
}

// connUse is what close needs to know of a connection: whether a request is being served on it, and whether one
// was (a connection that has served none was opened to send a request, which is served even if the replica
// closes meanwhile).
type connUse struct {
	handlers int
	served   bool
}

// connKey is the request context's key to the request's connection (withConn).
type connKey struct{}

// withConn is a ConnContext hook (replica and management servers): a request's context knows its connection.
func withConn(ctx context.Context, conn net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, conn)
}

// connState is the server's ConnState hook: it keeps the set of open connections for close.
func (s *replicaServer) connState(c net.Conn, state http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch state {
	case http.StateNew:
		s.conns[c] = &connUse{}
	case http.StateClosed, http.StateHijacked:
		delete(s.conns, c)
	}
}

// serving marks a handler running on c (start true) or done (start false).
func (s *replicaServer) serving(c net.Conn, start bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.markLocked(c, start)
}

func (s *replicaServer) markLocked(c net.Conn, start bool) {
	if u := s.conns[c]; u != nil {
		if start {
			u.handlers++
		} else {
			u.handlers--
			u.served = true
		}
	}
}

// answer sends a handler's whole answer and marks the handler done in one step under the server's lock: close
// sees the connection either busy (and the answer then carries Connection: close) or idle with the answer already
// sent, never idle with the answer still to send nor busy after the client has its answer.
func (s *replicaServer) answer(c net.Conn, w http.ResponseWriter, closing *atomic.Bool, status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if closing.Load() {
		w.Header().Set("Connection", "close")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	_ = http.NewResponseController(w).Flush()
	if c != nil {
		s.markLocked(c, false)
	}
}

// replicaDrainTimeout is how long a closing replica keeps the connections it already had (see close), so that only
// a request that outlives it is cut (a shared CI machine can slow a storm of requests to several seconds).
const replicaDrainTimeout = 30 * time.Second

var discardLog = log.New(io.Discard, "", 0)

// readBufs recycles the buffers replicas read request bodies with.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// openServers opens every listener of r on its node's IP, each on a fresh port. Caller holds mu.
func (c *Cluster) openServers(r *replica) ([]*replicaServer, error) {
	var out []*replicaServer
	for _, name := range r.p.svc.Listeners {
		tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.ParseIP(r.node.IP)})
		if err != nil {
			for _, s := range out {
				s.close()
			}
			return nil, fmt.Errorf("fakesf: replica %d of partition %s: listen on node %s (%s): %w",
				r.id, r.p.id, r.node.Name, r.node.IP, err)
		}
		ln := &drainingListener{TCPListener: tcp}
		s := &replicaServer{
			listener: name,
			url:      fmt.Sprintf("http://%s/%s/%d", ln.Addr().String(), r.p.id, r.id),
			ln:       ln,
			done:     make(chan struct{}),
			conns:    map[net.Conn]*connUse{},
		}
		s.handler = &replicaHandler{c: c, r: r, listener: name, server: s}
		s.srv = &http.Server{
			Handler:           s.handler,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          discardLog,
			ConnState:         s.connState,
			ConnContext:       withConn,
		}
		go func() {
			defer close(s.done)
			_ = s.srv.Serve(ln)
		}()
		out = append(out, s)
	}
	return out, nil
}

// close closes the replica's listener the way a Reliable Service's communication listener drains in CloseAsync
// (role change, restart, node stop):
//   - new connections are refused at once; those the kernel had already established are served
//     (drainingListener), so no request is lost on a connection the replica never saw;
//   - requests in progress, and any that arrive on the connections the replica still has, are served and answered
//     with "Connection: close";
//   - idle keep-alive connections (a request served, none in progress, the next not arrived) get a FIN (the write side is shut): a client that looks before it writes sees
//     the close; a request written before the FIN arrived is still read and run, but its answer cannot be sent,
//     as with any server that closes an idle connection;
//   - connections still open after replicaDrainTimeout, or when the cluster closes, are closed.
//
// It waits for the accept loop to end, not for the requests.
func (s *replicaServer) close() {
	s.handler.closing.Store(true)
	s.ln.drain()
	<-s.done
	s.mu.Lock()
	for c, u := range s.conns {
		// Idle: it served a request, serves none now, and no next request waits unread on it.
		if tc, ok := c.(interface{ CloseWrite() error }); ok && u.served && u.handlers == 0 && !pendingInput(c) {
			_ = tc.CloseWrite()
		}
	}
	s.mu.Unlock()
	go func() {
		t := time.NewTimer(replicaDrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.handler.c.closed:
		}
		_ = s.srv.Close()
	}()
}

// ReplicaResponse is the JSON body every replica answers with.
type ReplicaResponse struct {
	Service     string              `json:"service"`
	PartitionID string              `json:"partitionId"`
	ReplicaID   string              `json:"replicaId"` // replica ID or, for stateless services, instance ID
	Role        string              `json:"role"`      // "primary", "secondary" or "stateless"
	Node        string              `json:"node"`
	Listener    string              `json:"listener"`
	Method      string              `json:"method"`
	Path        string              `json:"path"`  // path bytes exactly as received (percent-encoding untouched)
	Query       string              `json:"query"` // query bytes exactly as received (without the '?')
	Host        string              `json:"host"`
	Headers     map[string][]string `json:"headers"`
	BodyLength  int64               `json:"bodyLength"`
	BodySHA256  string              `json:"bodySha256"` // hex SHA-256 of the whole body
	// Body is the first MaxEchoBody bytes of the body as a JSON string: exact for UTF-8 text, invalid UTF-8
	// (binary data) comes back as U+FFFD, so compare binary bodies by BodyLength and BodySHA256.
	Body string `json:"body"`
}

// MaxEchoBody is how much of a request body a replica echoes back in ReplicaResponse.Body.
const MaxEchoBody = 64 << 10

type replicaHandler struct {
	c        *Cluster
	r        *replica
	listener string
	server   *replicaServer
	closing  atomic.Bool // the listener is closed: answer what still arrives, then close the connection
}

func (h *replicaHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	conn, _ := req.Context().Value(connKey{}).(net.Conn)
	answered := false
	if conn != nil {
		h.server.serving(conn, true)
		defer func() {
			if !answered {
				h.server.serving(conn, false)
			}
		}()
	}
	c, r := h.c, h.r
	c.mu.Lock()
	fault := r.fault
	if fault.Count > 0 {
		r.fault.Count--
		if r.fault.Count == 0 {
			r.fault = ReplicaFault{}
		}
	}
	resp := ReplicaResponse{
		Service:     r.p.svc.Name,
		PartitionID: r.p.id,
		ReplicaID:   strconv.FormatInt(r.id, 10),
		Role:        r.role.String(),
		Node:        r.node.Name,
		Listener:    h.listener,
	}
	c.mu.Unlock()
	r.hits.Add(1)
	c.observe(StageReceived, r, req, "")

	if fault.Delay > 0 {
		t := time.NewTimer(fault.Delay)
		select {
		case <-t.C:
		case <-req.Context().Done():
			t.Stop()
			return
		case <-c.closed:
			t.Stop()
			return
		}
	}
	if fault.Drop {
		if fault.DropAfter > 0 {
			_, _ = io.CopyN(io.Discard, req.Body, fault.DropAfter)
		}
		dropConnection(w)
		return
	}
	resp.Method = req.Method
	resp.Path, resp.Query = rawTarget(req)
	resp.Host = req.Host
	resp.Headers = req.Header
	if h.stream(w, req, resp, fault) { // streams.go
		return
	}

	hash := sha256.New()
	var body []byte
	bufp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bufp)
	buf := *bufp
	for {
		n, err := req.Body.Read(buf)
		hash.Write(buf[:n])
		if room := MaxEchoBody - len(body); room > 0 {
			body = append(body, buf[:min(n, room)]...)
		}
		resp.BodyLength += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			// A malformed body (bad chunk framing, short Content-Length) is not a request the replica can echo.
			http.Error(w, fmt.Sprintf("fakesf replica: read request body after %d bytes: %v", resp.BodyLength, err), http.StatusBadRequest)
			return
		}
	}
	resp.BodySHA256 = hex.EncodeToString(hash.Sum(nil))
	resp.Body = string(body)
	c.observe(StageExecuted, r, req, resp.BodySHA256)

	status := http.StatusOK
	if fault.Status != 0 {
		status = fault.Status
	}
	for k, v := range fault.Header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	var out bytes.Buffer
	_ = json.NewEncoder(&out).Encode(resp)
	h.server.answer(conn, w, &h.closing, status, out.Bytes())
	answered = true
}

// rawTarget splits the request line's target into the path and the query exactly as the client sent them.
// url.URL.EscapedPath would re-encode a path it considers non-canonical (raw UTF-8, '{', lower-case escapes are
// kept but a raw '"' is not), and the gateway's URL fidelity tests compare bytes. An absolute-form target
// (GET http://host/p HTTP/1.1) loses its scheme and authority; "*" (OPTIONS *) is reported as the path "*".
func rawTarget(req *http.Request) (path, query string) {
	target := req.RequestURI
	if target == "" { // not a server request; keep what the URL holds
		return req.URL.EscapedPath(), req.URL.RawQuery
	}
	if i := strings.Index(target, "://"); i >= 0 && !strings.HasPrefix(target, "/") {
		rest := target[i+3:]
		if j := strings.IndexAny(rest, "/?"); j >= 0 {
			target = rest[j:]
		} else {
			target = ""
		}
	}
	path, query, _ = strings.Cut(target, "?")
	return path, query
}

// dropConnection closes the client connection without an HTTP response.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // reset rather than a clean FIN
			}
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
