package fakesf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// FabricError is an SF management API error: HTTP status plus the FabricError body's Code and Message. The
// Go fault methods return it so that the HTTP calls and the Go calls fail the same way.
type FabricError struct {
	Status  int
	Code    string
	Message string
}

func (e *FabricError) Error() string {
	return fmt.Sprintf("fakesf: %d %s: %s", e.Status, e.Code, e.Message)
}

func fabricErr(status int, code, format string, args ...any) *FabricError {
	return &FabricError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalidArg(format string, args ...any) *FabricError {
	return fabricErr(http.StatusBadRequest, "E_INVALIDARG", format, args...)
}

// request is one management call after routing.
type request struct {
	r        *http.Request
	query    map[string]string
	vars     map[string][]string // template variable → raw (escaped) path segments
	version  float64             // api-version as a number
	pageSize int64               // the cluster's SetPageSize when the call came
}

// result is what a handler produced: a JSON value, an empty body with a status, or an error.
type result struct {
	status int
	body   any // nil → empty body
	err    *FabricError
}

func ok(v any) result         { return result{status: http.StatusOK, body: v} }
func empty(status int) result { return result{status: status} }
func fail(e *FabricError) result {
	return result{err: e}
}

// done answers with status and no body when err is nil, else with err (asFabricError's 500 for a non-SF error):
// the HTTP face of a Cluster method such as MovePrimary.
func done(status int, err error) result {
	if err != nil {
		return fail(asFabricError(err))
	}
	return empty(status)
}

type route struct {
	method  string
	tmpl    []string // literal segments, "{x}" one segment, "{x*}" one or more segments
	min     float64  // lowest api-version
	resolve bool     // the ResolvePartition route (counters, naming faults)
	handle  func(c *Cluster, q *request) result
}

var routes = []route{
	{method: "GET", tmpl: []string{"Applications"}, min: 6.1, handle: (*Cluster).getApplications},
	{method: "GET", tmpl: []string{"Applications", "{app*}"}, min: 6.0, handle: (*Cluster).getApplication},
	{method: "GET", tmpl: []string{"Applications", "{app*}", "$", "GetServices"}, min: 6.0, handle: (*Cluster).getServices},
	{method: "GET", tmpl: []string{"Applications", "{app*}", "$", "GetServices", "{svc*}"}, min: 6.0, handle: (*Cluster).getAppService},
	{method: "GET", tmpl: []string{"Applications", "{app*}", "$", "GetServices", "{svc*}", "$", "GetPartitions"}, min: 6.4, handle: (*Cluster).getPartitions},
	{method: "GET", tmpl: []string{"Applications", "{app*}", "$", "GetServices", "{svc*}", "$", "ResolvePartition"}, min: 6.0, resolve: true, handle: (*Cluster).resolvePartition},
	{method: "GET", tmpl: []string{"Services", "{svc*}", "$", "GetPartitions"}, min: 6.4, handle: (*Cluster).getPartitions},
	{method: "GET", tmpl: []string{"Services", "{svc*}", "$", "GetDescription"}, min: 6.0, handle: (*Cluster).getDescription},
	{method: "GET", tmpl: []string{"Services", "{svc*}", "$", "GetApplicationName"}, min: 6.0, handle: (*Cluster).getApplicationName},
	{method: "GET", tmpl: []string{"Services", "{svc*}", "$", "ResolvePartition"}, min: 6.0, resolve: true, handle: (*Cluster).resolvePartition},
	{method: "POST", tmpl: []string{"Services", "{svc*}", "$", "Delete"}, min: 6.0, handle: (*Cluster).postDeleteService},
	{method: "GET", tmpl: []string{"Partitions", "{pid}"}, min: 6.0, handle: (*Cluster).getPartition},
	{method: "GET", tmpl: []string{"Partitions", "{pid}", "$", "GetReplicas"}, min: 6.0, handle: (*Cluster).getReplicas},
	{method: "GET", tmpl: []string{"Partitions", "{pid}", "$", "GetReplicas", "{rid}"}, min: 6.0, handle: (*Cluster).getReplica},
	{method: "GET", tmpl: []string{"Partitions", "{pid}", "$", "GetServiceName"}, min: 6.0, handle: (*Cluster).getServiceName},
	{method: "POST", tmpl: []string{"Partitions", "{pid}", "$", "MovePrimaryReplica"}, min: 6.5, handle: (*Cluster).postMovePrimary},
	{method: "GET", tmpl: []string{"Nodes"}, min: 6.3, handle: (*Cluster).getNodes},
	{method: "GET", tmpl: []string{"Nodes", "{node}"}, min: 6.0, handle: (*Cluster).getNode},
	{method: "POST", tmpl: []string{"Nodes", "{node}", "$", "GetPartitions", "{pid}", "$", "GetReplicas", "{rid}", "$", "Restart"}, min: 6.0, handle: (*Cluster).postRestartReplica},
	{method: "POST", tmpl: []string{"Faults", "Nodes", "{node}", "$", "StartTransition"}, min: 6.0, handle: (*Cluster).postStartTransition},
	{method: "GET", tmpl: []string{"Faults", "Nodes", "{node}", "$", "GetTransitionProgress"}, min: 6.0, handle: (*Cluster).getTransitionProgress},
	{method: "POST", tmpl: []string{"Faults", "Services", "{svc*}", "$", "GetPartitions", "{pid}", "$", "StartRestart"}, min: 6.0, handle: (*Cluster).postStartRestart},
	{method: "GET", tmpl: []string{"Faults", "Services", "{svc*}", "$", "GetPartitions", "{pid}", "$", "GetRestartProgress"}, min: 6.0, handle: (*Cluster).getRestartProgress},
	{method: "POST", tmpl: []string{"Faults", "Services", "{svc*}", "$", "GetPartitions", "{pid}", "$", "StartDataLoss"}, min: 6.0, handle: (*Cluster).postStartDataLoss},
	{method: "GET", tmpl: []string{"Faults", "Services", "{svc*}", "$", "GetPartitions", "{pid}", "$", "GetDataLossProgress"}, min: 6.0, handle: (*Cluster).getDataLossProgress},
	{method: "POST", tmpl: []string{"Faults", "Services", "{svc*}", "$", "GetPartitions", "{pid}", "$", "StartQuorumLoss"}, min: 6.0, handle: (*Cluster).postStartQuorumLoss},
	{method: "GET", tmpl: []string{"Faults", "Services", "{svc*}", "$", "GetPartitions", "{pid}", "$", "GetQuorumLossProgress"}, min: 6.0, handle: (*Cluster).getQuorumLossProgress},
	{method: "GET", tmpl: []string{"Faults"}, min: 6.0, handle: (*Cluster).getFaultOperations},
	{method: "POST", tmpl: []string{"Faults", "$", "Cancel"}, min: 6.0, handle: (*Cluster).postCancelOperation},
	{method: "POST", tmpl: []string{"Partitions", "{pid}", "$", "MoveSecondaryReplica"}, min: 6.5, handle: (*Cluster).postMoveSecondary},
	{method: "POST", tmpl: []string{"Services", "{svc*}", "$", "GetPartitions", "{pid}", "$", "MoveInstance"}, min: 8.0, handle: (*Cluster).postMoveInstance},
	{method: "POST", tmpl: []string{"Nodes", "{node}", "$", "Restart"}, min: 6.0, handle: (*Cluster).postRestartNode},
	{method: "POST", tmpl: []string{"Nodes", "{node}", "$", "GetPartitions", "{pid}", "$", "GetReplicas", "{rid}", "$", "Delete"}, min: 6.0, handle: (*Cluster).postRemoveReplica},
	{method: "GET", tmpl: []string{"ApplicationTypes"}, min: 6.0, handle: (*Cluster).getApplicationTypes},
	{method: "GET", tmpl: []string{"ApplicationTypes", "{type}"}, min: 6.0, handle: (*Cluster).getApplicationTypes},
	{method: "GET", tmpl: []string{"ApplicationTypes", "{type}", "$", "GetServiceTypes"}, min: 6.0, handle: (*Cluster).getServiceTypes},
	{method: "GET", tmpl: []string{"ApplicationTypes", "{type}", "$", "GetServiceTypes", "{stype}"}, min: 6.0, handle: (*Cluster).getServiceType},
	{method: "GET", tmpl: []string{"ApplicationTypes", "{type}", "$", "GetApplicationManifest"}, min: 6.0, handle: (*Cluster).getApplicationManifest},
	{method: "GET", tmpl: []string{"ApplicationTypes", "{type}", "$", "GetServiceManifest"}, min: 6.0, handle: (*Cluster).getServiceManifest},
	{method: "POST", tmpl: []string{"Applications", "$", "Create"}, min: 6.0, handle: (*Cluster).postCreateApplication},
	{method: "POST", tmpl: []string{"Applications", "{app*}", "$", "Delete"}, min: 6.0, handle: (*Cluster).postDeleteApplication},
	{method: "POST", tmpl: []string{"Applications", "{app*}", "$", "GetServices", "$", "Create"}, min: 6.0, handle: (*Cluster).postCreateService},
	{method: "POST", tmpl: []string{"Services", "{svc*}", "$", "Update"}, min: 6.0, handle: (*Cluster).postUpdateService},
	{method: "GET", tmpl: []string{"$", "GetClusterVersion"}, min: 6.4, handle: (*Cluster).getClusterVersion},
	{method: "GET", tmpl: []string{"$", "GetClusterManifest"}, min: 6.0, handle: (*Cluster).getClusterManifest},
	{method: "GET", tmpl: []string{"$", "GetUpgradeProgress"}, min: 6.0, handle: (*Cluster).getUpgradeProgress},
	{method: "GET", tmpl: []string{"$", "GetClusterHealth"}, min: 6.0, handle: (*Cluster).getClusterHealth},
	{method: "GET", tmpl: []string{"Nodes", "{node}", "$", "GetHealth"}, min: 6.0, handle: (*Cluster).getNodeHealth},
	{method: "GET", tmpl: []string{"Applications", "{app*}", "$", "GetHealth"}, min: 6.0, handle: (*Cluster).getApplicationHealth},
	{method: "GET", tmpl: []string{"Services", "{svc*}", "$", "GetHealth"}, min: 6.0, handle: (*Cluster).getServiceHealth},
	{method: "GET", tmpl: []string{"Partitions", "{pid}", "$", "GetHealth"}, min: 6.0, handle: (*Cluster).getPartitionHealth},
	{method: "GET", tmpl: []string{"Partitions", "{pid}", "$", "GetReplicas", "{rid}", "$", "GetHealth"}, min: 6.0, handle: (*Cluster).getReplicaHealth},
	{method: "POST", tmpl: []string{"$", "ReportClusterHealth"}, min: 6.0, handle: (*Cluster).postReportClusterHealth},
	{method: "POST", tmpl: []string{"Nodes", "{node}", "$", "ReportHealth"}, min: 6.0, handle: (*Cluster).postReportNodeHealth},
	{method: "POST", tmpl: []string{"Applications", "{app*}", "$", "ReportHealth"}, min: 6.0, handle: (*Cluster).postReportApplicationHealth},
	{method: "POST", tmpl: []string{"Services", "{svc*}", "$", "ReportHealth"}, min: 6.0, handle: (*Cluster).postReportServiceHealth},
	{method: "POST", tmpl: []string{"Partitions", "{pid}", "$", "ReportHealth"}, min: 6.0, handle: (*Cluster).postReportPartitionHealth},
	{method: "POST", tmpl: []string{"Partitions", "{pid}", "$", "GetReplicas", "{rid}", "$", "ReportHealth"}, min: 6.0, handle: (*Cluster).postReportReplicaHealth},
	{method: "GET", tmpl: []string{"$", "GetAadMetadata"}, min: 6.0, handle: (*Cluster).getAadMetadata},
}

// match matches path segments against a template; multi-segment variables are tried shortest first.
func match(tmpl, segs []string, vars map[string][]string) bool {
	if len(tmpl) == 0 {
		return len(segs) == 0
	}
	t := tmpl[0]
	if !strings.HasPrefix(t, "{") {
		return len(segs) > 0 && segs[0] == t && match(tmpl[1:], segs[1:], vars)
	}
	name := strings.Trim(t, "{}*")
	maxTake := 1
	if strings.HasSuffix(t, "*}") {
		maxTake = len(segs)
	}
	for n := 1; n <= maxTake && n <= len(segs); n++ {
		if segs[n-1] == "$" || segs[n-1] == "" {
			return false
		}
		if match(tmpl[1:], segs[n:], vars) {
			vars[name] = segs[:n]
			return true
		}
	}
	return false
}

// parseQuery reads a raw query as SF's gateway does (GatewayUri::ParseQueryString): split on '&', then each piece
// on '=', skipping empty tokens both times (SF's StringUtility::Split); a piece counts only if it yields exactly two
// tokens, so "a=" and "a=b=c" are dropped while "a==b" reads as a=b. The first occurrence of a name wins, names are
// case-sensitive and values stay percent-encoded.
func parseQuery(raw string) map[string]string {
	q := map[string]string{}
	for piece := range strings.SplitSeq(raw, "&") {
		var kv [2]string
		n := 0
		for tok := range strings.SplitSeq(piece, "=") {
			if tok == "" {
				continue
			}
			if n < len(kv) {
				kv[n] = tok
			}
			n++
		}
		if n != 2 {
			continue
		}
		if _, seen := q[kv[0]]; !seen {
			q[kv[0]] = kv[1]
		}
	}
	return q
}

var apiVersionRE = regexp.MustCompile(`^[0-9]{1,4}(\.[0-9]{1,4})?$`)

// checkAPIVersion applies SF's api-version rule: required, "-preview" stripped, numeric, within [route minimum,
// runtime major.minor].
func (c *Cluster) checkAPIVersion(raw string, present bool, min float64) (float64, *FabricError) {
	if !present {
		return 0, invalidArg("api-version is required (e.g. api-version=%.1f)", min)
	}
	v := strings.TrimSuffix(raw, "-preview")
	if !apiVersionRE.MatchString(v) {
		return 0, invalidArg("api-version %q is not a number like 6.0", raw)
	}
	f, _ := strconv.ParseFloat(v, 64)
	runtime, _ := strconv.ParseFloat(fmt.Sprintf("%d.%d", c.cfg.runtimeMajor, c.cfg.runtimeMinor), 64)
	if f < min {
		return 0, invalidArg("api-version %s is below %.1f, the lowest this operation supports", raw, min)
	}
	if f > runtime {
		return 0, invalidArg("api-version %s is above the cluster runtime version %d.%d", raw, c.cfg.runtimeMajor, c.cfg.runtimeMinor)
	}
	return f, nil
}

// ServeHTTP serves the management API (and /_fake/ knobs).
func (c *Cluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS != nil && c.certConns.retired(r) {
		// The request came over a connection made with the server certificate a rollover replaced (net/http had
		// read it ahead before the connection was closed): drop it, as a restarted node would have.
		panic(http.ErrAbortHandler)
	}
	path := r.URL.EscapedPath()
	if path == "/_fake" || strings.HasPrefix(path, "/_fake/") {
		c.serveFake(w, r, strings.TrimPrefix(path, "/_fake"))
		return
	}
	if isExplorerPath(path) {
		c.serveExplorer(w, r)
		return
	}
	// SF splits the path on '/' skipping empty segments (StringUtility::Split), so "//" and a trailing '/' are
	// harmless.
	segs := strings.FieldsFunc(path, func(r rune) bool { return r == '/' })

	var rt *route
	vars := map[string][]string{}
	methodMismatch := false
	for i := range routes {
		clear(vars)
		if match(routes[i].tmpl, segs, vars) {
			if routes[i].method != r.Method {
				methodMismatch = true
				continue
			}
			rt = &routes[i]
			break
		}
	}
	// SF parses the URL (template, verb, api-version) before it checks credentials: a URL it cannot parse is
	// 400 E_INVALIDARG even without credentials (RequestHandlerBase::HandlerAsyncOperation::OnStart). Any other
	// method than the operation's (PUT, DELETE, HEAD, ... on a GET route) is such a URL, so it is 400 too, not 405.
	if rt == nil {
		if methodMismatch {
			writeError(w, invalidArg("%s is not supported on %s", r.Method, r.URL.EscapedPath()))
			return
		}
		writeError(w, invalidArg("no operation matches %s %s (template segments are case-sensitive)", r.Method, r.URL.EscapedPath()))
		return
	}
	c.mu.Lock()
	pageSize := c.pageSize
	c.mu.Unlock()
	q := &request{r: r, query: parseQuery(r.URL.RawQuery), vars: vars, pageSize: pageSize}
	raw, present := q.query["api-version"]
	v, ferr := c.checkAPIVersion(raw, present, rt.min)
	if ferr != nil {
		writeError(w, ferr)
		return
	}
	q.version = v
	c.observeManagement(r)
	isAad := len(rt.tmpl) == 2 && rt.tmpl[1] == "GetAadMetadata"
	if !isAad && !c.authorized(r) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if rt.resolve {
		c.resolveTotal.Add(1)
	}
	if f, hit := c.takeNamingFault(rt.resolve); hit {
		if f.Drop {
			dropConnection(w)
			return
		}
		msg := f.Message
		if msg == "" {
			msg = "fault injected by fakesf"
		}
		writeError(w, fabricErr(f.Status, f.Code, "%s", msg))
		return
	}
	res := rt.handle(c, q)
	switch {
	case res.err != nil:
		writeError(w, res.err)
	case res.body == nil:
		w.WriteHeader(res.status)
	default:
		writeJSON(w, res.status, res.body)
	}
}

// takeNamingFault consumes one use of the naming fault if it applies to this call.
func (c *Cluster) takeNamingFault(resolve bool) (NamingFault, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.namingFault
	if f.Status == 0 && !f.Drop {
		return f, false
	}
	if !resolve && !f.AllRoutes {
		return f, false
	}
	if c.namingLeft > 0 {
		c.namingLeft--
		if c.namingLeft == 0 {
			c.namingFault = NamingFault{}
		}
	}
	return f, true
}

func setJSONHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
}

