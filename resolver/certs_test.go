package resolver_test

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/sfgate/sfgate/internal/testcert"
	"github.com/sfgate/sfgate/resolver"
)

func TestServerVerifier(t *testing.T) {
	ca := testcert.CA(t, "Test Cluster CA")
	otherCA := testcert.CA(t, "Other CA")
	issued := ca.Issue(t, "mycluster.example")
	selfSigned := testcert.SelfSigned(t, "selfsigned.example")
	dnsOnly := ca.IssueFor(t, "front.example", "alt.example") // common name front.example
	cnOnly := ca.IssueFor(t, "127.0.0.1")                     // common name 127.0.0.1, no DNS names
	roots := x509.NewCertPool()
	roots.AddCert(ca.Leaf)

	presented := func(c *testcert.Cert) []*x509.Certificate {
		out := []*x509.Certificate{c.Leaf}
		for _, der := range c.TLS.Certificate[1:] {
			p, _ := x509.ParseCertificate(der)
			out = append(out, p)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		auth   resolver.Auth
		server *testcert.Cert
		ok     bool
	}{
		{"thumbprint match, self-signed", resolver.Auth{ServerCertThumbprints: []string{resolver.Thumbprint(selfSigned.Leaf)}}, selfSigned, true},
		{"thumbprint lower-case with colons", resolver.Auth{ServerCertThumbprints: []string{colonHex(resolver.Thumbprint(selfSigned.Leaf))}}, selfSigned, true},
		{"thumbprint mismatch", resolver.Auth{ServerCertThumbprints: []string{resolver.Thumbprint(issued.Leaf)}}, selfSigned, false},
		{"name + chain to roots", resolver.Auth{ServerX509Names: []resolver.X509Name{{Name: "MyCluster.example"}}, RootCAs: roots}, issued, true},
		{"name + chain, untrusted root", resolver.Auth{ServerX509Names: []resolver.X509Name{{Name: "mycluster.example"}}, RootCAs: x509.NewCertPool()}, issued, false},
		{"name mismatch", resolver.Auth{ServerX509Names: []resolver.X509Name{{Name: "other.example"}}, RootCAs: roots}, issued, false},
		{"name + issuer pinned", resolver.Auth{ServerX509Names: []resolver.X509Name{{Name: "mycluster.example", IssuerThumbprints: []string{resolver.Thumbprint(ca.Leaf)}}}}, issued, true},
		{"name + wrong issuer pinned", resolver.Auth{ServerX509Names: []resolver.X509Name{{Name: "mycluster.example", IssuerThumbprints: []string{resolver.Thumbprint(otherCA.Leaf)}}}}, issued, false},
		{"name + self-signed pinned to itself", resolver.Auth{ServerX509Names: []resolver.X509Name{{Name: "selfsigned.example", IssuerThumbprints: []string{resolver.Thumbprint(selfSigned.Leaf)}}}}, selfSigned, true},
		{"thumbprint or name: name wins", resolver.Auth{ServerCertThumbprints: []string{resolver.Thumbprint(selfSigned.Leaf)}, ServerX509Names: []resolver.X509Name{{Name: "mycluster.example", IssuerThumbprints: []string{resolver.Thumbprint(ca.Leaf)}}}}, issued, true},
		// A rollover lists the old and the new thumbprint: either is accepted, a third is not.
		{"rollover: new of two listed", resolver.Auth{ServerCertThumbprints: []string{resolver.Thumbprint(issued.Leaf), resolver.Thumbprint(selfSigned.Leaf)}}, selfSigned, true},
		{"rollover: old of two listed", resolver.Auth{ServerCertThumbprints: []string{resolver.Thumbprint(issued.Leaf), resolver.Thumbprint(selfSigned.Leaf)}}, issued, true},
		{"rollover: neither listed", resolver.Auth{ServerCertThumbprints: []string{resolver.Thumbprint(issued.Leaf), resolver.Thumbprint(ca.Leaf)}}, selfSigned, false},
		{"thumbprint SHA-256", resolver.Auth{ServerCertThumbprints: []string{sha256Hex(selfSigned.Leaf)}}, selfSigned, true},
		{"thumbprint SHA-256 of another", resolver.Auth{ServerCertThumbprints: []string{sha256Hex(issued.Leaf)}}, selfSigned, false},
		{"thumbprint of the issuer is not the leaf's", resolver.Auth{ServerCertThumbprints: []string{resolver.Thumbprint(ca.Leaf)}}, issued, false},
		// Names match the leaf's common name or one of its DNS names, never the issuer's name.
		{"name in DNS names only", resolver.Auth{ServerX509Names: []resolver.X509Name{{Name: "ALT.example", IssuerThumbprints: []string{resolver.Thumbprint(ca.Leaf)}}}}, dnsOnly, true},
		{"name in common name only", resolver.Auth{ServerX509Names: []resolver.X509Name{{Name: "127.0.0.1", IssuerThumbprints: []string{resolver.Thumbprint(ca.Leaf)}}}}, cnOnly, true},
		{"name of the issuer", resolver.Auth{ServerX509Names: []resolver.X509Name{{Name: "Test Cluster CA", IssuerThumbprints: []string{resolver.Thumbprint(ca.Leaf)}}}}, issued, false},
		{"name is a prefix", resolver.Auth{ServerX509Names: []resolver.X509Name{{Name: "mycluster", IssuerThumbprints: []string{resolver.Thumbprint(ca.Leaf)}}}}, issued, false},
		{"issuer pinned by SHA-256", resolver.Auth{ServerX509Names: []resolver.X509Name{{Name: "mycluster.example", IssuerThumbprints: []string{sha256Hex(ca.Leaf)}}}}, issued, true},
		{"issuer pinned to the leaf's own thumbprint, not self-signed", resolver.Auth{ServerX509Names: []resolver.X509Name{{Name: "mycluster.example", IssuerThumbprints: []string{resolver.Thumbprint(issued.Leaf)}}}}, issued, false},
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
				} else if !errors.As(err, &ce) || ce.Thumbprint != resolver.Thumbprint(tc.server.Leaf) {
					t.Errorf("verify = %v, want a *resolver.CertificateError naming thumbprint %s", err, resolver.Thumbprint(tc.server.Leaf))
				}
			}
		})
	}
}

