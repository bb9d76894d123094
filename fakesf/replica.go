package fakesf

import (
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
	"time"
)

// replicaServer is one open listener of one replica.
type replicaServer struct {
	listener string
	url      string
	srv      *http.Server
	done     chan struct{}
}

var discardLog = log.New(io.Discard, "", 0)

// readBufs recycles the buffers replicas read request bodies with.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// openServers opens every listener of r on its node's IP, each on a fresh port. Caller holds mu.
func (c *Cluster) openServers(r *replica) ([]*replicaServer, error) {
	var out []*replicaServer
	for _, name := range r.p.svc.Listeners {
		ln, err := net.Listen("tcp", net.JoinHostPort(r.node.IP, "0"))
		if err != nil {
			for _, s := range out {
				s.close()
			}
			return nil, fmt.Errorf("fakesf: replica %d of partition %s: listen on node %s (%s): %w",
				r.id, r.p.id, r.node.Name, r.node.IP, err)
		}
		s := &replicaServer{
			listener: name,
			url:      fmt.Sprintf("http://%s/%s/%d", ln.Addr().String(), r.p.id, r.id),
			done:     make(chan struct{}),
		}
		s.srv = &http.Server{
			Handler:           &replicaHandler{c: c, r: r, listener: name},
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          discardLog,
		}
		go func() {
			defer close(s.done)
			_ = s.srv.Serve(ln)
		}()
		out = append(out, s)
	}
	return out, nil
}

// close closes the listener and every connection (idle keep-alive ones included), so clients see the replica go
// away, and waits for the serve loop to end.
func (s *replicaServer) close() {
	_ = s.srv.Close()
	<-s.done
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
}

func (h *replicaHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
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
		dropConnection(w)
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
	resp.Method = req.Method
	resp.Path, resp.Query = rawTarget(req)
	resp.Host = req.Host
	resp.Headers = req.Header
	resp.BodySHA256 = hex.EncodeToString(hash.Sum(nil))
	resp.Body = string(body)

	status := http.StatusOK
	if fault.Status != 0 {
		status = fault.Status
	}
	for k, v := range fault.Header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(resp)
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
