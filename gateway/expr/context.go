package expr

import (
	"bytes"
	"crypto/x509"
	"strconv"
	"time"
	"unsafe"

	"github.com/sfgate/sfgate/gateway/forwardurl"
	"github.com/valyala/fasthttp"
)

// Param is one URL-template parameter matched by routing (context.Request.MatchedParameters).
type Param struct {
	Name  string
	Value []byte
}

// API is context.Api: the API the request was routed to.
type API struct {
	Name       string
	Path       string // the API URL suffix, e.g. "api" (leading and trailing slashes are ignored)
	ServiceURL string // the API's web service URL (context.Api.ServiceUrl), may be empty
}

// Operation is context.Operation: the operation the request matched.
type Operation struct {
	Name        string
	Method      string
	URLTemplate string
}

// Response is context.Response after a backend attempt.
type Response struct {
	StatusCode int
	Reason     []byte
	Header     *fasthttp.ResponseHeader // may be nil
}

// Context is the request-scoped `context` object of policy expressions. The gateway owns and
// pools it: Reset, fill the exported fields, then Begin. Policies read it through expressions
// and edit the request in place (headers, query) through package policy.
type Context struct {
	Request     *fasthttp.Request // the request as it will be forwarded
	IsTLS       bool              // the client called over https
	IPAddress   []byte            // context.Request.IpAddress
	Certificate *x509.Certificate // context.Request.Certificate: the client's TLS certificate, nil without one
	// CertificateChain is the chain the TLS listener verified Certificate against tls.clientCaFile, the
	// certificate first and the CA last (validate-client-certificate's issuer and revocation checks).
	CertificateChain  []*x509.Certificate
	MatchedParameters []Param    // context.Request.MatchedParameters
	Api               API        // context.Api
	Operation         Operation  // context.Operation
	RequestID         []byte     // context.RequestId (text form)
	Timestamp         time.Time  // context.Timestamp
	Response          *Response  // nil until a backend attempt
	LastError         *LastError // nil when there is no error

	vars        []variable
	orig        fasthttp.URI // context.Request.OriginalUrl, copied on first use (originalURL)
	origSaved   bool         // orig holds the copy
	pathAfter   []byte       // request path after the API suffix (rewrite-uri replaces it)
	queryEdited bool
	rawTarget   bool         // BeginTarget: Request's URI is its header's RequestURI
	base        []byte       // base URL set by set-backend-service base-url
	baseURI     fasthttp.URI // parsed base (or Api.ServiceURL when base is nil)
	baseParsed  bool
	svcURI      fasthttp.URI // parsed Api.ServiceURL
	svcParsed   bool
	arena       []byte
	retired     int // bytes of arenas replaced by a bigger one since Reset
	lists       [][]byte
	locals      []Value
}

type variable struct {
	name string
	v    Value
}

// Reset clears the context for reuse, keeping allocated capacity.
func (c *Context) Reset() {
	c.Request = nil
	c.IsTLS = false
	c.IPAddress = nil
	c.Certificate, c.CertificateChain = nil, nil
	for i := range c.MatchedParameters {
		c.MatchedParameters[i] = Param{}
	}
	c.MatchedParameters = c.MatchedParameters[:0]
	c.Api = API{}
	c.Operation = Operation{}
	c.RequestID = nil
	c.Timestamp = time.Time{}
	c.Response = nil
	c.LastError = nil
	for i := range c.vars {
		c.vars[i] = variable{}
	}
	c.vars = c.vars[:0]
	c.orig.Reset()
	c.pathAfter = c.pathAfter[:0]
	c.queryEdited = false
	c.rawTarget = false
	c.base = nil
	c.baseParsed = false
	c.svcParsed = false
	c.arena = c.arena[:0]
	c.retired = 0
	for i := range c.lists {
		c.lists[i] = nil
	}
	c.lists = c.lists[:0]
	for i := range c.locals {
		c.locals[i] = Value{}
	}
}

// Begin starts a request: it records req as context.Request and the path after the API suffix; the original
// URL (context.Request.OriginalUrl) is kept from req when first needed. Set Api before calling.
func (c *Context) Begin(req *fasthttp.Request, isTLS bool) {
	c.Request = req
	c.IsTLS = isTLS
	c.origSaved = false
	c.rawTarget = false
	c.pathAfter = append(c.pathAfter[:0], forwardurl.AfterAPISuffix(req.URI().PathOriginal(), c.Api.Path)...)
}

