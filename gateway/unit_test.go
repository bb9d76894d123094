package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/gateway/expr"
	"github.com/valyala/fasthttp"
)

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"plain", `quote " and \ slash`, "ctl \x00\x1f\n\r\t", "<tag>&", "ünïcødé €", "bad \xff utf8"} {
		var got string
		if err := json.Unmarshal(appendJSONString(nil, s), &got); err != nil {
			t.Errorf("%q: invalid JSON %s: %v", s, appendJSONString(nil, s), err)
			continue
		}
		want := s
		if s == "bad \xff utf8" {
			want = "bad \uFFFD utf8"
		}
		if got != want {
			t.Errorf("round trip of %q gave %q", s, got)
		}
	}
}

// The pooled request state is the request's context: its deadline is limits.requestTimeout, Done closes
// when it passes, and Err reports context.DeadlineExceeded.
func TestRequestStateContext(t *testing.T) {
	s := newReqState()
	s.deadline = time.Now().Add(50 * time.Millisecond)
	var ctx context.Context = s
	if d, ok := ctx.Deadline(); !ok || !d.Equal(s.deadline) {
		t.Errorf("Deadline = %v %v", d, ok)
	}
	if ctx.Err() != nil || ctx.Value("k") != nil {
		t.Errorf("before the deadline: Err %v", ctx.Err())
	}
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("after the deadline: Err %v", ctx.Err())
	}
	s.end()
	s.deadline = time.Now().Add(-time.Second)
	select {
	case <-s.Done():
	default:
		t.Error("Done of a state past its deadline is not closed")
	}
	s.end()
}

func TestClassifyForwardErrors(t *testing.T) {
	ep := []byte("http://127.0.0.2:1")
	cases := []struct {
		err      error
		reason   string
		notSent  bool
		status   int
		tooLarge bool
	}{
		{&dialError{err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, expr.ReasonBackendConnectionFailure, true, 502, false},
		{fasthttp.ErrNoFreeConns, expr.ReasonBackendConnectionFailure, true, 503, false},
		{errStaleConn, expr.ReasonBackendConnectionFailure, true, 502, false},
		{fasthttp.ErrDialTimeout, expr.ReasonTimeout, true, 504, false},
		{fasthttp.ErrConnectionClosed, expr.ReasonBackendConnectionFailure, false, 502, false},
		{fasthttp.ErrTimeout, expr.ReasonTimeout, false, 504, false},
		{fasthttp.ErrBodyTooLarge, expr.ReasonBackendConnectionFailure, false, 502, true},
	}
	for _, c := range cases {
		fe := classify(c.err, ep)
		if fe.reason != c.reason || fe.notSent != c.notSent || fe.tooLarge != c.tooLarge {
			t.Errorf("%v: %+v", c.err, fe)
		}
		if le := expr.AsLastError(fe); le.Reason != c.reason || le.Source != "forward-request" {
			t.Errorf("%v: LastError %+v", c.err, le)
		}
		if re := asRequestError(fmtWrap(fe)); re.Status != c.status {
			t.Errorf("%v: status %d, want %d", c.err, re.Status, c.status)
		}
	}
}

func fmtWrap(err error) error { return errors.Join(errors.New("policy"), err) }

// isHopByHop agrees with the hopByHop list in any letter case, and refuses other names, of the same lengths
// too.
func TestIsHopByHop(t *testing.T) {
	for _, h := range hopByHop {
		for _, k := range []string{h, strings.ToLower(h), strings.ToUpper(h)} {
			if !isHopByHop([]byte(k)) {
				t.Errorf("isHopByHop(%q) = false, want true", k)
			}
		}
	}
	for _, k := range []string{"", "T", "Ta", "Accept", "Server", "Referer", "Trailers", "Connectiom", "Keep-Alivf",
		"Content-Type", "X-Forwarded-For", "Proxy-Connectiom", "Transfer-Encodinh", "Proxy-Authenticatf",
		"Proxy-Authorizatiom", "Proxy-Authorization-X"} {
		if isHopByHop([]byte(k)) {
			t.Errorf("isHopByHop(%q) = true, want false", k)
		}
	}
}

// Request IDs are version-4 GUIDs in lower-case hex, appended after what dst holds, and do not repeat.
func TestAppendRequestID(t *testing.T) {
	guid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		b := appendRequestID([]byte("id="))
		id, ok := strings.CutPrefix(string(b), "id=")
		if !ok || !guid.MatchString(id) {
			t.Fatalf("appendRequestID gave %q, want id= then a version-4 GUID", b)
		}
		if seen[id] {
			t.Fatalf("request ID %s repeated", id)
		}
		seen[id] = true
	}
}

// The endpoint a log line names never carries the userinfo of the URL it came from.
func TestWithoutUserinfo(t *testing.T) {
	for in, want := range map[string]string{
		"http://u:p@h:1":     "http://h:1",
		"https://a@b@[::1]":  "https://[::1]",
		"http://10.0.0.4:80": "http://10.0.0.4:80",
		"":                   "",
	} {
		if got := string(withoutUserinfo([]byte(in))); got != want {
			t.Errorf("withoutUserinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

// A pool finds each endpoint's own client, whether it is the one added last (looked up without the map) or an
// earlier one; a key that is a prefix of another host's is not taken for it; a forgotten endpoint gets a new
// client.
func TestPoolClientPerEndpoint(t *testing.T) {
	p := newPool(poolSettings{})
	get := func(u string) *fasthttp.HostClient {
		t.Helper()
		hc, key, err := p.client([]byte(u))
		if err != nil || !strings.HasPrefix(u, string(key)) {
			t.Fatalf("client(%s): key %q, %v", u, key, err)
		}
		return hc
	}
	a := get("http://h:1/x")
	b := get("http://h:10/x") // added last; "http://h:1" is a prefix of its key
	if a == b || get("http://h:1?q") != a || get("http://h:10") != b || get("http://h:1/y") != a || get("http://h:10#f") != b {
		t.Fatal("endpoints share or swap clients")
	}
	p.forget("http://h:10/z")
	if c := get("http://h:10/x"); c == b {
		t.Fatal("a forgotten endpoint kept its client")
	}
}
