package gateway

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// poolSettings are the connection settings shared by every endpoint of one backend.
type poolSettings struct {
	tls             *endpointTLS // for https endpoints; nil → Go defaults
	connectTimeout  time.Duration
	maxConns        int
	connWait        time.Duration // how long a request waits for a free connection when maxConns are busy
	idleTimeout     time.Duration
	maxResponseBody int // noLimit for limits.maxResponseBodyBytes: 0
	bufferBody      int // limits.bufferBodyBytes: a response with a larger or unknown length streams
	maxHeaderBytes  int
}

// pool holds one fasthttp.HostClient (a keep-alive connection pool) per endpoint, keyed by
// "scheme://host[:port]". Lookups read an immutable map through an atomic pointer: no lock, no allocation.
type pool struct {
	settings  poolSettings
	transport *responseTransport // every endpoint's: large and unknown-length responses stream (respstream.go)
	clients   atomic.Pointer[map[string]*fasthttp.HostClient]
	newest    atomic.Pointer[poolEndpoint] // the endpoint added last: most backends have one, found without a map lookup
	mu        sync.Mutex                   // serialises writers
}

// poolEndpoint is one endpoint of a pool and its client.
type poolEndpoint struct {
	key string
	hc  *fasthttp.HostClient
}

// keyOf reports whether the absolute URL u belongs to this endpoint: it starts with the key (the same bytes
// endpointKey would cut from it), followed by the end or the path, query or fragment.
func (e *poolEndpoint) keyOf(u []byte) bool {
	n := len(e.key)
	return len(u) >= n && string(u[:n]) == e.key && (len(u) == n || u[n] == '/' || u[n] == '?' || u[n] == '#')
}

// maxPoolEndpoints bounds how many endpoints one pool remembers; past it, idle clients are dropped.
const maxPoolEndpoints = 4096

func newPool(s poolSettings) *pool {
	p := &pool{settings: s, transport: &responseTransport{bufferBody: s.bufferBody, maxBody: orNoLimit(s.maxResponseBody)}}
	m := map[string]*fasthttp.HostClient{}
	p.clients.Store(&m)
	return p
}

// client returns the HostClient for the endpoint of the absolute URL u (http or https) and the endpoint key
// (scheme://authority, aliasing u).
func (p *pool) client(u []byte) (*fasthttp.HostClient, []byte, error) {
	if e := p.newest.Load(); e != nil && e.keyOf(u) {
		return e.hc, u[:len(e.key)], nil
	}
	key, auth, isTLS, err := endpointKey(u)
	if err != nil {
		return nil, nil, err
	}
	if hc := (*p.clients.Load())[string(key)]; hc != nil {
		return hc, key, nil
	}
	return p.add(string(key), dialAddr(auth, isTLS), isTLS), key, nil
}

func (p *pool) add(key, host string, isTLS bool) *fasthttp.HostClient {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.clients.Load()
	if hc := old[key]; hc != nil {
		return hc
	}
	m := make(map[string]*fasthttp.HostClient, len(old)+1)
	if len(old) < maxPoolEndpoints {
		for k, v := range old {
			m[k] = v
		}
	} else {
		for _, v := range old {
			v.CloseIdleConnections()
		}
	}
	hc := p.newHostClient(host, isTLS)
	m[key] = hc
	p.clients.Store(&m)
	p.newest.Store(&poolEndpoint{key: key, hc: hc})
	return hc
}

// forget drops the endpoint of URL u and closes its idle connections: a re-resolution replaced it, so its
// pooled connections lead to a replica that moved or died. In-flight requests on it finish normally.
func (p *pool) forget(u string) {
	key, _, _, err := endpointKey([]byte(u))
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.clients.Load()
	hc := old[string(key)]
	if hc == nil {
		return
	}
	m := make(map[string]*fasthttp.HostClient, len(old))
	for k, v := range old {
		if k != string(key) {
			m[k] = v
		}
	}
	p.clients.Store(&m)
	if e := p.newest.Load(); e != nil && e.hc == hc {
		p.newest.Store(nil)
	}
	hc.CloseIdleConnections()
}

