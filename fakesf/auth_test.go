package fakesf

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/internal/testcert"
)

// tlsClient pins the server certificate by thumbprint, as SF clients do, and optionally presents a client cert.
func tlsClient(serverThumbprint string, client *tls.Certificate) (*http.Client, *http.Transport) {
	cfg := &tls.Config{
		InsecureSkipVerify: true, // replaced by the thumbprint pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if Thumbprint(cs.PeerCertificates[0].Raw) != serverThumbprint {
				return &net.AddrError{Err: "server thumbprint mismatch"}
			}
			return nil
		},
	}
	if client != nil {
		cfg.Certificates = []tls.Certificate{*client}
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	return &http.Client{Transport: tr}, tr
}

func status(t *testing.T, client *http.Client, u string, header map[string]string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func TestClientCertificateAuth(t *testing.T) {
	server := testcert.SelfSigned(t, "fakesf").TLS
	allowed := testcert.SelfSigned(t, "admin").TLS
	other := testcert.SelfSigned(t, "intruder").TLS
	c, err := Start(t.Context(), DefaultTopology(), WithTLS(server),
		WithClientCertThumbprints(strings.ToLower(Thumbprint(allowed.Certificate[0]))))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !strings.HasPrefix(c.URL(), "https://") {
		t.Fatalf("URL %s", c.URL())
	}
	serverTP := Thumbprint(server.Certificate[0])
	resolve := c.URL() + "/Services/Shop~Web/$/ResolvePartition?api-version=6.0"
	for _, tc := range []struct {
		name   string
		cert   *tls.Certificate
		status int
	}{
		{"allowed", &allowed, 200},
		{"unknown", &other, 403},
		{"none", nil, 403},
	} {
		client, tr := tlsClient(serverTP, tc.cert)
		code, body := status(t, client, resolve, nil)
		if code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, code, tc.status)
		}
		if code == 403 && len(body) != 0 {
			t.Errorf("%s: 403 with a body %q, SF sends none", tc.name, body)
		}
		// GetAadMetadata is anonymous.
		if code, _ := status(t, client, c.URL()+"/$/GetAadMetadata?api-version=6.0", nil); code != 200 {
			t.Errorf("%s: GetAadMetadata %d", tc.name, code)
		}
		tr.CloseIdleConnections()
	}
	// A client pinning another thumbprint refuses the server.
	client, tr := tlsClient("00", &allowed)
	defer tr.CloseIdleConnections()
	if _, err := client.Get(resolve); err == nil {
		t.Error("client accepted a server with the wrong thumbprint")
	}
}

// unsignedJWT builds an unsigned-looking JWT with the given claims (the fake does not verify signatures).
func unsignedJWT(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(claims) + ".c2ln"
}

func TestBearerTokenAuth(t *testing.T) {
	const cluster, tenant = "a3f1c2d4-1111-2222-3333-444455556666", "72f988bf-0000-0000-0000-000000000000"
	server := testcert.SelfSigned(t, "fakesf").TLS
	allowed := testcert.SelfSigned(t, "admin").TLS
	h := newHarness(t, DefaultTopology(), WithTLS(server), WithClientCertThumbprints(Thumbprint(allowed.Certificate[0])),
		WithBearerToken(ExpectAudience(cluster, tenant)),
		WithAADMetadata(AADMetadata{Authority: "https://login.microsoftonline.com/" + tenant, Client: "b7e9d0c1-7777-8888-9999-aaaabbbbcccc",
			Cluster: cluster, Login: "https://login.microsoftonline.com", Redirect: "urn:ietf:wg:oauth:2.0:oob", Tenant: tenant}))
	client, tr := tlsClient(Thumbprint(server.Certificate[0]), nil)
	defer tr.CloseIdleConnections()
	h.client = client
	good := map[string]any{"aud": cluster, "iss": "https://sts.windows.net/" + tenant + "/", "roles": []string{"User"}, "exp": time.Now().Add(time.Hour).Unix()}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	resolve := h.c.URL() + "/Services/Shop~Web/$/ResolvePartition?api-version=6.0"
	for _, tc := range []struct {
		name   string
		auth   string
		status int
	}{
		{"valid", "Bearer " + unsignedJWT(good), 200},
		{"admin role", "Bearer " + unsignedJWT(with("roles", []string{"Admin"})), 200},
		{"aud list", "Bearer " + unsignedJWT(with("aud", []string{"x", cluster})), 200},
		{"wrong audience", "Bearer " + unsignedJWT(with("aud", "api://other")), 403},
		{"v2 issuer", "Bearer " + unsignedJWT(with("iss", "https://login.microsoftonline.com/"+tenant+"/v2.0")), 403},
		{"no role", "Bearer " + unsignedJWT(with("roles", nil)), 403},
		{"other role", "Bearer " + unsignedJWT(with("roles", []string{"Reader"})), 403},
		{"expired", "Bearer " + unsignedJWT(with("exp", time.Now().Add(-time.Hour).Unix())), 403},
		{"not a jwt", "Bearer abc", 403},
		{"basic", "Basic YTpi", 403},
		{"none", "", 403},
	} {
		code, body := status(t, client, resolve, map[string]string{"Authorization": tc.auth})
		if code != tc.status || (code == 403 && len(body) != 0) {
			t.Errorf("%s: %d %q, want %d (403 with empty body)", tc.name, code, body, tc.status)
		}
	}
	// The client certificate still works without a token.
	certClient, certTr := tlsClient(Thumbprint(server.Certificate[0]), &allowed)
	defer certTr.CloseIdleConnections()
	if code, _ := status(t, certClient, resolve, nil); code != 200 {
		t.Errorf("client certificate alongside bearer auth: %d", code)
	}
	// Anonymous AAD discovery, validated against the swagger.
	var md struct {
		Type     string
		Metadata map[string]string
	}
	h.getJSON("/$/GetAadMetadata", "/$/GetAadMetadata?api-version=6.0", &md)
	if md.Type != "aad" || md.Metadata["cluster"] != cluster || md.Metadata["tenant"] != tenant {
		t.Errorf("AAD metadata %+v", md)
	}
}
