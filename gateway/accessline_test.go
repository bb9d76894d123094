package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// lineHandler is slog's text or JSON handler with durations as seconds (what the sfgate command's logger writes)
// that also takes ready-made lines (LineWriter), as the sfgate command's handler does.
type lineHandler struct {
	slog.Handler
	json bool
	w    *lockedWriter
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newLineHandler(w io.Writer, jsonLayout bool, level slog.Leveler) lineHandler {
	lw := &lockedWriter{w: w}
	return lineHandler{Handler: newSecondsHandler(lw, jsonLayout, level), json: jsonLayout, w: lw}
}

func newSecondsHandler(w io.Writer, jsonLayout bool, level slog.Leveler) slog.Handler {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Value.Kind() == slog.KindDuration {
			return slog.Float64(a.Key, a.Value.Duration().Seconds())
		}
		return a
	}}
	if jsonLayout {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

func (h lineHandler) LineLayout() (bool, bool) { return h.json, true }

func (h lineHandler) WriteLine(line []byte) error {
	_, err := h.w.Write(line)
	return err
}

// slogLine is the line slog's handler (through the redacting handler, as the gateway logs) writes for l.
func slogLine(t testing.TB, l *requestLine, jsonLayout bool) []byte {
	var buf bytes.Buffer
	var secrets atomic.Pointer[strings.Replacer]
	secrets.Store(l.secrets)
	h := redactingHandler{next: newSecondsHandler(&buf, jsonLayout, slog.LevelDebug), r: &secrets}
	rec := slog.NewRecord(l.timestamp, l.level, "request", 0)
	rec.AddAttrs(l.appendAttrs(nil)...)
	if err := h.Handle(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The gateway's own request line is slog's, byte for byte, in both layouts, with and without secrets to mask.
func TestRequestLineMatchesSlog(t *testing.T) {
	at := time.Date(2026, 12, 5, 3, 4, 5, 120_000_000, time.FixedZone("x", 3600))
	lines := []requestLine{
		{level: slog.LevelInfo, client: []byte("192.0.2.1"), method: []byte("GET"), path: []byte("/shop/orders/7"),
			status: 200, duration: 123456 * time.Nanosecond, hasAPI: true, api: "shop", operation: "get-order",
			hasBackend: true, backend: "orders", partition: "6a1d4e8c-0000-4000-8000-000000000001",
			replica: []byte("http://10.0.0.4:8080"), attempts: 1, requestID: []byte("0c2f6e5a-3c1b-4d7e-9a8b-1f2e3d4c5b6a"),
			timestamp: at},
		{level: slog.LevelWarn, client: []byte("203.0.113.9"), proxy: []byte("127.0.0.1"), method: []byte("POST"),
			path: []byte("/a b/\"q\"=\\x/é/\u2028/\x01"), status: 503, duration: 3 * time.Second, attempts: 4,
			reresolutions: 3, requestID: []byte("id"), failed: true, code: "NoEndpoint",
			detail: "no usable endpoint: partition \"p\"\n<&>\t\xff key=s3cret-value", timestamp: at.Add(999 * time.Microsecond)},
		{level: slog.LevelDebug, client: []byte(""), method: []byte("GET"), path: []byte("/"), status: 404,
			duration: 500 * time.Nanosecond, requestID: []byte("r"), failed: true, code: "RouteNotFound",
			detail: "no API matches the request path", hasBackend: true, timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{level: slog.LevelInfo, client: []byte("::1"), method: []byte("GET"), path: []byte("/x/s3cret-value/y"), status: 200,
			duration: 1500 * time.Hour, replica: []byte("http://u:s3cret-value@h:1"), requestID: []byte("s3cret-value"),
			hasAPI: true, api: "s3cret-value", operation: "", timestamp: at},
	}
	var clock clockText // kept across lines and layouts, as a request state keeps it
	for _, masked := range []bool{false, true} {
		for i, l := range lines {
			if masked {
				l.secrets = newRedactor([]string{"s3cret-value", "request"})
			}
			for _, jsonLayout := range []bool{false, true, false, true} {
				want := slogLine(t, &l, jsonLayout)
				l.clock = &clockText{} // nothing kept: the whole text formatted
				got := l.appendLine(nil, jsonLayout)
				l.clock = &clock
				if cached := l.appendLine(nil, jsonLayout); !bytes.Equal(got, want) || !bytes.Equal(cached, want) {
					t.Errorf("line %d (json %v, masked %v):\n got %s\n     %s (the time's text kept)\nwant %s", i, jsonLayout, masked, got, cached, want)
				}
				if masked && bytes.Contains(got, []byte("s3cret")) {
					t.Errorf("line %d (json %v): the secret shows: %s", i, jsonLayout, got)
				}
			}
		}
	}
}

// FuzzRequestLine: whatever bytes a client sends (method, path, request ID) and whatever a failure says, the
// gateway's line equals slog's in both layouts.
func FuzzRequestLine(f *testing.F) {
	f.Add([]byte("GET"), []byte("/shop/orders/7"), []byte("id-1"), "detail", int64(123456), "")
	f.Add([]byte("P\"ST"), []byte("/a b/\xff\u2028"), []byte("="), "x\n\"y\"\\", int64(1), "secret")
	zones := []*time.Location{time.UTC, time.FixedZone("", 5*3600+30*60), time.FixedZone("", -8*3600), time.FixedZone("", 0)}
	var clock clockText
	f.Fuzz(func(t *testing.T, method, path, id []byte, detail string, d int64, secret string) {
		l := requestLine{level: slog.LevelInfo, client: []byte("192.0.2.1"), method: method, path: path, status: 502,
			duration: time.Duration(d), attempts: 2, requestID: id, failed: true, code: "BackendConnectionFailed",
			detail: detail, timestamp: time.Unix(d/1e9*int64(len(path)%3), d%1e9).In(zones[len(id)%len(zones)])}
		if len(secret) >= minSecretLen {
			l.secrets = newRedactor([]string{secret})
		}
		for _, jsonLayout := range []bool{false, true} {
			want := slogLine(t, &l, jsonLayout)
			l.clock = &clockText{} // nothing kept: the whole text formatted
			if got := l.appendLine(nil, jsonLayout); !bytes.Equal(got, want) {
				t.Fatalf("json %v:\n got %q\nwant %q", jsonLayout, got, want)
			}
			l.clock = &clock // kept across inputs, as a request state keeps it across requests
			if got := l.appendLine(nil, jsonLayout); !bytes.Equal(got, want) {
				t.Fatalf("json %v, the time's text kept:\n got %q\nwant %q", jsonLayout, got, want)
			}
		}
	})
}

// With a handler that takes ready-made lines, the access log allocates nothing per request, and its line is the
// request's, in the handler's layout.
func TestAccessLogLineAllocations(t *testing.T) {
	for _, jsonLayout := range []bool{false, true} {
		var buf bytes.Buffer
		g, _ := allocGatewayLogging(t, slog.New(newLineHandler(&buf, jsonLayout, slog.LevelInfo)))
		const target = "/shop/orders/7?customer=42"
		ctx := newTestCtx(target)
		serveOnce(g, ctx, target)
		line := buf.String()
		if jsonLayout {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil || m["msg"] != "request" || m["path"] != "/shop/orders/7" ||
				m["status"] != 200.0 || m["level"] != "INFO" || m["requestId"] != string(ctx.Response.Header.Peek("X-Request-Id")) {
				t.Errorf("JSON line %q: %v %v", line, m, err)
			}
		} else if !strings.Contains(line, " level=INFO msg=request client=192.0.2.1 method=GET path=/shop/orders/7 status=200 duration=") ||
			!strings.HasSuffix(line, " requestId="+string(ctx.Response.Header.Peek("X-Request-Id"))+"\n") {
			t.Errorf("text line %q", line)
		}
		if raceEnabled {
			continue
		}
		for range 100 {
			serveOnce(g, ctx, target)
		}
		buf.Reset()
		if n := testing.AllocsPerRun(500, func() { serveOnce(g, ctx, target) }); n != 0 {
			t.Errorf("json %v: %.1f allocations per request with the access log on, want 0", jsonLayout, n)
		}
	}
}

// A pooled request state keeps the text of the last peer it saw (setClientAddress): a request from another peer
// is logged, and forwarded, with its own address.
func TestPeerAddressOfEachRequest(t *testing.T) {
	var buf bytes.Buffer
	g, _ := allocGatewayLogging(t, slog.New(newLineHandler(&buf, false, slog.LevelInfo)))
	const target = "/shop/orders/7?customer=42"
	for _, ip := range []net.IP{net.IPv4(192, 0, 2, 1), net.IPv4(192, 0, 2, 1), net.IPv4(198, 51, 100, 7), net.ParseIP("2001:db8::5"), net.IPv4(192, 0, 2, 1)} {
		var req fasthttp.Request
		req.SetRequestURI(target)
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: ip, Port: 5000}, nil)
		buf.Reset()
		serveOnce(g, &ctx, target)
		if want := " client=" + ip.String() + " "; !strings.Contains(buf.String(), want) {
			t.Errorf("peer %s: line %q, want %q in it", ip, buf.String(), want)
		}
	}
}
