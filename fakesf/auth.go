package fakesf

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tlsConfig serves the current server certificate (SetServerCertificate replaces it) and asks for a client
// certificate while any is accepted.
func (c *Cluster) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cfg := &tls.Config{Certificates: []tls.Certificate{*c.serverCert.Load()}, MinVersion: tls.VersionTLS12}
		if len(*c.thumbprints.Load()) > 0 || len(c.cfg.commonNames) > 0 {
			// Ask for a certificate but do not fail the handshake without one: SF answers such calls with 403.
			cfg.ClientAuth = tls.RequestClientCert
		}
		return cfg, nil
	}}
}

// SetServerCertificate makes the management endpoint serve cert from now on, as a cluster does during a
// certificate rollover: new connections shake hands with it, and connections made with the old one are closed
// (idle ones at once, busy ones when their answer is done, as the node restarting with the new certificate
// would close them) so that clients reconnect and see it. It fails on a cluster started without WithTLS.
func (c *Cluster) SetServerCertificate(cert tls.Certificate) error {
	if c.serverCert.Load() == nil {
		return errors.New("fakesf: SetServerCertificate: the cluster serves plain HTTP (start it WithTLS)")
	}
	if len(cert.Certificate) == 0 || cert.PrivateKey == nil {
		return errors.New("fakesf: SetServerCertificate: the certificate has no chain or no private key")
	}
	c.serverCert.Store(&cert)
	c.certConns.rollover()
	return nil
}

// certConns closes the management connections that began under an earlier server certificate: the idle ones at
// the rollover, the busy ones the moment they finish their answer (before they could read another request), so
// no request is served over the old certificate once SetServerCertificate has returned (ServeHTTP drops one
// that net/http had already read ahead).
type certConns struct {
	mu    sync.Mutex
	gen   int                  // bumped by each rollover
	conns map[net.Conn]connGen // open connections
}

type connGen struct {
	gen  int
	idle bool
}

// track is the management server's ConnState hook.
func (cc *certConns) track(conn net.Conn, state http.ConnState) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	switch state {
	case http.StateNew:
		if cc.conns == nil {
			cc.conns = make(map[net.Conn]connGen)
		}
		cc.conns[conn] = connGen{gen: cc.gen}
	case http.StateActive:
		if g, ok := cc.conns[conn]; ok {
			g.idle = false
			cc.conns[conn] = g
		}
	case http.StateIdle:
		g, ok := cc.conns[conn]
		if !ok {
			return
		}
		if g.gen != cc.gen {
			delete(cc.conns, conn)
			_ = conn.Close()
			return
		}
		g.idle = true
		cc.conns[conn] = g
	case http.StateClosed, http.StateHijacked:
		delete(cc.conns, conn)
	}
}

// retired reports whether r came over a connection that began under an earlier server certificate.
func (cc *certConns) retired(r *http.Request) bool {
	conn, _ := r.Context().Value(connKey{}).(net.Conn)
	cc.mu.Lock()
	defer cc.mu.Unlock()
	g, ok := cc.conns[conn]
	return !ok || g.gen != cc.gen
}

// rollover closes the idle connections now and marks the busy ones to close when their answer is done.
func (cc *certConns) rollover() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.gen++
	for conn, g := range cc.conns {
		if g.idle {
			delete(cc.conns, conn)
			_ = conn.Close()
		}
	}
}

// SetClientCertThumbprints replaces the accepted client certificate thumbprints (WithClientCertThumbprints) for
// the requests that follow; none leaves only the common names and bearer tokens configured. It fails on a
// cluster started without WithTLS, or on a thumbprint that is not 40 hex digits (and then changes nothing).
func (c *Cluster) SetClientCertThumbprints(thumbprints ...string) error {
	if c.serverCert.Load() == nil {
		return errors.New("fakesf: SetClientCertThumbprints: the cluster serves plain HTTP (start it WithTLS)")
	}
	m, err := parseThumbprints(thumbprints)
	if err != nil {
		return err
	}
	c.thumbprints.Store(&m)
	return nil
}

// authorized applies SF's gateway order: a bearer token first, then the client certificate (by thumbprint, or by
// common name within its validity period, as ClientCertificateThumbprints and ClientCertificateCommonNames do).
func (c *Cluster) authorized(r *http.Request) bool {
	thumbprints := *c.thumbprints.Load()
	if c.cfg.bearer == nil && len(thumbprints) == 0 && len(c.cfg.commonNames) == 0 {
		return true
	}
	if c.cfg.bearer != nil {
		if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			if c.cfg.bearer(strings.TrimSpace(token)) == nil {
				return true
			}
		}
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return false
	}
	leaf := r.TLS.PeerCertificates[0]
	if thumbprints[Thumbprint(leaf.Raw)] {
		return true
	}
	now := time.Now()
	return c.cfg.commonNames[strings.ToLower(leaf.Subject.CommonName)] && now.After(leaf.NotBefore) && now.Before(leaf.NotAfter)
}

