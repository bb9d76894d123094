package gateway

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sfgate/sfgate/internal/fakesftest"
	"github.com/sfgate/sfgate/internal/testcert"
)

// The internet-facing gateway end to end, over real TLS: validate-jwt refuses a missing, malformed, expired,
// wrong-audience, wrong-issuer and wrongly signed token with 401 and APIM's body (nothing reaches the cluster),
// and a good token is routed to the Service Fabric partition its tenant claim names (AsJwt in sf-partition-key).
// ip-filter judges the TLS peer's address, or the client a trusted proxy names in X-Forwarded-For.
func TestFrontDoorJWTRoutesByTenantClaim(t *testing.T) {
	c := fakesftest.Start(t)
	ca := testcert.CA(t, "Server CA")
	cert, key := pemPair(t, ca.Issue(t, "api.example"), t.TempDir(), "server")
	secret := []byte("a-signing-secret-of-32-bytes-ok!")
	g := startGateway(t, fmt.Sprintf(`
tls: {certificates: [{certFile: %s, keyFile: %s}], minVersion: "1.2"}
trustedProxies: [127.0.0.1/32]
namedValues:
  jwt-key: {value: %s, secret: true}
backends:
  orders:
    url: fabric:/Shop/Orders
    serviceFabricCluster: {managementEndpoints: [CLUSTER_URL]}
apis:
  - name: orders
    path: orders
    policies: |
      <policies><inbound><base />
        <validate-jwt header-name="Authorization" require-scheme="Bearer" failed-validation-httpcode="401"
            failed-validation-error-message="Unauthorized. Access token is missing or invalid.">
          <issuer-signing-keys><key>{{jwt-key}}</key></issuer-signing-keys>
          <audiences><audience>api://orders</audience></audiences>
          <issuers><issuer>https://login.example/tenant/</issuer></issuers>
          <required-claims><claim name="tenant" /></required-claims>
        </validate-jwt>
        <set-backend-service backend-id="orders"
            sf-partition-key="@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Claims.GetValueOrDefault("tenant",""))" />
      </inbound></policies>
  - name: partners
    path: partners
    serviceUrl: http://%s/
    policies: |
      <policies><inbound><base />
        <ip-filter action="allow"><address>127.0.0.1</address><address-range from="198.51.100.0" to="198.51.100.255" /></ip-filter>
      </inbound></policies>
`, cert, key, base64.StdEncoding.EncodeToString(secret), startEcho(t, nil)), c)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Leaf)
	send := func(path, header string) rawResponse {
		t.Helper()
		conn, err := dialTLS(g.addr, "api.example", roots, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := fmt.Fprint(conn, "GET "+path+" HTTP/1.1\r\nHost: api.example\r\n"+header+"\r\n"); err != nil {
			t.Fatal(err)
		}
		r, err := conn.read()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	get := func(auth string) rawResponse {
		t.Helper()
		if auth != "" {
			return send("/orders/list", "Authorization: "+auth+"\r\n")
		}
		return send("/orders/list", "")
	}
	for _, c := range []struct {
		name, header string
		status       int
	}{
		{"the TLS peer, listed", "", 200},
		{"a client the trusted proxy names, in the range", "X-Forwarded-For: 198.51.100.7\r\n", 200},
		{"a client the trusted proxy names, not listed", "X-Forwarded-For: 203.0.113.7\r\n", 403},
		{"the rightmost untrusted address decides", "X-Forwarded-For: 198.51.100.7, 203.0.113.7\r\n", 403},
	} {
		r := send("/partners/x", c.header)
		var body struct {
			StatusCode int    `json:"statusCode"`
			Message    string `json:"message"`
		}
		if r.status != c.status || c.status == 403 && (json.Unmarshal(r.body, &body) != nil || body.StatusCode != 403 || body.Message != "Forbidden") {
			t.Errorf("ip-filter, %s: %d %s, want %d", c.name, r.status, r.body, c.status)
		}
	}
	token := func(key []byte, edit func(jwt.MapClaims)) string {
		claims := jwt.MapClaims{"iss": "https://login.example/tenant/", "aud": "api://orders", "sub": "alice",
			"exp": time.Now().Add(time.Hour).Unix(), "tenant": "42"}
		if edit != nil {
			edit(claims)
		}
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + s
	}
	calls := c.ResolveCalls()
	for name, auth := range map[string]string{
		"missing":        "",
		"malformed":      "Bearer abc.def",
		"expired":        token(secret, func(m jwt.MapClaims) { m["exp"] = time.Now().Add(-time.Hour).Unix() }),
		"wrong audience": token(secret, func(m jwt.MapClaims) { m["aud"] = "api://billing" }),
		"wrong issuer":   token(secret, func(m jwt.MapClaims) { m["iss"] = "https://evil.example/" }),
		"wrongly signed": token([]byte("another-secret-of-32-bytes-long!"), nil),
		"no tenant":      token(secret, func(m jwt.MapClaims) { delete(m, "tenant") }),
	} {
		r := get(auth)
		var body struct {
			StatusCode int    `json:"statusCode"`
			Message    string `json:"message"`
		}
		if json.Unmarshal(r.body, &body) != nil || r.status != 401 || body.StatusCode != 401 || body.Message != "Unauthorized. Access token is missing or invalid." {
			t.Errorf("%s token: %d %s, want 401 with APIM's body", name, r.status, r.body)
		}
	}
	if n := c.ResolveCalls() - calls; n != 0 {
		t.Errorf("refused requests made %d naming calls", n)
	}
	for _, tenant := range []string{"42", "700"} {
		r := get(token(secret, func(m jwt.MapClaims) { m["tenant"] = tenant }))
		rr := replicaAnswer(t, r)
		if want := partitionFor(t, c, "fabric:/Shop/Orders", tenant); rr.PartitionID != want.ID {
			t.Errorf("tenant %s went to partition %s, want %s", tenant, rr.PartitionID, want.ID)
		}
	}
}
