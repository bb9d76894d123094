package resolver_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/fakesftest"
	"github.com/sfgate/sfgate/internal/testcert"
	"github.com/sfgate/sfgate/resolver"
)

// tlsCluster is a fakesf cluster serving its management API over TLS with a certificate issued by a test CA.
type tlsCluster struct {
	*fakesf.Cluster
	ca, server *testcert.Cert
}

func startTLSCluster(t *testing.T, opts ...fakesf.Option) *tlsCluster {
	t.Helper()
	ca := testcert.CA(t, "sfgate test cluster CA")
	server := ca.Issue(t, "mycluster.example")
	c := fakesftest.Start(t, append([]fakesf.Option{fakesf.WithTLS(server.TLS)}, opts...)...)
	if !strings.HasPrefix(c.URL(), "https://") {
		t.Fatalf("fakesf URL %s is not https", c.URL())
	}
	return &tlsCluster{Cluster: c, ca: ca, server: server}
}

func TestX509ClientCertificateEndToEnd(t *testing.T) {
	client := testcert.SelfSigned(t, "sfgate-client")
	stranger := testcert.SelfSigned(t, "someone-else")
	c := startTLSCluster(t, fakesf.WithClientCertThumbprints(resolver.Thumbprint(client.Leaf)))
	certFile, keyFile := client.WritePEM(t)
	strangerCert, strangerKey := stranger.WritePEM(t)
	roots := x509.NewCertPool()
	roots.AddCert(c.ca.Leaf)

	for _, tc := range []struct {
		name string
		auth resolver.Auth
	}{
		{"server thumbprint", resolver.Auth{ClientCertFile: certFile, ClientKeyFile: keyFile,
			ServerCertThumbprints: []string{resolver.Thumbprint(c.server.Leaf)}}},
		{"server name + issuer thumbprint", resolver.Auth{ClientCertFile: certFile, ClientKeyFile: keyFile,
			ServerX509Names: []resolver.X509Name{{Name: "mycluster.example", IssuerThumbprints: []string{resolver.Thumbprint(c.ca.Leaf)}}}}},
		{"server name + chain to a trusted root", resolver.Auth{ClientCertFile: certFile, ClientKeyFile: keyFile,
			ServerX509Names: []resolver.X509Name{{Name: "mycluster.example"}}, RootCAs: roots}},
		{"standard validation (IP SAN, trusted root)", resolver.Auth{ClientCertFile: certFile, ClientKeyFile: keyFile, RootCAs: roots}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newResolver(t, []string{c.URL()}, func(o *resolver.Options) { o.Auth = tc.auth })
			s, err := r.Resolve(t.Context(), orders, []byte("10"))
			if err != nil {
				t.Fatal(err)
			}
			if s.Partition.LowKey != 0 || s.Version == "" {
				t.Errorf("got %+v", s.Partition)
			}
		})
	}

	t.Run("no client certificate: 403, not retried", func(t *testing.T) {
		r, log := newResolver(t, []string{c.URL()}, func(o *resolver.Options) {
			o.Auth = resolver.Auth{ServerCertThumbprints: []string{resolver.Thumbprint(c.server.Leaf)}}
		})
		_, err := r.Resolve(t.Context(), orders, []byte("10"))
		var fe *resolver.FabricError
		if !errors.Is(err, resolver.ErrUnauthorized) || !errors.As(err, &fe) || fe.Status != 403 {
			t.Fatalf("Resolve = %v, want ErrUnauthorized (403)", err)
		}
		if n := len(log.all()); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
	t.Run("unknown client certificate: 403", func(t *testing.T) {
		r, _ := newResolver(t, []string{c.URL()}, func(o *resolver.Options) {
			o.Auth = resolver.Auth{ClientCertFile: strangerCert, ClientKeyFile: strangerKey,
				ServerCertThumbprints: []string{resolver.Thumbprint(c.server.Leaf)}}
		})
		if _, err := r.Resolve(t.Context(), orders, []byte("10")); !errors.Is(err, resolver.ErrUnauthorized) {
			t.Fatalf("Resolve = %v, want ErrUnauthorized", err)
		}
	})
	t.Run("wrong server thumbprint: certificate error, not retried", func(t *testing.T) {
		r, log := newResolver(t, []string{c.URL()}, func(o *resolver.Options) {
			o.Auth = resolver.Auth{ClientCertFile: certFile, ClientKeyFile: keyFile,
				ServerCertThumbprints: []string{resolver.Thumbprint(client.Leaf)}}
		})
		_, err := r.Resolve(t.Context(), orders, []byte("10"))
		var ce *resolver.CertificateError
		if !errors.As(err, &ce) || ce.Thumbprint != resolver.Thumbprint(c.server.Leaf) {
			t.Fatalf("Resolve = %v, want a *CertificateError naming the server's thumbprint", err)
		}
		if n := len(log.all()); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
	t.Run("untrusted server without pinning", func(t *testing.T) {
		r, _ := newResolver(t, []string{c.URL()}, func(o *resolver.Options) {
			o.Auth = resolver.Auth{ClientCertFile: certFile, ClientKeyFile: keyFile, RootCAs: x509.NewCertPool()}
			o.MaxAttempts = 1
		})
		if _, err := r.Resolve(t.Context(), orders, []byte("10")); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("Resolve = %v, want a certificate verification error", err)
		}
	})
}

// fakeAuthority is a local Azure AD authority (OpenID discovery + OAuth2 token endpoint) over TLS, so that a
// real azidentity.ClientSecretCredential can obtain tokens offline. Tokens are unsigned JWTs with the claims
// SF checks (aud, iss, roles, exp).
type fakeAuthority struct {
	srv        *httptest.Server
	tenant     string
	secret     string
	roles      []string
	tokenCalls atomic.Int64
	lastScope  atomic.Value
}

func newFakeAuthority(t *testing.T, tenant, secret string) *fakeAuthority {
	t.Helper()
	a := &fakeAuthority{tenant: tenant, secret: secret, roles: []string{"User"}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		base := a.srv.URL + "/" + r.PathValue("tenant")
		json.NewEncoder(w).Encode(map[string]any{
			"token_endpoint":                        base + "/oauth2/v2.0/token",
			"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
			"issuer":                                base + "/v2.0",
			"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
			"token_endpoint_auth_methods_supported": []string{"client_secret_post"},
		})
	})
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		a.tokenCalls.Add(1)
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		if r.PathValue("tenant") != a.tenant || r.PostForm.Get("client_secret") != a.secret || r.PostForm.Get("grant_type") != "client_credentials" {
			w.WriteHeader(401)
			json.NewEncoder(w).Encode(map[string]any{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})
			return
		}
		scope := r.PostForm.Get("scope")
		a.lastScope.Store(scope)
		aud := strings.TrimSuffix(strings.Fields(scope)[0], "/.default")
		claims, _ := json.Marshal(map[string]any{
			"aud": aud, "iss": "https://sts.windows.net/" + a.tenant + "/", "roles": a.roles,
			"exp": time.Now().Add(time.Hour).Unix(), "appid": r.PostForm.Get("client_id"),
		})
		enc := base64.RawURLEncoding.EncodeToString
		jwt := enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(claims) + "." + enc([]byte("unsigned"))
		json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": jwt})
	})
	a.srv = httptest.NewTLSServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