// BeginTarget is Begin for a request whose URI is still the request target it was read with (the header's
// RequestURI; fasthttp's SetRequestURI keeps it so, setting parts of req.URI() does not): the path and, until a
// policy edits the query, the query parameters are read from that target, so the URI is never parsed unless a
// policy reads another part of it.
func (c *Context) BeginTarget(req *fasthttp.Request, isTLS bool) {
	c.Request = req
	c.IsTLS = isTLS
	c.origSaved = false
	c.rawTarget = true
	c.pathAfter = append(c.pathAfter[:0], forwardurl.AfterAPISuffix(forwardurl.RequestPath(req.Header.RequestURI()), c.Api.Path)...)
}

// originalURL is context.Request.OriginalUrl. Until a policy edits the request's query (EditQuery, the only
// change policies make to the request URI) it equals the request URI, so the copy is made on first use: most
// requests never read it.
func (c *Context) originalURL() *fasthttp.URI {
	if !c.origSaved {
		c.origSaved = true
		if c.Request != nil {
			c.Request.URI().CopyTo(&c.orig)
			if c.IsTLS {
				c.orig.SetScheme("https")
			}
		}
	}
	return &c.orig
}

// Variable returns context.Variables[name].
func (c *Context) Variable(name string) (Value, bool) {
	for i := range c.vars {
		if c.vars[i].name == name {
			return c.vars[i].v, true
		}
	}
	return Value{}, false
}

func (c *Context) variableBytes(name []byte) (Value, bool) {
	for i := range c.vars {
		if c.vars[i].name == string(name) {
			return c.vars[i].v, true
		}
	}
	return Value{}, false
}

// SetVariable sets context.Variables[name], copying v's bytes into the context so that later
// edits of the request cannot change it.
func (c *Context) SetVariable(name string, v Value) {
	v = c.Keep(v)
	for i := range c.vars {
		if c.vars[i].name == name {
			c.vars[i].v = v
			return
		}
	}
	c.vars = append(c.vars, variable{name: name, v: v})
}

// Keep returns v with its bytes copied into the context's arena (valid until Reset).
func (c *Context) Keep(v Value) Value {
	switch v.Kind {
	case String, Bytes:
		v.B = c.KeepBytes(v.B)
	case Strings:
		l := c.allocList(len(v.List))
		for i, s := range v.List {
			l[i] = c.KeepBytes(s)
		}
		v.List = l
	}
	return v
}

// KeepBytes copies b into the context's arena and returns the copy (valid until Reset).
func (c *Context) KeepBytes(b []byte) []byte {
	d := c.alloc(len(b))
	copy(d, b)
	return d
}

// alloc returns n bytes from the per-request arena. A full arena is replaced by a bigger one;
// views into the old one stay valid because nothing reuses it before Reset.
func (c *Context) alloc(n int) []byte {
	if cap(c.arena)-len(c.arena) < n {
		size := max(2*cap(c.arena), 512, n)
		c.retired += len(c.arena)
		c.arena = make([]byte, 0, size)
	}
	start := len(c.arena)
	c.arena = c.arena[:start+n]
	return c.arena[start : start+n : start+n]
}

func (c *Context) allocList(n int) [][]byte {
	if cap(c.lists)-len(c.lists) < n {
		size := max(2*cap(c.lists), 16, n)
		c.lists = make([][]byte, 0, size)
	}
	start := len(c.lists)
	c.lists = c.lists[:start+n]
	return c.lists[start : start+n : start+n]
}

// maxTextBytes bounds the text the expressions of one request may build (string concatenation,
// Replace, string.Format, ...): a statement block that doubles a string in a row of
// assignments fails with an EvalError instead of exhausting memory.
const maxTextBytes = 16 << 20

var errTextLimit = &evalFailure{msg: "the expressions of this request built more than 16 MiB of text (OutOfMemoryException)"}

// textFull reports whether building n more bytes would pass maxTextBytes.
func (c *Context) textFull(n int) bool { return c.retired+len(c.arena)+n > maxTextBytes }

// built returns the string built in the arena from start, or errTextLimit when the request's
// text budget is used up.
func (c *Context) built(start int) (Value, error) {
	if c.textFull(0) {
		return Value{}, errTextLimit
	}
	return str(c.arena[start:len(c.arena):len(c.arena)]), nil
}

// concat returns a+b in the arena.
func (c *Context) concat(a, b []byte) []byte {
	d := c.alloc(len(a) + len(b))
	copy(d, a)
	copy(d[len(a):], b)
	return d
}