// marshalSF encodes v as SF's JSON writer does apart from '/' (see escapeSlashes): no HTML escaping of '<', '>'
// and '&' (encoding/json's default writes them as \u003c and so on).
func marshalSF(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// writeJSON writes v as SF does: UTF-8 JSON with '/' escaped as '\/'.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshalSF(v)
	if err != nil {
		writeError(w, fabricErr(http.StatusInternalServerError, "E_FAIL", "encode response: %v", err))
		return
	}
	setJSONHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(escapeSlashes(string(b))))
}

type fabricErrorJSON struct {
	Error struct {
		Code    string `json:"Code"`
		Message string `json:"Message"`
	} `json:"Error"`
}

func writeError(w http.ResponseWriter, e *FabricError) {
	var body fabricErrorJSON
	body.Error.Code, body.Error.Message = e.Code, e.Message
	b, _ := marshalSF(body)
	setJSONHeaders(w)
	w.WriteHeader(e.Status)
	_, _ = w.Write([]byte(escapeSlashes(string(b))))
}

// nameFromID turns path segments of a service or application ID into a fabric:/ name: each segment
// percent-unescaped, '~' → '/', joined with '/' (the raw '/' form), "fabric:/" prepended.
func nameFromID(segs []string) (string, *FabricError) {
	parts := make([]string, len(segs))
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			return "", fabricErr(http.StatusBadRequest, "FABRIC_E_INVALID_NAME_URI", "ID segment %q is not validly escaped", s)
		}
		parts[i] = strings.ReplaceAll(u, "~", "/")
	}
	return "fabric:/" + strings.Join(parts, "/"), nil
}