func (a *fakeAuthority) credential(t *testing.T, secret string) azcore.TokenCredential {
	t.Helper()
	cred, err := resolver.NewCredential(resolver.CredentialOptions{
		Kind: "secret", TenantID: a.tenant, ClientID: "11111111-2222-3333-4444-555555555555", ClientSecret: secret,
		DisableInstanceDiscovery: true,
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: a.srv.URL + "/"},
			Transport: a.srv.Client(),
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func TestAzureADBearerTokenEndToEnd(t *testing.T) {
	const (
		tenant = "72f988bf-0000-0000-0000-000000000000"
		appID  = "a3f1c2d4-1111-2222-3333-444455556666"
	)
	authority := newFakeAuthority(t, tenant, "s3cret")
	c := startTLSCluster(t, fakesf.WithBearerToken(fakesf.ExpectAudience(appID, tenant)))
	pin := []string{resolver.Thumbprint(c.server.Leaf)}

	t.Run("azidentity client secret credential", func(t *testing.T) {
		r, _ := newResolver(t, []string{c.URL()}, func(o *resolver.Options) {
			o.Auth = resolver.Auth{Credential: authority.credential(t, "s3cret"), ClusterAppID: appID, ServerCertThumbprints: pin}
		})
		before := authority.tokenCalls.Load()
		for _, k := range []string{"1", "300", "600", "900"} {
			if _, err := r.Resolve(t.Context(), orders, []byte(k)); err != nil {
				t.Fatal(err)
			}
		}
		if got := authority.tokenCalls.Load() - before; got != 1 {
			t.Errorf("5 naming calls fetched %d tokens, want 1 (the bearer policy caches it)", got)
		}
		if got := authority.lastScope.Load(); got == nil || !strings.HasPrefix(got.(string), appID+"/.default") {
			t.Errorf("token scope = %v, want %s/.default", got, appID)
		}
	})
	t.Run("token for another application: 403", func(t *testing.T) {
		r, log := newResolver(t, []string{c.URL()}, func(o *resolver.Options) {
			o.Auth = resolver.Auth{Credential: authority.credential(t, "s3cret"), ClusterAppID: "99999999-0000-0000-0000-000000000000", ServerCertThumbprints: pin}
		})
		_, err := r.Resolve(t.Context(), orders, []byte("1"))
		if !errors.Is(err, resolver.ErrUnauthorized) || len(log.all()) != 1 {
			t.Fatalf("Resolve = %v after %d attempts, want ErrUnauthorized after 1", err, len(log.all()))
		}
	})
	t.Run("bad client secret: credential error, no naming attempt retried", func(t *testing.T) {
		r, log := newResolver(t, []string{c.URL()}, func(o *resolver.Options) {
			o.Auth = resolver.Auth{Credential: authority.credential(t, "wrong"), ClusterAppID: appID, ServerCertThumbprints: pin}
		})
		_, err := r.Resolve(t.Context(), orders, []byte("1"))
		if !errors.Is(err, resolver.ErrUnauthorized) || !strings.Contains(err.Error(), "AADSTS7000215") {
			t.Fatalf("Resolve = %v, want ErrUnauthorized carrying the authority's error", err)
		}
		if n := len(log.all()); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
	t.Run("static token credential", func(t *testing.T) {
		r, _ := newResolver(t, []string{c.URL()}, func(o *resolver.Options) {
			o.Auth = resolver.Auth{Credential: staticCredential{tenant: tenant}, ClusterAppID: appID, ServerCertThumbprints: pin}
		})
		if _, err := r.Resolve(t.Context(), carts, []byte("eu")); err != nil {
			t.Fatal(err)
		}
	})
}

func TestBearerTokenRefusedOverPlainHTTP(t *testing.T) {
	const appID = "a3f1c2d4-1111-2222-3333-444455556666"
	c := fakesftest.Start(t, fakesf.WithBearerToken(fakesf.ExpectAudience(appID, "")))
	_, err := resolver.New(resolver.Options{ManagementEndpoints: []string{c.URL()},
		Auth: resolver.Auth{Credential: staticCredential{}, ClusterAppID: appID}})
	if err == nil || !strings.Contains(err.Error(), "clear text") {
		t.Fatalf("New with a bearer credential and an http endpoint = %v, want a refusal", err)
	}
	r2, _ := newResolver(t, []string{c.URL()}, func(o *resolver.Options) {
		o.Auth = resolver.Auth{Credential: staticCredential{}, ClusterAppID: appID, AllowBearerOverHTTP: true}
	})
	if _, err := r2.Resolve(t.Context(), orders, []byte("1")); err != nil {
		t.Fatalf("with AllowBearerOverHTTP: %v", err)
	}
}

// staticCredential mints unsigned JWTs for the requested scope (an azcore.TokenCredential without Azure AD).
type staticCredential struct{ tenant string }

func (s staticCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(o.Scopes) != 1 || !strings.HasSuffix(o.Scopes[0], "/.default") {
		return azcore.AccessToken{}, fmt.Errorf("unexpected scopes %v", o.Scopes)
	}
	iss := "https://sts.windows.net/" + s.tenant + "/"
	claims, _ := json.Marshal(map[string]any{"aud": strings.TrimSuffix(o.Scopes[0], "/.default"), "iss": iss, "roles": []string{"Admin"}})
	enc := base64.RawURLEncoding.EncodeToString
	return azcore.AccessToken{Token: enc([]byte(`{"alg":"none"}`)) + "." + enc(claims) + ".x", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestNewCredentialKinds(t *testing.T) {
	if _, err := resolver.NewCredential(resolver.CredentialOptions{Kind: "secret", TenantID: "t"}); err == nil ||
		!strings.Contains(err.Error(), "client ID, client secret") {
		t.Errorf("secret without client ID and secret: %v, want both named", err)
	}
	if _, err := resolver.NewCredential(resolver.CredentialOptions{Kind: "kerberos"}); err == nil ||
		!strings.Contains(err.Error(), "default, secret, managed, workload, cli") {
		t.Errorf("unknown kind: %v, want the accepted kinds listed", err)
	}
	for _, kind := range []string{"managed", "cli", "default"} {
		if cred, err := resolver.NewCredential(resolver.CredentialOptions{Kind: kind}); err != nil || cred == nil {
			t.Errorf("NewCredential(%s) = %v, %v", kind, cred, err)
		}
	}
}
