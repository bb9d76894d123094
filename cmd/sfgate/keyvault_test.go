package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/gateway/config"
	"github.com/sfgate/sfgate/internal/keyvault/keyvaulttest"
)

// A Key Vault named value (an API key checked by check-header, the admin bearer token, the text of a failing
// expression) is fetched at start; a refresh picks up a new version for new requests without a restart, and so
// does SIGHUP; with the vault down a refresh and a SIGHUP keep the last good value and warn, naming the named
// value. No version of the secret ever reaches the log or an admin answer.
func TestKeyVaultValuesRefreshAndReload(t *testing.T) {
	v := keyvaulttest.Start(t)
	values := []string{"MARKER-KV-one-4d1f", "MARKER-KV-two-8a2c", "MARKER-KV-three-e07b"}
	v.Set("orders-key", values[0])
	refresh, reload := make(chan time.Time), make(chan struct{})
	s, _ := startServe(t, `
listen: 127.0.0.1:0
admin: 127.0.0.1:0
drainDelay: 0s
log: {level: debug}
adminAuth: {bearerToken: "{{vault-key}}"}
namedValues:
  vault-key:
    keyVault: {secretIdentifier: "`+v.SecretID("orders-key", "")+`"}
    secret: true
apis:
  - name: orders
    path: orders
    policies: |
      <policies><inbound>
        <check-header name="X-Key" failed-check-httpcode="401" failed-check-error-message="Not authorized" ignore-case="false">
          <value>{{vault-key}}</value>
        </check-header>
        <return-response><set-status code="200" reason="OK" /></return-response>
      </inbound></policies>
  - name: expression
    path: expression
    serviceUrl: http://127.0.0.1:1/
    policies: |
      <policies><inbound><base />
        <set-header name="X-N" exists-action="override"><value>@(int.Parse("{{vault-key}}").ToString())</value></set-header>
      </inbound></policies>
`, control{refresh: refresh, reload: reload, loader: &config.Loader{KeyVault: v.Client()}})

	// send asks url with header name: value and returns the status and body.
	send := func(url, name, value string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set(name, value)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	count := func(msg string) func(string) bool {
		n := strings.Count(s.log.String(), msg)
		return func(out string) bool { return strings.Count(out, msg) > n }
	}
	// accepts checks that exactly value (of values) is the current key on the data path and the admin listener.
	accepts := func(when string, current int) {
		t.Helper()
		for i, val := range values {
			want := http.StatusUnauthorized
			if i == current {
				want = http.StatusOK
			}
			if code, body := send("http://"+s.gw+"/orders/1", "X-Key", val); code != want {
				t.Errorf("%s: GET /orders/1 with value %d: %d %s, want %d", when, i, code, body, want)
			}
			if code, _ := send("http://"+s.admin+"/debug/routes", "Authorization", "Bearer "+val); code != want {
				t.Errorf("%s: /debug/routes with value %d: %d, want %d", when, i, code, want)
			}
		}
		// The expression fails on the value, and the log line that shows the expression masks it.
		masked := count(`int.Parse: \"[redacted]\" is not a valid int`)
		if code, _ := send("http://"+s.gw+"/expression/x", "X-Any", "x"); code != http.StatusInternalServerError {
			t.Errorf("%s: GET /expression/x: %d, want 500", when, code)
		}
		if !masked(s.log.String()) {
			t.Errorf("%s: no log line shows the failed expression with the value masked", when)
		}
	}
	accepts("at start", 0)

	v.Set("orders-key", values[1])
	refreshed := count("Key Vault named values refreshed")
	refresh <- time.Now()
	waitOutput(t, s.done, s.log, refreshed)
	accepts("after a refresh", 1)

	v.Set("orders-key", values[2])
	reloaded := count("log settings applied")
	reload <- struct{}{}
	waitOutput(t, s.done, s.log, reloaded)
	accepts("after SIGHUP", 2)

	served := v.Served()
	v.Close()
	warned := count("last good value stays")
	refresh <- time.Now()
	waitOutput(t, s.done, s.log, warned)
	accepts("after a refresh with the vault down", 2)
	warned = count("last good value stays")
	reloaded = count("log settings applied")
	reload <- struct{}{}
	waitOutput(t, s.done, s.log, func(out string) bool { return warned(out) && reloaded(out) })
	accepts("after SIGHUP with the vault down", 2)

	if served != 3 {
		t.Errorf("the vault served %d secrets, want 3 (start, refresh, SIGHUP)", served)
	}
	out := s.log.String()
	if !strings.Contains(out, "namedValue=vault-key") {
		t.Errorf("the warnings do not name the named value:\n%s", out)
	}
	for _, path := range []string{"/debug/routes", "/debug/cache", "/debug/breakers", "/metrics"} {
		_, body := send("http://"+s.admin+path, "Authorization", "Bearer "+values[2])
		out += body
	}
	if strings.Contains(out, "MARKER") {
		t.Errorf("a Key Vault value reached the log or an admin answer:\n%s", out)
	}
}