// Thumbprint is the SHA-1 thumbprint of a DER certificate as SF prints it: 40 upper-case hex digits.
func Thumbprint(der []byte) string {
	sum := sha1.Sum(der)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// ExpectAudience returns a WithBearerToken check with SF's AAD rules on the token's claims (see aadClaims). The
// signature is NOT verified; SignedBy verifies it too.
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
		var claims map[string]any
		if err := json.Unmarshal(payload, &claims); err != nil {
			return fmt.Errorf("JWT claims: %w", err)
		}
		return aadClaims(claims, audience, tenant)
	}
}

// SignedBy returns a WithBearerToken check for tokens signed by key (an *rsa.PublicKey for RS256/RS384/RS512 and
// PS256/PS384/PS512, an *ecdsa.PublicKey for ES256/ES384/ES512): the signature must verify, and the claims pass SF's
// AAD rules (see aadClaims). It lets a test play Azure AD: sign tokens with its own key, give fakesf the public half.
func SignedBy(key crypto.PublicKey, audience, tenant string) func(token string) error {
	var methods []string
	switch key.(type) {
	case *rsa.PublicKey:
		methods = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case *ecdsa.PublicKey:
		methods = []string{"ES256", "ES384", "ES512"}
	default:
		return func(string) error { return fmt.Errorf("fakesf: SignedBy: %T is not an RSA or ECDSA public key", key) }
	}
	parser := jwt.NewParser(jwt.WithValidMethods(methods))
	return func(token string) error {
		claims := jwt.MapClaims{}
		if _, err := parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return key, nil }); err != nil {
			return err
		}
		return aadClaims(claims, audience, tenant)
	}
}

// aadClaims applies SF's Azure AD rules to a token's claims: aud equals audience (the cluster application ID), iss
// is the v1 issuer https://sts.windows.net/<tenant>/ (skipped when tenant is ""), roles holds "User" or "Admin",
// and exp (if present) is in the future.
func aadClaims(claims map[string]any, audience, tenant string) error {
	audOK := false
	switch a := claims["aud"].(type) {
	case string:
		audOK = a == audience
	case []any:
		audOK = slices.Contains(a, any(audience))
	}
	if !audOK {
		return fmt.Errorf("aud %v is not %q", claims["aud"], audience)
	}
	if iss, _ := claims["iss"].(string); tenant != "" && iss != "https://sts.windows.net/"+tenant+"/" {
		return fmt.Errorf("iss %q is not the v1 issuer of tenant %s", iss, tenant)
	}
	roles, _ := claims["roles"].([]any)
	if !slices.Contains(roles, any("User")) && !slices.Contains(roles, any("Admin")) {
		return fmt.Errorf("roles %v hold neither User nor Admin", claims["roles"])
	}
	if exp, present := claims["exp"]; present {
		secs, ok := exp.(float64)
		if !ok || time.Unix(int64(secs), 0).Before(time.Now()) {
			return fmt.Errorf("token expired or exp %v is not a number", exp)
		}
	}
	return nil
}

// ParsePublicKeyPEM reads the public key SignedBy needs from PEM: a "PUBLIC KEY" (PKIX) block, an "RSA PUBLIC KEY"
// (PKCS #1) block, or a "CERTIFICATE" whose key is taken.
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)")
	}
	switch block.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return cert.PublicKey, nil
	}
	return nil, fmt.Errorf("PEM block %q is not a PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", block.Type)
}

// GenerateCertificate makes a self-signed server certificate (ECDSA P-256, valid for a year from an hour ago) for
// the given DNS names or IP addresses, the first one also its common name: what fakesf serves when asked for
// HTTPS without a certificate of the user's. Print its Thumbprint for clients to pin; or give it to clients that
// verify against a CA file (curl --cacert, sfctl --ca): it may sign certificates, so strict verifiers take it as
// its own trust anchor.
func GenerateCertificate(names ...string) (tls.Certificate, error) {
	if len(names) == 0 {
		return tls.Certificate{}, errors.New("fakesf: GenerateCertificate needs at least one name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		// A CA constraint lets verifiers that want one (Python's strict X.509 mode) trust it as an anchor.
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