// SetBaseURL records the backend base URL chosen by set-backend-service base-url so that
// context.Request.Url reflects it. b must stay valid until Reset.
func (c *Context) SetBaseURL(b []byte) {
	c.base = b
	c.baseParsed = false
}

// PathAfterSuffix returns the request path after the API suffix, as rewritten by rewrite-uri.
func (c *Context) PathAfterSuffix() []byte { return c.pathAfter }

// SetPathAfterSuffix replaces the path after the API suffix (rewrite-uri).
func (c *Context) SetPathAfterSuffix(p []byte) { c.pathAfter = append(c.pathAfter[:0], p...) }

// EditQuery returns the query arguments of Request for a policy to change: it keeps OriginalUrl first and
// records the edit, so that RawQuery re-encodes the arguments. Every change to the request's query goes
// through it. Request must not be nil.
func (c *Context) EditQuery() *fasthttp.Args {
	c.originalURL()
	c.queryEdited = true
	return c.Request.URI().QueryArgs()
}

// RawQuery returns the query to forward, without '?': the original bytes verbatim unless a
// policy edited the query, then the re-encoded query arguments.
func (c *Context) RawQuery() []byte {
	if c.Request == nil {
		return nil
	}
	if !c.queryEdited {
		if c.rawTarget {
			return forwardurl.RequestQuery(c.Request.Header.RequestURI()) // the URI need not be parsed
		}
		return c.Request.URI().QueryString()
	}
	start := len(c.arena)
	c.arena = c.Request.URI().QueryArgs().AppendBytes(c.arena)
	return c.arena[start:len(c.arena):len(c.arena)]
}

// frame returns n zeroed local slots for a statement block.
func (c *Context) frame(n int) []Value {
	if cap(c.locals) < n {
		c.locals = make([]Value, n)
	}
	c.locals = c.locals[:n]
	clear(c.locals)
	return c.locals
}

// --- URL views -------------------------------------------------------------------------------

// urlFor returns the parsed URI that backs a URL object, or nil.
func (c *Context) urlFor(obj int64) *fasthttp.URI {
	switch obj {
	case objOriginalURL:
		return c.originalURL()
	case objServiceURL:
		if c.Api.ServiceURL == "" {
			return nil
		}
		if !c.svcParsed {
			c.svcURI.Update(c.Api.ServiceURL)
			c.svcParsed = true
		}
		return &c.svcURI
	case objURL:
		if !c.baseParsed {
			switch {
			case c.base != nil:
				c.baseURI.UpdateBytes(c.base)
			case c.Api.ServiceURL != "":
				c.baseURI.Update(c.Api.ServiceURL)
			default:
				return c.originalURL()
			}
			c.baseParsed = true
		}
		return &c.baseURI
	}
	return nil
}

// urlScheme, urlHost, urlPort, urlPath implement IUrl members.
func (c *Context) urlScheme(obj int64) []byte {
	if u := c.urlFor(obj); u != nil {
		return u.Scheme()
	}
	return nil
}

func (c *Context) urlHost(obj int64) []byte {
	u := c.urlFor(obj)
	if u == nil {
		return nil
	}
	h, _ := splitHostPort(u.Host())
	return h
}

func (c *Context) urlPort(obj int64) int64 {
	u := c.urlFor(obj)
	if u == nil {
		return 0
	}
	_, p := splitHostPort(u.Host())
	if len(p) > 0 {
		n, err := strconv.ParseInt(string(p), 10, 32)
		if err == nil {
			return n
		}
	}
	if string(u.Scheme()) == "https" {
		return 443
	}
	return 80
}

func (c *Context) urlPath(obj int64) []byte {
	u := c.urlFor(obj)
	if u == nil {
		return nil
	}
	if obj == objURL && u != &c.orig {
		return joinPath(c, u.PathOriginal(), c.pathAfter)
	}
	if obj == objURL && c.Request != nil {
		return c.Request.URI().PathOriginal()
	}
	p := u.PathOriginal()
	if len(p) == 0 {
		return slash
	}
	return p
}

var slash = []byte("/")

// joinPath joins a base path and a remainder with exactly one '/', in the arena.
func joinPath(c *Context, base, rest []byte) []byte {
	for len(base) > 0 && base[len(base)-1] == '/' {
		base = base[:len(base)-1]
	}
	for len(rest) > 0 && rest[0] == '/' {
		rest = rest[1:]
	}
	d := c.alloc(len(base) + 1 + len(rest))
	n := copy(d, base)
	d[n] = '/'
	copy(d[n+1:], rest)
	return d
}