// A certificate outside its validity period is refused by name, with a pinned issuer or a chain, and still
// accepted by a listed thumbprint (a pinned certificate is taken as it is).
func TestServerVerifierValidityPeriod(t *testing.T) {
	ca := testcert.CA(t, "Test Cluster CA")
	issued := ca.Issue(t, "mycluster.example")
	roots := x509.NewCertPool()
	roots.AddCert(ca.Leaf)
	certs := []*x509.Certificate{issued.Leaf, ca.Leaf}
	pinned := resolver.Auth{ServerX509Names: []resolver.X509Name{{Name: "mycluster.example", IssuerThumbprints: []string{resolver.Thumbprint(ca.Leaf)}}}}
	chained := resolver.Auth{ServerX509Names: []resolver.X509Name{{Name: "mycluster.example"}}, RootCAs: roots}
	byThumbprint := resolver.Auth{ServerCertThumbprints: []string{resolver.Thumbprint(issued.Leaf)}}
	for _, at := range []time.Time{issued.Leaf.NotBefore.Add(-time.Minute), issued.Leaf.NotAfter.Add(time.Minute)} {
		for name, a := range map[string]resolver.Auth{"pinned issuer": pinned, "chain": chained} {
			if err := resolver.VerifyServerAt(&a, certs, at); err == nil {
				t.Errorf("%s at %s (outside %s..%s): accepted", name, at, issued.Leaf.NotBefore, issued.Leaf.NotAfter)
			}
		}
		if err := resolver.VerifyServerAt(&byThumbprint, certs, at); err != nil {
			t.Errorf("thumbprint at %s: %v", at, err)
		}
	}
	now := issued.Leaf.NotBefore.Add(time.Hour)
	if err := resolver.VerifyServerAt(&pinned, certs, now); err != nil {
		t.Errorf("pinned issuer inside the validity period: %v", err)
	}
}

func sha256Hex(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
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
	client := testcert.SelfSigned(t, "sfgate-client")
	tr, err := resolver.TransportFor(&resolver.Auth{ClientCertificate: &client.TLS, ServerCertThumbprints: []string{resolver.Thumbprint(client.Leaf)}})
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
