package resolver

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/sfgate/sfgate/internal/certfile"
)

// Auth configures how the resolver authenticates to the cluster's HTTP gateway and how it validates the
// gateway's certificate (docs/servicefabric.md §7). The zero value means an unsecured cluster (plain http,
// no credential). Fields combine: an Azure AD cluster still accepts client certificates.
type Auth struct {
	// ClientCertFile and ClientKeyFile are PEM files of the X.509 client certificate and its private key
	// (ClientKeyFile may be empty when the key is in ClientCertFile). TLS renegotiation is allowed, since the
	// http.sys-based gateway may ask for the certificate mid-connection; HTTP/2 is never used for that reason.
	// The files are read again when they change (Options.CertPollInterval) and on ReloadTLSFiles.
	ClientCertFile, ClientKeyFile string
	// ClientCertificate is an alternative to the files.
	ClientCertificate *tls.Certificate

	// ServerCertThumbprints accepts a server whose leaf certificate's SHA-1 thumbprint (40 hex digits,
	// case-insensitive, spaces and colons ignored; a SHA-256 one, 64 digits, too) is listed, whatever its chain
	// and host name (APIM serverCertificateThumbprints; SF clusters often use self-signed certificates). Each
	// connection checks the certificate it is shown, so during a rollover list the old and the new one.
	ServerCertThumbprints []string
	// ServerX509Names accepts a server whose leaf certificate's common name or a DNS name equals Name
	// (case-insensitive) and that either is issued (or self-signed) by a certificate with one of
	// IssuerThumbprints, or, when no issuer is pinned, chains to RootCAs (APIM serverX509Names).
	ServerX509Names []X509Name
	// RootCAs is the trust store for chain validation; nil means the system pool. With neither thumbprints
	// nor names, https endpoints are validated the standard way (chain to RootCAs and host name).
	RootCAs *x509.CertPool
	// RootCAFile is a PEM bundle of CAs used in place of RootCAs, read again, like the client certificate
	// files, when it changes (Options.CertPollInterval) and on ReloadTLSFiles: new naming connections
	// validate against the bundle last read successfully.
	RootCAFile string

	// Credential obtains Azure AD tokens (see NewCredential); requires ClusterAppID.
	Credential azcore.TokenCredential
	// ClusterAppID is the cluster's Azure AD application (client) ID; the token scope is "<ClusterAppID>/.default"
	// (a value already ending in "/.default" is used as is).
	ClusterAppID string
	// AllowBearerOverHTTP lets the bearer token travel over plain http. Off by default (azcore refuses it):
	// only for a local fake cluster without TLS.
	AllowBearerOverHTTP bool
}

// X509Name is one accepted server certificate name, optionally pinned to issuer thumbprints.
type X509Name struct {
	Name              string
	IssuerThumbprints []string
}

// CertificateError reports a management endpoint certificate that matched no configured thumbprint or name.
// It is not retried on other endpoints: it is a configuration problem.
type CertificateError struct {
	Thumbprint string   // leaf SHA-1, upper-case hex
	Subject    string   // leaf common name
	DNSNames   []string // leaf DNS names
	Reason     string
}

func (e *CertificateError) Error() string {
	return fmt.Sprintf("server certificate (thumbprint %s, CN %q, DNS %v) rejected: %s",
		e.Thumbprint, e.Subject, e.DNSNames, e.Reason)
}

