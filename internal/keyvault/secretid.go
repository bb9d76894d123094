package keyvault

import (
	"fmt"
	"net/url"
	"strings"
)

// SecretID is a parsed Key Vault secret identifier, as APIM's Key Vault named values take it:
// https://<vault>.vault.azure.net/secrets/<name>[/<version>].
type SecretID struct {
	// Vault is the vault's URL: https:// and the host (with a port when the identifier has one).
	Vault string
	// Name is the secret's name.
	Name string
	// Version pins one version of the secret; "" means the latest, which Refresh fetches again.
	Version string
}

// String is the identifier as Key Vault writes it (never a value: it is safe in messages).
func (id SecretID) String() string {
	s := id.Vault + "/secrets/" + id.Name
	if id.Version != "" {
		s += "/" + id.Version
	}
	return s
}

// ParseSecretID parses a secret identifier: an https URL whose path is /secrets/<name> or
// /secrets/<name>/<version> (one trailing slash is allowed), without user, query or fragment. A name has 1 to 127
// letters, digits and '-', as Key Vault allows; a version 1 to 64 letters and digits (Key Vault's are 32 hex
// digits). The error says what is wrong and the form wanted.
func ParseSecretID(s string) (SecretID, error) {
	const want = "want https://<vault>.vault.azure.net/secrets/<name> or .../secrets/<name>/<version>"
	u, err := url.Parse(s)
	if err != nil {
		return SecretID{}, fmt.Errorf("%q is not a URL; %s", s, want)
	}
	switch {
	case u.Scheme != "https":
		return SecretID{}, fmt.Errorf("%q is not an https URL (the vault's token travels with the request); %s", s, want)
	case u.Host == "" || u.User != nil || u.Opaque != "":
		return SecretID{}, fmt.Errorf("%q has no plain vault host; %s", s, want)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(s, "?#"):
		return SecretID{}, fmt.Errorf("%q may not have a query or fragment; %s", s, want)
	}
	if strings.ContainsAny(u.Host, "/\\@ ") || strings.HasPrefix(u.Host, ":") {
		return SecretID{}, fmt.Errorf("%q has no plain vault host; %s", s, want)
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if !strings.HasPrefix(path, "/") || len(parts) < 2 || len(parts) > 3 || parts[0] != "secrets" {
		return SecretID{}, fmt.Errorf("%q does not name a secret; %s", s, want)
	}
	id := SecretID{Vault: "https://" + strings.ToLower(u.Host), Name: parts[1]}
	if !validName(id.Name, 127, true) {
		return SecretID{}, fmt.Errorf("%q: the secret name %q is not 1 to 127 letters, digits and '-'", s, id.Name)
	}
	if len(parts) == 3 {
		id.Version = parts[2]
		if !validName(id.Version, 64, false) {
			return SecretID{}, fmt.Errorf("%q: the version %q is not 1 to 64 letters and digits", s, id.Version)
		}
	}
	return id, nil
}

// validName reports whether s has 1 to max ASCII letters and digits (and '-' when dash).
func validName(s string, max int, dash bool) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || dash && c == '-') {
			return false
		}
	}
	return true
}