// idFromName is the ~ form of a fabric:/ name (api-version >= 6.0).
func idFromName(name string) string {
	return strings.ReplaceAll(strings.TrimPrefix(name, "fabric:/"), "/", "~")
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func parsePartitionID(seg string) (string, *FabricError) {
	u, err := url.PathUnescape(seg)
	if braced := strings.TrimSuffix(strings.TrimPrefix(u, "{"), "}"); len(braced) == len(u)-2 {
		u = braced // the {GUID} form; a lone brace is not a GUID
	}
	if err != nil || !guidRE.MatchString(u) {
		return "", invalidArg("partition ID %q is not a GUID", seg)
	}
	return strings.ToLower(u), nil
}

func (q *request) name(v string) (string, *FabricError) { return nameFromID(q.vars[v]) }

func (q *request) single(v string) string {
	s, err := url.PathUnescape(q.vars[v][0])
	if err != nil {
		return q.vars[v][0]
	}
	return s
}

// boolParam reads a true/false query parameter.
func (q *request) boolParam(name string) (bool, *FabricError) {
	raw, present := q.query[name]
	if !present {
		return false, nil
	}
	switch {
	case strings.EqualFold(raw, "true"):
		return true, nil
	case strings.EqualFold(raw, "false"):
		return false, nil
	}
	return false, invalidArg("%s %q must be true or false", name, raw)
}

// paging reads ContinuationToken and MaxResults (ignored unless honourMax: an operation's api-version may not
// know it); max is the most items of the page, the cluster's page size bounding it (0 = all).
func (q *request) paging(honourMax bool) (token string, max int64, err *FabricError) {
	token = q.query["ContinuationToken"]
	if raw, ok := q.query["MaxResults"]; ok {
		n, perr := strconv.ParseInt(raw, 10, 64)
		if perr != nil || n < 0 {
			return "", 0, invalidArg("MaxResults %q must be a non-negative integer", raw)
		}
		if honourMax {
			max = n
		}
	}
	if q.pageSize > 0 && (max == 0 || max > q.pageSize) {
		max = q.pageSize
	}
	return token, max, nil
}

// page returns the items whose key sorts after token (keys ascending), at most max (0 = all), and the
// continuation token: the last returned key if more remain, else "".
func page[T any](items []T, key func(T) string, token string, max int64) ([]T, string) {
	start := 0
	if token != "" {
		for start < len(items) && key(items[start]) <= token {
			start++
		}
	}
	rest := items[start:]
	if max > 0 && int64(len(rest)) > max {
		return rest[:max], key(rest[max-1])
	}
	return rest, ""
}

type pagedList[T any] struct {
	ContinuationToken string `json:"ContinuationToken"`
	Items             []T    `json:"Items"`
}

// parseTimeout reads SF's lower-case timeout (seconds); garbage is ignored, as SF does.
func (q *request) timeout() time.Duration {
	n, err := strconv.ParseUint(q.query["timeout"], 10, 32)
	if err != nil || n == 0 {
		return 60 * time.Second
	}
	return time.Duration(n) * time.Second
}
