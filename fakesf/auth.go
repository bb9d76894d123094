package fakesf

import (
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

func (c *Cluster) tlsConfig() *tls.Config {
	cfg := &tls.Config{Certificates: []tls.Certificate{*c.cfg.tlsCert}, MinVersion: tls.VersionTLS12}
	if len(c.cfg.thumbprints) > 0 {
		// Ask for a certificate but do not fail the handshake without one: SF answers such calls with 403.
		cfg.ClientAuth = tls.RequestClientCert
	}
	return cfg
}

// authorized applies SF's gateway order: a bearer token first, then the client certificate.
func (c *Cluster) authorized(r *http.Request) bool {
	if c.cfg.bearer == nil && len(c.cfg.thumbprints) == 0 {
		return true
	}
	if c.cfg.bearer != nil {
		if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			if c.cfg.bearer(strings.TrimSpace(token)) == nil {
				return true
			}
		}
	}
	if len(c.cfg.thumbprints) > 0 && r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		sum := sha1.Sum(r.TLS.PeerCertificates[0].Raw)
		if c.cfg.thumbprints[strings.ToUpper(hex.EncodeToString(sum[:]))] {
			return true
		}
	}
	return false
}

// Thumbprint is the SHA-1 thumbprint of a DER certificate as SF prints it: 40 upper-case hex digits.
func Thumbprint(der []byte) string {
	sum := sha1.Sum(der)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// ExpectAudience returns a WithBearerToken check with SF's AAD rules (docs/servicefabric.md §7) on the token's
// claims: aud equals audience (the cluster application ID), iss is the v1 issuer https://sts.windows.net/<tenant>/
// (skipped when tenant is ""), roles holds "User" or "Admin", and exp (if present) is in the future. The
// signature is NOT verified: the fake has no access to Azure AD's signing keys.
func ExpectAudience(audience, tenant string) func(token string) error {
	return func(token string) error {
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			return errors.New("not a JWT (want header.payload.signature)")
		}
		payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
		if err != nil {
			return fmt.Errorf("JWT payload: %w", err)
		}
		var claims struct {
			Aud   any      `json:"aud"`
			Iss   string   `json:"iss"`
			Roles []string `json:"roles"`
			Exp   *float64 `json:"exp"`
		}
		if err := json.Unmarshal(payload, &claims); err != nil {
			return fmt.Errorf("JWT claims: %w", err)
		}
		audOK := false
		switch a := claims.Aud.(type) {
		case string:
			audOK = a == audience
		case []any:
			audOK = slices.Contains(a, any(audience))
		}
		if !audOK {
			return fmt.Errorf("aud %v is not %q", claims.Aud, audience)
		}
		if tenant != "" && claims.Iss != "https://sts.windows.net/"+tenant+"/" {
			return fmt.Errorf("iss %q is not the v1 issuer of tenant %s", claims.Iss, tenant)
		}
		if !slices.Contains(claims.Roles, "User") && !slices.Contains(claims.Roles, "Admin") {
			return fmt.Errorf("roles %v hold neither User nor Admin", claims.Roles)
		}
		if claims.Exp != nil && time.Unix(int64(*claims.Exp), 0).Before(time.Now()) {
			return errors.New("token expired")
		}
		return nil
	}
}
