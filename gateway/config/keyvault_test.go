package config

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/sfgate/sfgate/internal/keyvault"
	"github.com/sfgate/sfgate/internal/keyvault/keyvaulttest"
)

// offlineLoader is a Loader whose Key Vault fetches fail at once without touching the network (for fuzzing).
func offlineLoader() *Loader {
	return &Loader{KeyVault: keyvault.New(keyvault.Options{
		Credential: func(string) (azcore.TokenCredential, error) { return nil, errors.New("offline") },
	})}
}

// kvConfig is a configuration with the Key Vault named value vault-key written as issue-style YAML.
func kvConfig(secretID, extra string) []byte {
	return []byte("apis: [{name: a}]\n" + extra + "namedValues:\n  plain: value\n  vault-key:\n    keyVault: {secretIdentifier: \"" +
		secretID + "\"}\n    secret: true\n")
}

// The Key Vault named value loads as written: its value fetched through the SDK from the (fake) vault, marked
// secret, with the refresh interval at APIM's 4 hours unless keyVaultRefresh says otherwise.
func TestKeyVaultNamedValueLoads(t *testing.T) {
	v := keyvaulttest.Start(t)
	v.Set("orders-key", "kv-value-1")
	ld := &Loader{KeyVault: v.Client()}
	cfg, err := ld.Parse(context.Background(), kvConfig(v.SecretID("orders-key", ""), ""), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Values()["vault-key"]; got != "kv-value-1" || !cfg.NamedValues["vault-key"].Secret {
		t.Fatalf("vault-key = %q (secret %v)", got, cfg.NamedValues["vault-key"].Secret)
	}
	if cfg.KeyVaultRefresh != 4*time.Hour {
		t.Errorf("keyVaultRefresh = %s, want 4h", cfg.KeyVaultRefresh)
	}
	// Without secret: true a Key Vault value is secret all the same; identityClientId is taken.
	cfg, err = ld.Parse(context.Background(), []byte("apis: [{name: a}]\nkeyVaultRefresh: 30m\nnamedValues:\n  k: {keyVault: {secretIdentifier: '"+
		v.SecretID("orders-key", "")+"', identityClientId: 00000000-0000-0000-0000-000000000001}}\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if nv := cfg.NamedValues["k"]; !nv.Secret || nv.KeyVault.IdentityClientID != "00000000-0000-0000-0000-000000000001" || cfg.KeyVaultRefresh != 30*time.Minute {
		t.Fatalf("k = %+v, keyVaultRefresh %s", nv, cfg.KeyVaultRefresh)
	}
}

// A secret that cannot be fetched at load is an error at the named value's keyVault: line naming the named
// value and the secret, never a value; so is a secretIdentifier that is not one.
func TestKeyVaultLoadErrors(t *testing.T) {
	v := keyvaulttest.Start(t)
	v.Set("orders-key", "MARKER-kv-secret")
	wrongToken := v.Options()
	wrongToken.Credential = func(string) (azcore.TokenCredential, error) { return &keyvaulttest.Credential{Token: "wrong"}, nil }
	for _, c := range []struct {
		name   string
		client *keyvault.Client
		id     string
		extra  string
		want   string
	}{
		{"missing secret", v.Client(), v.SecretID("nope", ""), "", "x.yaml:5:5: namedValues.vault-key.keyVault: Key Vault secret " + v.URL + "/secrets/nope: the vault answered 404 SecretNotFound"},
		{"missing version", v.Client(), v.SecretID("orders-key", "0123456789abcdef0123456789abcdef"), "", "namedValues.vault-key.keyVault: Key Vault secret " + v.URL + "/secrets/orders-key/0123456789abcdef0123456789abcdef: the vault answered 404"},
		{"wrong token", keyvault.New(wrongToken), v.SecretID("orders-key", ""), "", "namedValues.vault-key.keyVault: Key Vault secret " + v.URL + "/secrets/orders-key: the vault answered 401"},
		{"not an identifier", v.Client(), "http://v.vault.azure.net/secrets/k", "", "x.yaml:5:16: namedValues.vault-key.keyVault.secretIdentifier: \"http://v.vault.azure.net/secrets/k\" is not an https URL"},
		{"no identifier", v.Client(), "", "", "namedValues.vault-key.keyVault.secretIdentifier: required"},
		{"refresh too often", v.Client(), v.SecretID("orders-key", ""), "keyVaultRefresh: 10s\n", "x.yaml:2:1: keyVaultRefresh: 10s is shorter than 1m0s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := (&Loader{KeyVault: c.client}).Parse(context.Background(), kvConfig(c.id, c.extra), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want it to contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), "MARKER") || strings.Contains(err.Error(), "empty") {
				t.Fatalf("error = %v: a value, or a second error for the same named value", err)
			}
		})
	}
	_, err := Parse([]byte("apis: [{name: a}]\nnamedValues:\n  k: {value: a, keyVault: {secretIdentifier: 'https://v.vault.azure.net/secrets/k'}}\n"), "x.yaml")
	if err == nil || !strings.Contains(err.Error(), "x.yaml:3:3: namedValues.k: give one of value, env, file and keyVault") {
		t.Fatalf("two sources: %v", err)
	}
}

