package gateway

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/sfgate/sfgate/gateway/config"
)

// adminCall sends GET path to the admin listener with an Authorization header (none when empty).
func adminCall(t *testing.T, g *testGateway, path, authorization string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+g.admin+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// With adminAuth, /metrics and /debug/* answer 401 without the bearer token (or with a wrong one, another
// scheme, a prefix of it), and serve with it; /healthz and /readyz stay open. /debug/pprof/ is 404 unless
// adminPprof is on, and then guarded too. Reload replaces the token. The token never reaches the log.
func TestAdminAuthAndPprof(t *testing.T) {
	const token = "MARKER-ADMIN-TOKEN-3c9f"
	t.Setenv("SFGATE_TEST_ADMIN_TOKEN", token)
	logs := &lockedBuffer{}
	text := fmt.Sprintf(`
namedValues:
  admin-token: {env: SFGATE_TEST_ADMIN_TOKEN, secret: true}
adminAuth: {bearerToken: "{{admin-token}}"}
apis: [{name: a, path: a, serviceUrl: "http://%s/"}]
`, startEcho(t, nil))
	g := startGatewayWith(t, text, nil, Options{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})

	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _, body := adminCall(t, g, path, ""); code != 200 {
			t.Errorf("%s without a token: %d %s, want 200", path, code, body)
		}
	}
	for _, path := range []string{"/metrics", "/debug/cache", "/debug/breakers", "/debug/resolve?service=fabric:/A/B"} {
		for _, auth := range []string{"", "Bearer wrong", "Basic " + token, "Bearer " + token[:len(token)-1], "Bearer " + token + "x", token} {
			code, h, body := adminCall(t, g, path, auth)
			if code != 401 || h.Get("WWW-Authenticate") == "" || !strings.Contains(body, "adminAuth.bearerToken") {
				t.Errorf("%s with Authorization %q: %d %v %s, want 401 with WWW-Authenticate", path, auth, code, h, body)
			}
		}
	}
	if code, _, body := adminCall(t, g, "/metrics", "Bearer "+token); code != 200 || !strings.Contains(body, "sfgate_") {
		t.Errorf("/metrics with the token: %d %.200s", code, body)
	}
	if code, _, body := adminCall(t, g, "/debug/cache", "bearer  "+token); code != 200 {
		t.Errorf("/debug/cache with the token (scheme in lower case): %d %s", code, body)
	}
	if code, _, body := adminCall(t, g, "/debug/pprof/", "Bearer "+token); code != 404 || !strings.Contains(body, "adminPprof") {
		t.Errorf("/debug/pprof/ without adminPprof: %d %.200s, want 404", code, body)
	}

	// Reload: a new token, profiles switched on.
	const next = "MARKER-ADMIN-TOKEN-NEXT-77a1"
	t.Setenv("SFGATE_TEST_ADMIN_TOKEN", next)
	cfg, err := config.Parse([]byte("adminPprof: true\n"+text), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := adminCall(t, g, "/metrics", "Bearer "+token); code != 401 {
		t.Errorf("/metrics with the old token after Reload: %d, want 401", code)
	}
	if code, _, _ := adminCall(t, g, "/metrics", "Bearer "+next); code != 200 {
		t.Errorf("/metrics with the new token after Reload: %d, want 200", code)
	}
	if code, _, _ := adminCall(t, g, "/debug/pprof/", ""); code != 401 {
		t.Errorf("/debug/pprof/ without the token: %d, want 401", code)
	}
	if code, _, body := adminCall(t, g, "/debug/pprof/", "Bearer "+next); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/ with adminPprof and the token: %d %.200s", code, body)
	}
	g.log.Info("an operator pasted the token " + next + " into a log line")
	if strings.Contains(logs.String(), token) || strings.Contains(logs.String(), next) {
		t.Errorf("the admin token reached the log:\n%s", logs.String())
	}
}

// Without adminAuth the admin endpoints stay open, and profiles stay off unless asked for.
func TestAdminOpenWithoutAdminAuth(t *testing.T) {
	g := startGateway(t, fmt.Sprintf("apis: [{name: a, path: a, serviceUrl: \"http://%s/\"}]\n", startEcho(t, nil)), nil)
	if code, _, _ := adminCall(t, g, "/metrics", ""); code != 200 {
		t.Errorf("/metrics: %d, want 200", code)
	}
	if code, _, _ := adminCall(t, g, "/debug/pprof/", ""); code != 404 {
		t.Errorf("/debug/pprof/ by default: %d, want 404", code)
	}
}
