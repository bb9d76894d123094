package gateway

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
)

// limitsConfig puts each limit policy on its own API in front of a status backend.
func limitsConfig(backend string) string {
	return fmt.Sprintf(`
apis:
  - name: by-key
    path: k
    serviceUrl: http://%[1]s/
    policies: |
      <policies><inbound><base />
        <rate-limit-by-key calls="3" renewal-period="60" counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Client&quot;,&quot;&quot;))"
            remaining-calls-header-name="X-Remaining" total-calls-header-name="X-Total" retry-after-header-name="X-Retry-After" />
      </inbound></policies>
  - name: counted-if-ok
    path: ok
    serviceUrl: http://%[1]s/
    policies: |
      <policies><inbound><base />
        <rate-limit-by-key calls="2" renewal-period="60" counter-key="all" increment-condition="@(context.Response.StatusCode == 200)" />
      </inbound></policies>
  - name: whole
    path: r
    serviceUrl: http://%[1]s/
    policies: |
      <policies><inbound><base /><rate-limit calls="2" renewal-period="30" /></inbound>
        <on-error><base />
          <choose><when condition="@(context.LastError.Reason == &quot;RateLimitExceeded&quot; &amp;&amp; context.Request.Headers.ContainsKey(&quot;X-Teapot&quot;))">
            <return-response><set-status code="418" reason="Slow down" /></return-response>
          </when></choose>
        </on-error></policies>
  - name: quota
    path: q
    serviceUrl: http://%[1]s/
    policies: |
      <policies><inbound><base /><quota-by-key calls="2" renewal-period="3600" counter-key="x" /></inbound></policies>
`, backend)
}

// limitBody is APIM's body of a refused request (with the gateway's code and request ID).
type limitBody struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
	Code       string `json:"code"`
	RequestID  string `json:"requestId"`
}

func decodeLimit(t *testing.T, r rawResponse, status int, code string) limitBody {
	t.Helper()
	var b limitBody
	if err := json.Unmarshal(r.body, &b); err != nil || r.status != status || b.StatusCode != status || b.Code != code || b.RequestID == "" {
		t.Fatalf("want %d %s with APIM's body, got %d %s (%v)", status, code, r.status, r.body, err)
	}
	return b
}

// rate-limit-by-key answers 429 at the call after `calls`, with APIM's message, Retry-After and the headers it
// names; each key counts on its own.
func TestRateLimitByKey(t *testing.T) {
	sb := startStatusBackend(t)
	g := startGateway(t, limitsConfig(sb.addr), nil)
	a := map[string]string{"X-Client": "a"}
	for i := 1; i <= 3; i++ {
		r := do(t, g.addr, "GET", "/k/x", a, "")
		if r.status != 200 || r.header.Get("X-Remaining") != strconv.Itoa(3-i) || r.header.Get("X-Total") != "3" {
			t.Fatalf("call %d: %d, X-Remaining %q, X-Total %q", i, r.status, r.header.Get("X-Remaining"), r.header.Get("X-Total"))
		}
	}
	r := do(t, g.addr, "GET", "/k/x", a, "")
	b := decodeLimit(t, r, http.StatusTooManyRequests, "RateLimitExceeded")
	wait, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || wait < 1 || wait > 60 || r.header.Get("X-Retry-After") != r.header.Get("Retry-After") || r.header.Get("X-Remaining") != "0" {
		t.Errorf("Retry-After %q, X-Retry-After %q, X-Remaining %q", r.header.Get("Retry-After"), r.header.Get("X-Retry-After"), r.header.Get("X-Remaining"))
	}
	if want := fmt.Sprintf("Rate limit is exceeded. Try again in %d seconds.", wait); b.Message != want {
		t.Errorf("message %q, want %q", b.Message, want)
	}
	if sb.hits.Load() != 3 {
		t.Errorf("the backend got %d calls, want 3", sb.hits.Load())
	}
	if r := do(t, g.addr, "GET", "/k/x", map[string]string{"X-Client": "b"}, ""); r.status != 200 || r.header.Get("X-Remaining") != "2" {
		t.Errorf("another key: %d, X-Remaining %q", r.status, r.header.Get("X-Remaining"))
	}
}