// RefreshKeyVault picks up a new version of a versionless secret (returning a copy, the loaded configuration
// untouched), leaves a pinned one alone, and when the vault is down keeps the last good value and logs a
// warning that names the named value but not the value. A reload (Load again) while the vault is down keeps
// it too.
func TestKeyVaultRefresh(t *testing.T) {
	v := keyvaulttest.Start(t)
	pinned := v.Set("orders-key", "MARKER-kv-one")
	logs := &bytes.Buffer{}
	ld := &Loader{KeyVault: v.Client(), Log: slog.New(slog.NewTextHandler(logs, nil))}
	ctx := context.Background()
	text := append(kvConfig(v.SecretID("orders-key", ""), ""), "  pinned: {keyVault: {secretIdentifier: '"+v.SecretID("orders-key", pinned)+"'}}\n"...)
	cfg, err := ld.Parse(ctx, text, "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if next, changed := ld.RefreshKeyVault(ctx, cfg); next != nil || changed != nil {
		t.Fatalf("nothing rotated, yet refresh returned %v", changed)
	}
	v.Set("orders-key", "MARKER-kv-two")
	next, changed := ld.RefreshKeyVault(ctx, cfg)
	if next == nil || strings.Join(changed, ",") != "vault-key" {
		t.Fatalf("refresh after a new version: changed %v", changed)
	}
	if got := next.Values(); got["vault-key"] != "MARKER-kv-two" || got["pinned"] != "MARKER-kv-one" || got["plain"] != "value" || !next.NamedValues["vault-key"].Secret {
		t.Fatalf("refreshed values = %v", got)
	}
	if cfg.Values()["vault-key"] != "MARKER-kv-one" {
		t.Fatal("refresh changed the loaded configuration in place")
	}
	cfg = next

	v.Close()
	if next, changed := ld.RefreshKeyVault(ctx, cfg); next != nil || changed != nil {
		t.Fatalf("vault down: refresh returned %v", changed)
	}
	reloaded, err := ld.Parse(ctx, text, "x.yaml")
	if err != nil {
		t.Fatalf("reload with the vault down: %v", err)
	}
	if got := reloaded.Values()["vault-key"]; got != "MARKER-kv-two" {
		t.Fatalf("reload with the vault down: vault-key = %q, want the last good value", got)
	}
	out := logs.String()
	if strings.Count(out, "level=WARN") != 3 || !strings.Contains(out, "namedValue=vault-key") || !strings.Contains(out, "last good value stays") {
		t.Fatalf("want three warnings (refresh, reload of vault-key and pinned) naming the named value:\n%s", out)
	}
	if strings.Contains(out, "MARKER") {
		t.Fatalf("a value in the log:\n%s", out)
	}
	// A fresh Loader has no last good value: the same file no longer loads.
	if _, err := (&Loader{KeyVault: v.Client()}).Parse(ctx, text, "x.yaml"); err == nil {
		t.Fatal("first load with the vault down succeeded")
	}
}

