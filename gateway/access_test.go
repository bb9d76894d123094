package gateway

import (
	"encoding/json"
	"fmt"
	"testing"
)

// Access-control policies end to end: ip-filter judges the client a trusted proxy names; a refusal answers
// APIM's status and body {"statusCode", "message"} with the request ID in X-Request-Id, reaches no backend, and
// the on-error section sees it in context.LastError.
func TestAccessControlPolicies(t *testing.T) {
	be := startEcho(t, nil)
	g := startGateway(t, fmt.Sprintf(`
trustedProxies: [127.0.0.1]
apis:
  - name: filtered
    path: filtered
    serviceUrl: http://%[1]s/
    policies: |
      <policies><inbound><base />
        <ip-filter action="forbid"><address-range from="203.0.113.0" to="203.0.113.255" /></ip-filter>
      </inbound></policies>
  - name: tenants
    path: tenants
    serviceUrl: http://%[1]s/
    policies: |
      <policies><inbound><base />
        <check-header name="X-Tenant" failed-check-httpcode="401" failed-check-error-message="Tenant header missing or not allowed" ignore-case="true">
          <value>contoso</value>
        </check-header>
      </inbound></policies>
  - name: handled
    path: handled
    serviceUrl: http://%[1]s/
    policies: |
      <policies>
        <inbound><base /><check-header name="X-Tenant" failed-check-httpcode="401" failed-check-error-message="no tenant" ignore-case="true" /></inbound>
        <on-error><base />
          <return-response>
            <set-status code="418" reason="Refused" />
            <set-body>@(context.LastError.Source + "/" + context.LastError.Reason + "/" + context.LastError.Message)</set-body>
          </return-response>
        </on-error>
      </policies>
`, be), nil)

	type apimBody struct {
		StatusCode int    `json:"statusCode"`
		Message    string `json:"message"`
	}
	refused := func(target string, header map[string]string, status int, message string) {
		t.Helper()
		r := do(t, g.addr, "GET", target, header, "")
		var b apimBody
		if err := json.Unmarshal(r.body, &b); err != nil || r.status != status || b.StatusCode != status || b.Message != message {
			t.Errorf("GET %s %v: %d %s, want %d with APIM's body and message %q", target, header, r.status, r.body, status, message)
		}
		if r.header.Get("X-Request-Id") == "" {
			t.Errorf("GET %s: refusal without X-Request-Id", target)
		}
	}
	refused("/filtered/x", map[string]string{"X-Forwarded-For": "203.0.113.7"}, 403, "Forbidden")
	refused("/filtered/x", map[string]string{"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}, 403, "Forbidden")
	if r := do(t, g.addr, "GET", "/filtered/x", map[string]string{"X-Forwarded-For": "203.0.113.7, 198.51.100.1"}, ""); r.status != 200 {
		t.Errorf("a client outside the forbidden range (the rightmost untrusted address): %d %s", r.status, r.body)
	}
	refused("/tenants/x", nil, 401, "Tenant header missing or not allowed")
	refused("/tenants/x", map[string]string{"X-Tenant": "northwind"}, 401, "Tenant header missing or not allowed")
	if r := do(t, g.addr, "GET", "/tenants/x", map[string]string{"X-Tenant": "Contoso"}, ""); r.status != 200 {
		t.Errorf("an allowed tenant: %d %s", r.status, r.body)
	}
	if r := do(t, g.addr, "GET", "/handled/x", nil, ""); r.status != 418 || string(r.body) != "check-header/HeaderNotFound/no tenant" {
		t.Errorf("on-error after a refusal: %d %q", r.status, r.body)
	}
}