func (c *Context) queryArgs(obj int64) *fasthttp.Args {
	switch obj {
	case objQuery:
		if c.Request == nil {
			return nil
		}
		return c.Request.URI().QueryArgs()
	case objOriginalQuery:
		return c.originalURL().QueryArgs()
	case objServiceQuery:
		if u := c.urlFor(objServiceURL); u != nil {
			return u.QueryArgs()
		}
	}
	return nil
}

func (c *Context) urlQueryString(obj int64) []byte {
	var q []byte
	switch obj {
	case objURL:
		q = c.RawQuery()
	case objOriginalURL:
		q = c.originalURL().QueryString()
	default:
		if u := c.urlFor(obj); u != nil {
			q = u.QueryString()
		}
	}
	if len(q) == 0 {
		return q[:0:0]
	}
	d := c.alloc(len(q) + 1)
	d[0] = '?'
	copy(d[1:], q)
	return d
}

func (c *Context) urlString(obj int64) []byte {
	u := c.urlFor(obj)
	if u == nil {
		return nil
	}
	scheme, host := u.Scheme(), u.Host()
	path := c.urlPath(obj)
	q := c.urlQueryString(obj)
	start := len(c.arena)
	buf := append(c.arena, scheme...)
	buf = append(buf, "://"...)
	buf = append(buf, host...)
	buf = append(buf, path...)
	buf = append(buf, q...)
	c.arena = buf
	return c.arena[start:len(c.arena):len(c.arena)]
}

// splitHostPort splits "host:port" ("[v6]:port" too); port is nil when absent.
func splitHostPort(h []byte) (host, port []byte) {
	i := bytes.LastIndexByte(h, ':')
	if i < 0 || bytes.IndexByte(h[i:], ']') >= 0 {
		return h, nil
	}
	return h[:i], h[i+1:]
}

// lookupArgs returns the values of key in args: found, the single value or the values joined
// with ',' (in the arena when there are several).
func (c *Context) lookupArgs(a *fasthttp.Args, key []byte) ([]byte, bool) {
	if a == nil {
		return nil, false
	}
	j := c.newJoin()
	for k, v := range a.All() {
		if string(k) == string(key) {
			j.add(c, v)
		}
	}
	return j.result(c)
}

// lookupQuery is lookupArgs for the query arguments of a URL object. After BeginTarget and until a policy edits
// the request's query, context.Request.Url.Query is read from the raw request target: only the parameter asked for is decoded, and
// the request URI is not parsed.
func (c *Context) lookupQuery(obj int64, key []byte) ([]byte, bool) {
	if obj != objQuery || c.queryEdited || !c.rawTarget || c.Request == nil {
		return c.lookupArgs(c.queryArgs(obj), key)
	}
	return c.lookupRawQuery(forwardurl.RequestQuery(c.Request.Header.RequestURI()), key)
}

// lookupRawQuery finds key in a raw query ("a=1&b=%2F") as fasthttp.Args would parse it: pairs split at '&',
// key and value at the first '=', both URL-decoded ('+' is a space), empty pairs skipped. Several values are
// joined with ',' in the arena; a single value is returned as it is when it needs no decoding.
func (c *Context) lookupRawQuery(q, key []byte) ([]byte, bool) {
	var first []byte
	n, start := 0, 0
	for len(q) > 0 {
		var pair []byte
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			pair, q = q[:i], q[i+1:]
		} else {
			pair, q = q, nil
		}
		k, v, _ := bytes.Cut(pair, []byte{'='})
		if len(k) == 0 && len(v) == 0 || !c.queryKeyIs(k, key) {
			continue
		}
		n++
		switch n {
		case 1:
			if bytes.IndexByte(v, '%') < 0 && bytes.IndexByte(v, '+') < 0 {
				first = v
			} else {
				start = len(c.arena)
				c.arena = fasthttp.AppendUnquotedArg(c.arena, v)
				first = c.arena[start:len(c.arena):len(c.arena)]
			}
			continue
		case 2:
			start = len(c.arena)
			c.arena = append(c.arena, first...)
		}
		c.arena = append(c.arena, ',')
		c.arena = fasthttp.AppendUnquotedArg(c.arena, v)
	}
	switch n {
	case 0:
		return nil, false
	case 1:
		if first == nil {
			return []byte{}, true
		}
		return first, true
	}
	return c.arena[start:len(c.arena):len(c.arena)], true
}

