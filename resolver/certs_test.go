package resolver_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sfgate/sfgate/resolver"
)

// testCert is a generated certificate with its key, usable as a server or client certificate.
type testCert struct {
	cert *x509.Certificate
	tls  tls.Certificate
}

var serialCounter int64

// newTestCert makes a certificate for cn (also a DNS name, plus 127.0.0.1), signed by parent, or self-signed
// when parent is nil. isCA makes it able to sign.
func newTestCert(t testing.TB, cn string, parent *testCert, isCA bool) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serialCounter++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serialCounter),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	if !isCA {
		tmpl.DNSNames = []string{cn}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	signer, signerKey := tmpl, any(key)
	if parent != nil {
		signer, signerKey = parent.cert, parent.tls.PrivateKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	chain := [][]byte{der}
	if parent != nil {
		chain = append(chain, parent.cert.Raw)
	}
	return &testCert{cert: cert, tls: tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: cert}}
}

// writePEM writes the certificate and key as PEM files and returns their paths.
func (c *testCert) writePEM(t testing.TB) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	der, err := x509.MarshalPKCS8PrivateKey(c.tls.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestServerVerifier(t *testing.T) {
	ca := newTestCert(t, "Test Cluster CA", nil, true)
	otherCA := newTestCert(t, "Other CA", nil, true)
	issued := newTestCert(t, "mycluster.example", ca, false)
	selfSigned := newTestCert(t, "selfsigned.example", nil, false)
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)

	presented := func(c *testCert) []*x509.Certificate {
		out := []*x509.Certificate{c.cert}
		for _, der := range c.tls.Certificate[1:] {
			p, _ := x509.ParseCertificate(der)
			out = append(out, p)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		auth   resolver.Auth
		server *testCert
		ok     bool
	}{
		{"thumbprint match, self-signed", resolver.Auth{ServerCertThumbprints: []string{resolver.Thumbprint(selfSigned.cert)}}, selfSigned, true},
		{"thumbprint lower-case with colons", resolver.Auth{ServerCertThumbprints: []string{colonHex(resolver.Thumbprint(selfSigned.cert))}}, selfSigned, true},
		{"thumbprint mismatch", resolver.Auth{ServerCertThumbprints: []string{resolver.Thumbprint(issued.cert)}}, selfSigned, false},
		{"name + chain to roots", resolver.Auth{ServerX509Names: []resolver.X509Name{{Name: "MyCluster.example"}}, RootCAs: roots}, issued, true},
		{"name + chain, untrusted root", resolver.Auth{ServerX509Names: []resolver.X509Name{{Name: "mycluster.example"}}, RootCAs: x509.NewCertPool()}, issued, false},
		{"name mismatch", resolver.Auth{ServerX509Names: []resolver.X509Name{{Name: "other.example"}}, RootCAs: roots}, issued, false},
		{"name + issuer pinned", resolver.Auth{ServerX509Names: []resolver.X509Name{{Name: "mycluster.example", IssuerThumbprints: []string{resolver.Thumbprint(ca.cert)}}}}, issued, true},
		{"name + wrong issuer pinned", resolver.Auth{ServerX509Names: []resolver.X509Name{{Name: "mycluster.example", IssuerThumbprints: []string{resolver.Thumbprint(otherCA.cert)}}}}, issued, false},
		{"name + self-signed pinned to itself", resolver.Auth{ServerX509Names: []resolver.X509Name{{Name: "selfsigned.example", IssuerThumbprints: []string{resolver.Thumbprint(selfSigned.cert)}}}}, selfSigned, true},
		{"thumbprint or name: name wins", resolver.Auth{ServerCertThumbprints: []string{resolver.Thumbprint(selfSigned.cert)}, ServerX509Names: []resolver.X509Name{{Name: "mycluster.example", IssuerThumbprints: []string{resolver.Thumbprint(ca.cert)}}}}, issued, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := resolver.VerifyServer(&tc.auth, presented(tc.server))
			if tc.ok && err != nil {
				t.Errorf("verify = %v, want accepted", err)
			}
			if !tc.ok {
				var ce *resolver.CertificateError
				if err == nil {
					t.Errorf("verify accepted, want a *resolver.CertificateError")
				} else if !errors.As(err, &ce) || ce.Thumbprint != resolver.Thumbprint(tc.server.cert) {
					t.Errorf("verify = %v, want a *resolver.CertificateError naming thumbprint %s", err, resolver.Thumbprint(tc.server.cert))
				}
			}
		})
	}
}

func TestServerVerifierRejectsBadThumbprintConfig(t *testing.T) {
	for _, a := range []resolver.Auth{
		{ServerCertThumbprints: []string{"abc"}},
		{ServerX509Names: []resolver.X509Name{{Name: " "}}},
		{ServerX509Names: []resolver.X509Name{{Name: "x", IssuerThumbprints: []string{"zz"}}}},
	} {
		if _, err := resolver.New(resolver.Options{ManagementEndpoints: []string{"https://127.0.0.1:1"}, Auth: a}); err == nil {
			t.Errorf("New accepted %+v", a)
		}
	}
}

func colonHex(s string) string {
	out := []byte{}
	for i := 0; i < len(s); i += 2 {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, s[i]|0x20, s[i+1]|0x20)
	}
	return string(out)
}

// TestTransportAllowsRenegotiationOverHTTP1: SF's http.sys gateway may ask for the client certificate by TLS
// renegotiation, which only works on HTTP/1.1 with renegotiation allowed.
func TestTransportAllowsRenegotiationOverHTTP1(t *testing.T) {
	client := newTestCert(t, "sfgate-client", nil, false)
	tr, err := resolver.TransportFor(&resolver.Auth{ClientCertificate: &client.tls, ServerCertThumbprints: []string{resolver.Thumbprint(client.cert)}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := tr.TLSClientConfig
	if cfg.Renegotiation != tls.RenegotiateFreelyAsClient {
		t.Errorf("Renegotiation = %v, want RenegotiateFreelyAsClient", cfg.Renegotiation)
	}
	if tr.ForceAttemptHTTP2 || tr.TLSNextProto == nil || len(tr.TLSNextProto) != 0 {
		t.Errorf("HTTP/2 not disabled: ForceAttemptHTTP2 %v, TLSNextProto %v", tr.ForceAttemptHTTP2, tr.TLSNextProto)
	}
	if !cfg.InsecureSkipVerify || cfg.VerifyConnection == nil || len(cfg.Certificates) != 1 {
		t.Errorf("pinning config: skip %v, VerifyConnection set %v, %d client certs", cfg.InsecureSkipVerify, cfg.VerifyConnection != nil, len(cfg.Certificates))
	}
}