// closeIdle closes the idle connections of every endpoint (on reload and shutdown).
func (p *pool) closeIdle() {
	for _, hc := range *p.clients.Load() {
		hc.CloseIdleConnections()
	}
}

func (p *pool) newHostClient(addr string, isTLS bool) *fasthttp.HostClient {
	s := p.settings
	var tlsCfg *tls.Config
	if isTLS {
		host, _, err := net.SplitHostPort(addr) // dialAddr always adds the port
		if err != nil {
			host = addr
		}
		tlsCfg = s.tls.forHost(host)
	}
	return &fasthttp.HostClient{
		Addr:                      addr,
		IsTLS:                     isTLS,
		TLSConfig:                 tlsCfg,
		MaxConns:                  s.maxConns,
		MaxConnWaitTimeout:        s.connWait, // then ErrNoFreeConns: 503, never a complaint to naming
		MaxIdleConnDuration:       s.idleTimeout,
		MaxResponseBodySize:       s.maxResponseBody,
		Transport:                 p.transport,
		ReadBufferSize:            s.maxHeaderBytes,
		MaxIdemponentCallAttempts: 1, // the gateway's loop is the only retry layer
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		DisablePathNormalizing:    true, // forward the path byte for byte
		NoDefaultUserAgentHeader:  true,
		DialTimeout:               dialer(s.connectTimeout),
	}
}

// dialError marks a failure to connect: the request never reached the service, so it is safe to resend
// whatever its method.
type dialError struct{ err error }

func (e *dialError) Error() string { return "connect: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func dialer(connectTimeout time.Duration) fasthttp.DialFuncWithTimeout {
	return func(addr string, timeout time.Duration) (net.Conn, error) {
		if connectTimeout > 0 && (timeout <= 0 || connectTimeout < timeout) {
			timeout = connectTimeout
		}
		d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return nil, &dialError{err: err}
		}
		return newBackendConn(c), nil
	}
}

var (
	schemeHTTP  = []byte("http://")
	schemeHTTPS = []byte("https://")
)

// errBadEndpoint: a URL that is not absolute http(s).
var errBadEndpoint = errors.New("endpoint is not an absolute http:// or https:// URL")

// endpointKey splits an absolute URL into the pool key (scheme://authority), the authority without userinfo
// (host[:port]) and whether it is https. The returned slices alias u: no allocation, even for an endpoint
// without a port (dialAddr adds the default one, once per new endpoint).
func endpointKey(u []byte) (key, auth []byte, isTLS bool, err error) {
	var rest []byte
	switch {
	case bytes.HasPrefix(u, schemeHTTP) || // what the cluster publishes, compared exactly first
		len(u) >= len(schemeHTTP) && bytes.EqualFold(u[:len(schemeHTTP)], schemeHTTP):
		rest = u[len(schemeHTTP):]
	case len(u) >= len(schemeHTTPS) && bytes.EqualFold(u[:len(schemeHTTPS)], schemeHTTPS):
		rest, isTLS = u[len(schemeHTTPS):], true
	default:
		return nil, nil, false, errBadEndpoint
	}
	end := len(rest) // the authority ends at the first '/', '?' or '#'
	for _, c := range []byte("/?#") {
		if i := bytes.IndexByte(rest[:end], c); i >= 0 {
			end = i
		}
	}
	auth = rest[:end]
	if len(auth) == 0 {
		return nil, nil, false, errBadEndpoint
	}
	if bytes.IndexByte(auth, '@') >= 0 { // rare userinfo: IndexByte is the fast check, the last '@' ends it
		auth = auth[bytes.LastIndexByte(auth, '@')+1:]
	}
	return u[:len(u)-len(rest)+end], auth, isTLS, nil
}

// dialAddr is the host:port to dial for an authority: the scheme's default port when it names none.
func dialAddr(auth []byte, isTLS bool) string {
	switch {
	case hasPort(auth):
		return string(auth)
	case isTLS:
		return string(auth) + ":443"
	}
	return string(auth) + ":80"
}

// hasPort reports whether a URL authority (host, [v6], host:port or [v6]:port) carries a port.
func hasPort(auth []byte) bool {
	i := bytes.LastIndexByte(auth, ':')
	return i >= 0 && i > bytes.LastIndexByte(auth, ']')
}