// A Key Vault secret shorter than config.MinSecretLen could not be masked in logs without garbling them: at load
// it is an error naming the named value, and a refresh that gets one keeps the last good value, with a warning.
func TestKeyVaultShortSecret(t *testing.T) {
	v := keyvaulttest.Start(t)
	v.Set("orders-key", "MRK")
	logs := &bytes.Buffer{}
	ld := &Loader{KeyVault: v.Client(), Log: slog.New(slog.NewTextHandler(logs, nil))}
	ctx := context.Background()
	text := kvConfig(v.SecretID("orders-key", ""), "")
	_, err := ld.Parse(ctx, text, "x.yaml")
	if err == nil || !strings.Contains(err.Error(), "namedValues.vault-key: a secret named value must be at least 4 bytes long") || strings.Contains(err.Error(), "MRK") {
		t.Fatalf("load of a 3-byte Key Vault secret: %v", err)
	}
	v.Set("orders-key", "MRK-long-enough")
	cfg, err := ld.Parse(ctx, text, "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v.Set("orders-key", "MRK")
	if next, changed := ld.RefreshKeyVault(ctx, cfg); next != nil || changed != nil {
		t.Fatalf("refresh to a 3-byte value: changed %v", changed)
	}
	if out := logs.String(); !strings.Contains(out, "namedValue=vault-key") || !strings.Contains(out, "at least 4 bytes") || strings.Contains(out, "MRK") {
		t.Fatalf("want a warning naming vault-key and why, not the value:\n%s", out)
	}
}

// issueBlock is the configuration block of the "front door" issue, verbatim.
const issueBlock = `listen: 0.0.0.0:8443
tls:
  certificates:
    - {certFile: server.pem, keyFile: server-key.pem}
  minVersion: "1.2"
  clientCertificate: none
  clientCaFile: clients-ca.pem
trustedProxies: [10.0.0.0/8, 127.0.0.1/32]
admin: 127.0.0.1:9901
adminAuth: {bearerToken: "{{admin-token}}"}
namedValues:
  plain: value
  admin-token: {env: SFGATE_ADMIN_TOKEN, secret: true}
  api-key: {value: "s3cret", secret: true}
  orders-key: {file: /run/secrets/orders-key, secret: true}
  vault-key:
    keyVault: {secretIdentifier: "https://myvault.vault.azure.net/secrets/orders-key"}
    secret: true
`

// The issue's block loads as one piece, with only an apis: entry added, the file: value pointed at a temporary
// file and the vault at the fake, and every field reads as written.
func TestIssueConfigurationBlock(t *testing.T) {
	v := keyvaulttest.Start(t)
	v.Set("orders-key", "from-the-vault")
	secretFile := filepath.Join(t.TempDir(), "orders-key")
	if err := os.WriteFile(secretFile, []byte("from-the-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SFGATE_ADMIN_TOKEN", "from-the-environment")
	text := strings.NewReplacer(
		"/run/secrets/orders-key", secretFile,
		"https://myvault.vault.azure.net/secrets/orders-key", v.SecretID("orders-key", ""),
	).Replace(issueBlock) + "apis: [{name: orders, path: orders, serviceUrl: 'http://127.0.0.1:1/'}]\n"
	if strings.Contains(text, "/run/secrets") || strings.Contains(text, "myvault") {
		t.Fatalf("the replacements did not apply:\n%s", text)
	}
	cfg, err := (&Loader{KeyVault: v.Client()}).Parse(context.Background(), []byte(text), filepath.Join(t.TempDir(), "sfgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "0.0.0.0:8443" || cfg.Admin != "127.0.0.1:9901" || cfg.Health != "" {
		t.Errorf("listen %q, admin %q, health %q", cfg.Listen, cfg.Admin, cfg.Health)
	}
	tl := cfg.TLS
	if tl == nil {
		t.Fatal("tls: not read")
	}
	if len(tl.Certificates) != 1 || tl.Certificates[0].CertFile != "server.pem" || tl.Certificates[0].KeyFile != "server-key.pem" {
		t.Errorf("tls.certificates = %+v", tl.Certificates)
	}
	if tl.MinVersion != "1.2" || tl.ClientCertificate != "none" || tl.ClientCAFile != "clients-ca.pem" {
		t.Errorf("tls minVersion %q, clientCertificate %q, clientCaFile %q", tl.MinVersion, tl.ClientCertificate, tl.ClientCAFile)
	}
	if got := strings.Join(cfg.TrustedProxies, " "); got != "10.0.0.0/8 127.0.0.1/32" {
		t.Errorf("trustedProxies = %s", got)
	}
	if cfg.AdminAuth == nil || cfg.AdminAuth.BearerToken != "{{admin-token}}" {
		t.Errorf("adminAuth = %+v", cfg.AdminAuth)
	}
	want := map[string]struct {
		value  string
		secret bool
	}{
		"plain":       {"value", false},
		"admin-token": {"from-the-environment", true},
		"api-key":     {"s3cret", true},
		"orders-key":  {"from-the-file", true},
		"vault-key":   {"from-the-vault", true},
	}
	if len(cfg.NamedValues) != len(want) {
		t.Errorf("%d named values, want %d", len(cfg.NamedValues), len(want))
	}
	for name, w := range want {
		nv := cfg.NamedValues[name]
		if nv == nil || nv.Value != w.value || nv.Secret != w.secret {
			t.Errorf("namedValues.%s = %+v, want %q (secret %v)", name, nv, w.value, w.secret)
		}
	}
	if nv := cfg.NamedValues["vault-key"]; nv != nil && (nv.KeyVault == nil || nv.KeyVault.SecretIdentifier != v.SecretID("orders-key", "")) {
		t.Errorf("vault-key.keyVault = %+v", nv.KeyVault)
	}
	if nv := cfg.NamedValues["orders-key"]; nv != nil && nv.File != secretFile {
		t.Errorf("orders-key.file = %q", nv.File)
	}
	if nv := cfg.NamedValues["admin-token"]; nv != nil && nv.Env != "SFGATE_ADMIN_TOKEN" {
		t.Errorf("admin-token.env = %q", nv.Env)
	}
}