// increment-condition counts a call once its answer is known: failed calls do not use up the limit.
func TestRateLimitIncrementCondition(t *testing.T) {
	sb := startStatusBackend(t)
	g := startGateway(t, limitsConfig(sb.addr), nil)
	sb.status.Store(500)
	for range 4 {
		if r := do(t, g.addr, "GET", "/ok/x", nil, ""); r.status != 500 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	sb.status.Store(200)
	for range 2 {
		if r := do(t, g.addr, "GET", "/ok/x", nil, ""); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	decodeLimit(t, do(t, g.addr, "GET", "/ok/x", nil, ""), http.StatusTooManyRequests, "RateLimitExceeded")
}

// rate-limit counts every call through it; on-error sees context.LastError and may answer otherwise.
func TestRateLimitAndOnError(t *testing.T) {
	sb := startStatusBackend(t)
	g := startGateway(t, limitsConfig(sb.addr), nil)
	for range 2 {
		if r := do(t, g.addr, "GET", "/r/x", nil, ""); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	decodeLimit(t, do(t, g.addr, "GET", "/r/x", nil, ""), http.StatusTooManyRequests, "RateLimitExceeded")
	if r := do(t, g.addr, "GET", "/r/x", map[string]string{"X-Teapot": "1"}, ""); r.status != 418 {
		t.Errorf("on-error's answer: %d %s, want 418", r.status, r.body)
	}
}

// quota-by-key answers 403 with APIM's message once the period's calls are used.
func TestQuotaByKey(t *testing.T) {
	sb := startStatusBackend(t)
	g := startGateway(t, limitsConfig(sb.addr), nil)
	for range 2 {
		if r := do(t, g.addr, "GET", "/q/x", nil, ""); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	r := do(t, g.addr, "GET", "/q/x", nil, "")
	b := decodeLimit(t, r, http.StatusForbidden, "QuotaExceeded")
	var hh, mm, ss int
	if n, _ := fmt.Sscanf(b.Message, "Out of call volume quota. Quota will be replenished in %d:%d:%d.", &hh, &mm, &ss); n != 3 || hh > 1 {
		t.Errorf("message %q", b.Message)
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

// concurrencyConfig is API c in front of backend with limit-concurrency max-count 1 around forward-request.
func concurrencyConfig(backend string) string {
	return fmt.Sprintf(`
apis:
  - name: c
    path: c
    serviceUrl: http://%s/
    policies: |
      <policies><backend><limit-concurrency key="one" max-count="1"><forward-request /></limit-concurrency></backend></policies>
`, backend)
}

// limit-concurrency lets max-count requests with one key run its body at once; one more is refused with 429
// at once, and the slot comes back when a request leaves.
func TestLimitConcurrency(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	be := startEcho(t, func(http.ResponseWriter) {
		select {
		case entered <- struct{}{}:
			<-release
		default:
		}
	})
	g := startGateway(t, concurrencyConfig(be), nil)
	first := make(chan rawResponse, 1)
	go func() {
		r, err := tryDo(g.addr, "GET", "/c/slow", nil, "")
		if err != nil {
			r.status = -1
		}
		first <- r
	}()
	<-entered
	decodeLimit(t, do(t, g.addr, "GET", "/c/x", nil, ""), http.StatusTooManyRequests, "ConcurrencyLimitExceeded")
	close(release)
	if r := <-first; r.status != 200 {
		t.Fatalf("first request: %d %s", r.status, r.body)
	}
	if r := do(t, g.addr, "GET", "/c/x", nil, ""); r.status != 200 {
		t.Errorf("after the first left: %d %s", r.status, r.body)
	}
}

// limit-concurrency around forward-request frees its slot when the backend's response head arrives and the
// block ends: a streamed (chunked) response's body then reaches the client outside the limit, so another
// request with the key gets through while the first body is still streaming.
func TestLimitConcurrencyStreamedResponseFreesSlotAtHead(t *testing.T) {
	finish := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stream" {
			w.Write([]byte("short"))
			return
		}
		w.Write([]byte("first chunk\n")) // no Content-Length: chunked, streamed by the gateway
		w.(http.Flusher).Flush()
		<-finish
		w.Write([]byte("last chunk\n"))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	defer func() {
		select {
		case <-finish:
		default:
			close(finish)
		}
	}()
	g := startGateway(t, concurrencyConfig(ln.Addr().String()), nil)

	conn, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "GET /c/stream HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if resp.StatusCode != 200 || err != nil || line != "first chunk\n" {
		t.Fatalf("streamed response: %d, first line %q, %v", resp.StatusCode, line, err)
	}
	// The first response's body is still open (the backend waits for finish).
	if r := do(t, g.addr, "GET", "/c/x", nil, ""); r.status != 200 || string(r.body) != "short" {
		t.Errorf("a second request while the first body streams: %d %s, want 200 (the slot was freed at the head)", r.status, r.body)
	}
	close(finish)
}
