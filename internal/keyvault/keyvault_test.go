package keyvault_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/sfgate/sfgate/internal/keyvault"
	"github.com/sfgate/sfgate/internal/keyvault/keyvaulttest"
)

func ref(t *testing.T, id string) keyvault.Ref {
	t.Helper()
	sid, err := keyvault.ParseSecretID(id)
	if err != nil {
		t.Fatal(err)
	}
	return keyvault.Ref{ID: sid}
}

// The SDK's client, answered by the fake vault's challenge and then given the credential's token, reads the
// latest version of a versionless secret and exactly the version a pinned identifier names.
func TestFetchLatestAndPinnedVersions(t *testing.T) {
	v := keyvaulttest.Start(t)
	first := v.Set("orders-key", "value-one")
	v.Set("orders-key", "value-two")
	c := v.Client()
	ctx := context.Background()
	if got, err := c.Fetch(ctx, ref(t, v.SecretID("orders-key", ""))); err != nil || got != "value-two" {
		t.Fatalf("latest = %q, %v; want value-two", got, err)
	}
	if got, err := c.Fetch(ctx, ref(t, v.SecretID("orders-key", first))); err != nil || got != "value-one" {
		t.Fatalf("version %s = %q, %v; want value-one", first, got, err)
	}
	if n := v.Served(); n != 2 {
		t.Fatalf("the vault served %d secrets, want 2", n)
	}
}

// A secret the vault does not hold, and a token the vault refuses, are errors that name the secret and say why,
// and carry no value.
func TestFetchErrorsNameTheSecret(t *testing.T) {
	v := keyvaulttest.Start(t)
	v.Set("orders-key", "MARKER-kv-1")
	ctx := context.Background()

	_, err := v.Client().Fetch(ctx, ref(t, v.SecretID("missing-key", "")))
	var kvErr *keyvault.Error
	if !errors.As(err, &kvErr) || !strings.Contains(err.Error(), v.URL+"/secrets/missing-key") || !strings.Contains(err.Error(), "404 SecretNotFound") {
		t.Fatalf("missing secret: %v", err)
	}

	opts := v.Options()
	opts.Credential = func(string) (azcore.TokenCredential, error) { return &keyvaulttest.Credential{Token: "wrong"}, nil }
	_, err = keyvault.New(opts).Fetch(ctx, ref(t, v.SecretID("orders-key", "")))
	if err == nil || !strings.Contains(err.Error(), v.URL+"/secrets/orders-key") || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong token: %v", err)
	}
	if strings.Contains(err.Error(), "MARKER") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error text %q has a value or a line break", err)
	}
}

// When the vault cannot be reached, Fetch says so and hands back the last value it fetched for that secret
// (and none for a secret it never fetched).
func TestFetchKeepsLastGoodValueWhenTheVaultIsDown(t *testing.T) {
	v := keyvaulttest.Start(t)
	v.Set("orders-key", "good-value")
	v.Set("other-key", "other-value")
	c := v.Client()
	ctx := context.Background()
	r := ref(t, v.SecretID("orders-key", ""))
	if _, err := c.Fetch(ctx, r); err != nil {
		t.Fatal(err)
	}
	v.Close()
	got, err := c.Fetch(ctx, r)
	if err == nil || got != "good-value" {
		t.Fatalf("vault down: %q, %v; want the last good value and an error", got, err)
	}
	if !strings.Contains(err.Error(), "orders-key") {
		t.Fatalf("error %q does not name the secret", err)
	}
	if got, err := c.Fetch(ctx, ref(t, v.SecretID("other-key", ""))); err == nil || got != "" {
		t.Fatalf("never fetched, vault down: %q, %v; want no value and an error", got, err)
	}
}

func TestParseSecretID(t *testing.T) {
	for _, c := range []struct{ in, want, version string }{
		{"https://myvault.vault.azure.net/secrets/orders-key", "https://myvault.vault.azure.net/secrets/orders-key", ""},
		{"https://MyVault.vault.azure.net/secrets/orders-key/", "https://myvault.vault.azure.net/secrets/orders-key", ""},
		{"https://myvault.vault.azure.net/secrets/orders-key/0123456789abcdef0123456789abcdef",
			"https://myvault.vault.azure.net/secrets/orders-key/0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"},
		{"https://127.0.0.1:8443/secrets/k", "https://127.0.0.1:8443/secrets/k", ""},
	} {
		id, err := keyvault.ParseSecretID(c.in)
		if err != nil || id.String() != c.want || id.Version != c.version {
			t.Errorf("ParseSecretID(%q) = %+v, %v; want %s (version %q)", c.in, id, err, c.want, c.version)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"http://myvault.vault.azure.net/secrets/k", "not an https URL"},
		{"https://myvault.vault.azure.net/keys/k", "does not name a secret"},
		{"https://myvault.vault.azure.net/secrets/", "does not name a secret"},
		{"https://myvault.vault.azure.net/secrets/a/b/c", "does not name a secret"},
		{"https://myvault.vault.azure.net/secrets/k?x=1", "query or fragment"},
		{"https://user@myvault.vault.azure.net/secrets/k", "no plain vault host"},
		{"https:///secrets/k", "no plain vault host"},
		{"https://myvault.vault.azure.net/secrets/bad_name", "secret name"},
		{"https://myvault.vault.azure.net/secrets/k/v-1", "version"},
		{"myvault/secrets/k", "not an https URL"},
	} {
		if _, err := keyvault.ParseSecretID(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseSecretID(%q) error = %v, want it to contain %q", c.in, err, c.want)
		}
	}
}

// ParseSecretID never panics, and what it accepts prints back to an identifier it parses the same.
func FuzzParseSecretID(f *testing.F) {
	for _, s := range []string{"https://myvault.vault.azure.net/secrets/orders-key", "https://v.vault.azure.net/secrets/k/0123456789abcdef0123456789abcdef",
		"https://127.0.0.1:1/secrets/a/", "http://x/secrets/a", "https://x/secrets/%2F", "https://[::1]:443/secrets/k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := keyvault.ParseSecretID(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		again, err := keyvault.ParseSecretID(id.String())
		if err != nil || again != id {
			t.Fatalf("%q parsed to %+v, whose String %q parses to %+v, %v", s, id, id.String(), again, err)
		}
	})
}