// queryKeyIs reports whether the raw (URL-encoded) query key k decodes to key.
func (c *Context) queryKeyIs(k, key []byte) bool {
	if bytes.IndexByte(k, '%') < 0 && bytes.IndexByte(k, '+') < 0 {
		return string(k) == string(key)
	}
	start := len(c.arena)
	c.arena = fasthttp.AppendUnquotedArg(c.arena, k)
	is := string(c.arena[start:]) == string(key)
	c.arena = c.arena[:start]
	return is
}

// listArgs returns every value of key as string[].
func (c *Context) listArgs(a *fasthttp.Args, key []byte) ([][]byte, bool) {
	if a == nil {
		return nil, false
	}
	n := 0
	for k := range a.All() {
		if string(k) == string(key) {
			n++
		}
	}
	if n == 0 {
		return nil, false
	}
	l := c.allocList(n)
	i := 0
	for k, v := range a.All() {
		if string(k) == string(key) {
			l[i] = v
			i++
		}
	}
	return l, true
}

// lookupHeader returns the comma-joined values of a request (obj objRequestHeaders) or
// response header, matching the name case-insensitively.
func (c *Context) lookupHeader(obj int64, name []byte) ([]byte, bool) {
	j := c.newJoin()
	c.eachHeader(obj, name, func(v []byte) { j.add(c, v) })
	return j.result(c)
}

// join builds the comma-joined value of a repeated header or query parameter: a single value
// is returned as it is, several are copied into the arena.
type join struct {
	first []byte
	n     int
	start int
}

func (c *Context) newJoin() join { return join{start: len(c.arena)} }

func (j *join) add(c *Context, v []byte) {
	switch j.n {
	case 0:
		j.first = v
	case 1:
		c.arena = append(c.arena, j.first...)
		c.arena = append(c.arena, ',')
		c.arena = append(c.arena, v...)
	default:
		c.arena = append(c.arena, ',')
		c.arena = append(c.arena, v...)
	}
	j.n++
}

// result is the joined value and whether there was any.
func (j *join) result(c *Context) ([]byte, bool) {
	switch j.n {
	case 0:
		return nil, false
	case 1:
		if j.first == nil {
			return []byte{}, true
		}
		return j.first, true
	}
	return c.arena[j.start:len(c.arena):len(c.arena)], true
}

func (c *Context) listHeader(obj int64, name []byte) ([][]byte, bool) {
	n := 0
	c.eachHeader(obj, name, func([]byte) { n++ })
	if n == 0 {
		return nil, false
	}
	l := c.allocList(n)
	i := 0
	c.eachHeader(obj, name, func(v []byte) {
		l[i] = v
		i++
	})
	return l, true
}

func (c *Context) eachHeader(obj int64, name []byte, f func(v []byte)) {
	switch obj {
	case objRequestHeaders:
		if c.Request == nil {
			return
		}
		for k, v := range c.Request.Header.All() {
			if bytes.EqualFold(k, name) {
				f(v)
			}
		}
	case objResponseHeaders:
		if c.Response == nil || c.Response.Header == nil {
			return
		}
		for k, v := range c.Response.Header.All() {
			if bytes.EqualFold(k, name) {
				f(v)
			}
		}
	}
}

func (c *Context) headerCount(obj int64) int64 {
	n := int64(0)
	switch obj {
	case objRequestHeaders:
		if c.Request != nil {
			for range c.Request.Header.All() {
				n++
			}
		}
	case objResponseHeaders:
		if c.Response != nil && c.Response.Header != nil {
			for range c.Response.Header.All() {
				n++
			}
		}
	}
	return n
}

func (c *Context) param(name []byte) ([]byte, bool) {
	for i := range c.MatchedParameters {
		if c.MatchedParameters[i].Name == string(name) {
			v := c.MatchedParameters[i].Value
			if v == nil {
				v = []byte{}
			}
			return v, true
		}
	}
	return nil, false
}

// stringBytes views a string field of the context (context.Api.Name, context.LastError.Reason,
// ...) as bytes without copying it: expression values are never written to.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// Text returns v formatted as C# ToString would, as bytes valid until Reset: a string's own
// bytes, numbers and bools formatted into the arena, nil for null.
func (c *Context) Text(v Value) []byte {
	switch v.Kind {
	case Null:
		return nil
	case String:
		return v.B
	}
	start := len(c.arena)
	c.arena = appendString(c.arena, v)
	return c.arena[start:len(c.arena):len(c.arena)]
}