// Thumbprint returns the SF-style thumbprint of a certificate: SHA-1 of its DER bytes, upper-case hex.
func Thumbprint(cert *x509.Certificate) string {
	sum := sha1.Sum(cert.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// thumbprint256 is the SHA-256 of a certificate's DER bytes, upper-case hex (a thumbprint some tools print).
func thumbprint256(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// normalizeThumbprint strips separators and upper-cases; it reports whether the result is 40 (SHA-1) or 64
// (SHA-256) hex digits.
func normalizeThumbprint(s string) (string, bool) {
	s = strings.ToUpper(strings.NewReplacer(" ", "", ":", "", "\u200e", "").Replace(strings.TrimSpace(s)))
	if len(s) != 40 && len(s) != 64 {
		return s, false
	}
	_, err := hex.DecodeString(s)
	return s, err == nil
}

// tlsFiles is what Auth's files held when last read successfully: the client certificate (nil without
// ClientCertFile) and the CA bundle (nil without RootCAFile).
type tlsFiles struct {
	cert  *tls.Certificate
	roots *x509.CertPool
}

// watchFiles reads Auth's client certificate files and RootCAFile, watched (certfile.Watched): nil when it
// names none.
func (a *Auth) watchFiles() (*certfile.Watched[*tlsFiles], error) {
	if a.ClientCertificate == nil && a.ClientCertFile == "" && a.ClientKeyFile != "" {
		return nil, fmt.Errorf("client key file %s given without a client certificate file", a.ClientKeyFile)
	}
	certFile := a.ClientCertFile
	if a.ClientCertificate != nil {
		certFile = ""
	}
	if certFile == "" && a.RootCAFile == "" {
		return nil, nil
	}
	keyFile := a.ClientKeyFile
	if keyFile == "" {
		keyFile = certFile
	}
	loaded, err := certfile.Load(func(read certfile.Reader) (*tlsFiles, error) {
		f := &tlsFiles{}
		if certFile != "" {
			cert, err := certfile.ReadKeyPair(read, certFile, keyFile)
			if err != nil {
				return nil, fmt.Errorf("client certificate: %w", err)
			}
			f.cert = cert
		}
		if a.RootCAFile != "" {
			roots, err := certfile.ReadCAs(read, a.RootCAFile)
			if err != nil {
				return nil, fmt.Errorf("server CA file: %w", err)
			}
			f.roots = roots
		}
		return f, nil
	})
	if err != nil {
		return nil, err
	}
	return certfile.NewWatched(loaded), nil
}

// tlsConfig builds the client TLS configuration for the management endpoints from Auth and what its files
// hold now (files may be nil). Every handshake presents the client certificate the files held when last
// read successfully, so a rotated certificate reaches new connections without a new Resolver; a new CA
// bundle takes a new configuration (the Resolver swaps its HTTP client, see tlsClient).
func (a *Auth) tlsConfig(files *certfile.Watched[*tlsFiles]) (*tls.Config, error) {
	roots := a.RootCAs
	if files != nil && files.Current().roots != nil {
		roots = files.Current().roots
	}
	cfg := &tls.Config{
		MinVersion:    tls.VersionTLS12,
		RootCAs:       roots,
		Renegotiation: tls.RenegotiateFreelyAsClient,
	}
	switch {
	case a.ClientCertificate != nil:
		cfg.Certificates = []tls.Certificate{*a.ClientCertificate}
	case files != nil && files.Current().cert != nil:
		cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert := files.Current().cert
			if cri.SupportsCertificate(cert) != nil {
				return &tls.Certificate{}, nil // what Go does with Certificates: send none the server cannot take
			}
			return cert, nil
		}
	}
	if len(a.ServerCertThumbprints) == 0 && len(a.ServerX509Names) == 0 {
		return cfg, nil
	}
	v, err := newServerVerifier(a, roots)
	if err != nil {
		return nil, err
	}
	// Standard verification is replaced, not skipped: VerifyConnection runs on every handshake (including
	// resumed ones) and applies the thumbprint / name rules.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error { return v.verify(cs.PeerCertificates) }
	return cfg, nil
}

type serverVerifier struct {
	thumbprints map[string]bool
	names       []X509Name // issuer thumbprints normalized
	roots       *x509.CertPool
	now         func() time.Time
}

func newServerVerifier(a *Auth, roots *x509.CertPool) (*serverVerifier, error) {
	v := &serverVerifier{thumbprints: map[string]bool{}, roots: roots, now: time.Now}
	for _, t := range a.ServerCertThumbprints {
		n, ok := normalizeThumbprint(t)
		if !ok {
			return nil, fmt.Errorf("server certificate thumbprint %q is not 40 (SHA-1) or 64 (SHA-256) hex digits", t)
		}
		v.thumbprints[n] = true
	}
	for _, xn := range a.ServerX509Names {
		if strings.TrimSpace(xn.Name) == "" {
			return nil, errors.New("server X.509 name is empty")
		}
		out := X509Name{Name: strings.TrimSpace(xn.Name)}
		for _, t := range xn.IssuerThumbprints {
			n, ok := normalizeThumbprint(t)
			if !ok {
				return nil, fmt.Errorf("issuer thumbprint %q for server name %q is not 40 (SHA-1) or 64 (SHA-256) hex digits", t, xn.Name)
			}
			out.IssuerThumbprints = append(out.IssuerThumbprints, n)
		}
		v.names = append(v.names, out)
	}
	return v, nil
}

func (v *serverVerifier) verify(certs []*x509.Certificate) error {
	if len(certs) == 0 {
		return certificateError(nil, "the server presented no certificate")
	}
	leaf := certs[0]
	tp := Thumbprint(leaf)
	if v.thumbprints[tp] || v.thumbprints[thumbprint256(leaf)] {
		return nil
	}
	reasons := []string{}
	if len(v.thumbprints) > 0 {
		reasons = append(reasons, "thumbprint not in the configured list")
	}
	for _, n := range v.names {
		if !certHasName(leaf, n.Name) {
			reasons = append(reasons, fmt.Sprintf("name %q not in the certificate", n.Name))
			continue
		}
		err := v.verifyIssuer(leaf, certs[1:], n.IssuerThumbprints)
		if err == nil {
			return nil
		}
		reasons = append(reasons, fmt.Sprintf("name %q matched but %v", n.Name, err))
	}
	return certificateError(leaf, strings.Join(reasons, "; "))
}

// certificateError is the CertificateError of a refused leaf certificate (nil: none was presented).
func certificateError(leaf *x509.Certificate, reason string) *CertificateError {
	e := &CertificateError{Reason: reason}
	if leaf != nil {
		e.Thumbprint, e.Subject, e.DNSNames = Thumbprint(leaf), leaf.Subject.CommonName, leaf.DNSNames
	}
	return e
}

// verifyIssuer checks the trust of a name-matched leaf: pinned issuer thumbprints, or a chain to the roots.
func (v *serverVerifier) verifyIssuer(leaf *x509.Certificate, presented []*x509.Certificate, issuers []string) error {
	now := v.now()
	if len(issuers) == 0 {
		inter := x509.NewCertPool()
		for _, c := range presented {
			inter.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{Roots: v.roots, Intermediates: inter, CurrentTime: now})
		if err != nil {
			return fmt.Errorf("the chain does not validate: %w", err)
		}
		return nil
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return fmt.Errorf("the certificate is not valid now (valid %s to %s)",
			leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
	}
	candidates := append([]*x509.Certificate{leaf}, presented...)
	for _, c := range candidates {
		if !contains(issuers, Thumbprint(c)) && !contains(issuers, thumbprint256(c)) {
			continue
		}
		if leaf.CheckSignatureFrom(c) == nil || (c == leaf && leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) == nil) {
			return nil
		}
	}
	return fmt.Errorf("its issuer is not one of the pinned issuer thumbprints %v", issuers)
}

func certHasName(c *x509.Certificate, name string) bool {
	if strings.EqualFold(c.Subject.CommonName, name) {
		return true
	}
	for _, d := range c.DNSNames {
		if strings.EqualFold(d, name) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// newTransport builds the HTTP client for the management endpoints: HTTP/1.1 only (renegotiation is
// impossible on HTTP/2), keep-alive, bounded dial and TLS handshake times.
func newTransport(cfg *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     cfg,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// bearerPolicy returns the azcore bearer-token policy for Azure AD, or nil when no credential is set.
func (a *Auth) bearerPolicy() (policy.Policy, error) {
	if a.Credential == nil {
		if a.ClusterAppID != "" {
			return nil, fmt.Errorf("the Azure AD cluster application ID %q is given without a credential", a.ClusterAppID)
		}
		return nil, nil
	}
	if a.ClusterAppID == "" {
		return nil, errors.New("an Azure AD credential is given without the cluster application ID (the token scope is <appId>/.default)")
	}
	return runtime.NewBearerTokenPolicy(credential{a.Credential}, []string{tokenScope(a.ClusterAppID)},
		&policy.BearerTokenOptions{InsecureAllowCredentialWithHTTP: a.AllowBearerOverHTTP}), nil
}

func tokenScope(appID string) string {
	if strings.HasSuffix(appID, "/.default") {
		return appID
	}
	return strings.TrimSuffix(appID, "/") + "/.default"
}

// credential marks token acquisition failures so that failover does not retry them on other endpoints.
type credential struct{ azcore.TokenCredential }

func (c credential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := c.TokenCredential.GetToken(ctx, opts)
	if err != nil {
		return tok, &credentialError{scopes: opts.Scopes, err: err}
	}
	return tok, nil
}

// credentialError is a failure to obtain an Azure AD token; it matches ErrUnauthorized.
type credentialError struct {
	scopes []string
	err    error
}

func (e *credentialError) Error() string {
	return fmt.Sprintf("get Azure AD token for %s: %v", strings.Join(e.scopes, " "), e.err)
}
func (e *credentialError) Unwrap() error        { return e.err }
func (e *credentialError) Is(target error) bool { return target == ErrUnauthorized }
