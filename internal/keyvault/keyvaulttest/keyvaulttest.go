// Package keyvaulttest runs a fake Azure Key Vault for the tests of the packages that read Key Vault named
// values (internal/keyvault, gateway/config, cmd/sfgate): a real HTTPS server on a loopback port, with a
// certificate from internal/testcert, that speaks Key Vault's REST shape for reading secrets and its
// challenge-based bearer authentication, so the Azure SDK's own client runs unchanged against it:
//
//   - GET /secrets/<name>[/<version>]?api-version=… without a token answers 401 with
//     WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>", resource="https://vault.azure.net";
//   - with the expected bearer token it answers 200 {"value", "id", "attributes"} for a secret it holds (the
//     latest version, or the one asked for) and 404 SecretNotFound for others; any other token gets 401.
//
// Options gives a keyvault.Options that trusts the vault's CA and gets its tokens from a Credential that
// hands out the expected token only for the scope and tenant the challenge named.
package keyvaulttest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/sfgate/sfgate/internal/keyvault"
	"github.com/sfgate/sfgate/internal/testcert"
)

// Tenant is the tenant the fake vault's challenge names; Token is the only bearer token it accepts.
const (
	Tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	Token  = "fake-vault-token-3b8e"
)

// Vault is a running fake Key Vault.
type Vault struct {
	// URL is the vault's URL, https://127.0.0.1:<port>.
	URL string

	srv   *httptest.Server
	roots *x509.CertPool

	mu      sync.Mutex
	secrets map[string][]string // name → values, version i+1 at index i
	served  int                 // secrets answered (200)
}

// Start starts a fake vault that holds no secret yet and closes it when the test ends.
func Start(tb testing.TB) *Vault {
	tb.Helper()
	ca := testcert.CA(tb, "fake-vault-ca")
	v := &Vault{secrets: map[string][]string{}, roots: x509.NewCertPool()}
	v.roots.AddCert(ca.Leaf)
	v.srv = httptest.NewUnstartedServer(http.HandlerFunc(v.serve))
	v.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue(tb, "fake-vault").TLS}}
	v.srv.StartTLS()
	v.URL = v.srv.URL
	tb.Cleanup(v.srv.Close)
	return v
}

// Set stores a new version of the secret name (the latest from now on) and returns the version's ID.
func (v *Vault) Set(name, value string) (version string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.secrets[name] = append(v.secrets[name], value)
	return versionID(len(v.secrets[name]))
}

// SecretID is the identifier of the secret name (the latest version with version "").
func (v *Vault) SecretID(name, version string) string {
	id := v.URL + "/secrets/" + name
	if version != "" {
		id += "/" + version
	}
	return id
}

// Served counts the secrets the vault has answered with a value.
func (v *Vault) Served() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.served
}

// Close stops the vault: from now on it cannot be reached (connections are refused).
func (v *Vault) Close() { v.srv.Close() }

// Options returns the keyvault options for this vault: its CA trusted, tokens from Credential{Token: Token},
// no retries (a failure shows at once), and the challenge's resource not checked against the host (the fake's
// host is not under vault.azure.net).
func (v *Vault) Options() keyvault.Options {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: v.roots}}
	return keyvault.Options{
		Credential: func(string) (azcore.TokenCredential, error) { return &Credential{Token: Token}, nil },
		Client: azsecrets.ClientOptions{
			ClientOptions:                        azcore.ClientOptions{Transport: &http.Client{Transport: tr}, Retry: policy.RetryOptions{MaxRetries: -1}},
			DisableChallengeResourceVerification: true,
		},
		Timeout: 30 * time.Second,
	}
}

// Client returns a keyvault.Client with Options.
func (v *Vault) Client() *keyvault.Client { return keyvault.New(v.Options()) }

// Credential is a test azcore.TokenCredential: it returns Token for the scope and tenant the fake vault's
// challenge names and fails for any other request, so a client that did not follow the challenge gets none.
type Credential struct{ Token string }

// GetToken implements azcore.TokenCredential.
func (c *Credential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(o.Scopes) != 1 || o.Scopes[0] != "https://vault.azure.net/.default" || o.TenantID != Tenant {
		return azcore.AccessToken{}, fmt.Errorf("test credential: asked for scopes %q in tenant %q, not the fake vault's", o.Scopes, o.TenantID)
	}
	return azcore.AccessToken{Token: c.Token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func versionID(n int) string { return fmt.Sprintf("%032x", n) }

func (v *Vault) serve(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	if auth != "Bearer "+Token {
		w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/`+Tenant+`", resource="https://vault.azure.net"`)
		if auth == "" {
			writeError(w, http.StatusUnauthorized, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
		} else {
			writeError(w, http.StatusUnauthorized, "Unauthorized", "AKV10032: Invalid issuer.")
		}
		return
	}
	parts := strings.Split(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/"), "/")
	if r.Method != http.MethodGet || len(parts) < 2 || len(parts) > 3 || parts[0] != "secrets" {
		writeError(w, http.StatusBadRequest, "BadParameter", "This fake vault only reads secrets.")
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		writeError(w, http.StatusBadRequest, "BadParameter", "The api-version query parameter is missing.")
		return
	}
	name := parts[1]
	v.mu.Lock()
	values := v.secrets[name]
	n := len(values)
	if len(parts) == 3 {
		n = 0
		for i := range values {
			if versionID(i+1) == parts[2] {
				n = i + 1
			}
		}
	}
	if n == 0 {
		v.mu.Unlock()
		writeError(w, http.StatusNotFound, "SecretNotFound", fmt.Sprintf("A secret with (name/id) %s was not found in this key vault.", strings.Join(parts[1:], "/")))
		return
	}
	v.served++
	value := values[n-1]
	v.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(map[string]any{
		"value":      value,
		"id":         v.SecretID(name, versionID(n)),
		"attributes": map[string]any{"enabled": true, "created": 1764806400, "updated": 1764806400, "recoveryLevel": "Recoverable+Purgeable"},
	})
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
