package testcert_test

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/sfgate/sfgate/internal/testcert"
)

// An issued certificate verifies against its CA for its name and 127.0.0.1, for server and client use; a
// self-signed one does not verify against that CA; the PEM files load back as the same key pair.
func TestIssuedVerifiesAndPEMFilesLoad(t *testing.T) {
	t.Parallel()
	ca := testcert.CA(t, "Test CA")
	issued := ca.Issue(t, "cluster.example")
	self := testcert.SelfSigned(t, "cluster.example")
	roots := x509.NewCertPool()
	roots.AddCert(ca.Leaf)
	inter := x509.NewCertPool()
	for _, name := range []string{"cluster.example", "127.0.0.1"} {
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			opts := x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}
			if _, err := issued.Leaf.Verify(opts); err != nil {
				t.Errorf("issued certificate for %s, usage %v: %v", name, usage, err)
			}
			if _, err := self.Leaf.Verify(opts); err == nil {
				t.Errorf("self-signed certificate verified against an unrelated CA")
			}
		}
	}
	if len(issued.TLS.Certificate) != 2 || string(issued.TLS.Certificate[1]) != string(ca.Leaf.Raw) {
		t.Errorf("issued chain has %d certificates, want the leaf then the CA", len(issued.TLS.Certificate))
	}
	if ca.Leaf.SerialNumber.Cmp(issued.Leaf.SerialNumber) == 0 {
		t.Errorf("two certificates share serial %v", ca.Leaf.SerialNumber)
	}
	certFile, keyFile := self.WritePEM(t)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(pair.Certificate[0]) != string(self.Leaf.Raw) {
		t.Error("the PEM file holds another certificate")
	}
	if tp := self.Thumbprint(); len(tp) != 40 || tp == issued.Thumbprint() {
		t.Errorf("thumbprint %q", tp)
	}
}

// IssueFor and SelfSignedFor name exactly the hosts given: a certificate for a DNS name alone does not verify
// for 127.0.0.1, one for an IP address alone does not verify for a name.
func TestCertificatesForExactHosts(t *testing.T) {
	t.Parallel()
	ca := testcert.CA(t, "Test CA")
	roots := x509.NewCertPool()
	roots.AddCert(ca.Leaf)
	for _, tc := range []struct {
		cert      *testcert.Cert
		roots     *x509.CertPool
		good, bad string
	}{
		{ca.IssueFor(t, "only.example"), roots, "only.example", "127.0.0.1"},
		{ca.IssueFor(t, "127.0.0.1"), roots, "127.0.0.1", "localhost"},
		{testcert.SelfSignedFor(t, "localhost"), nil, "localhost", "127.0.0.1"},
	} {
		if err := tc.cert.Leaf.VerifyHostname(tc.good); err != nil {
			t.Errorf("%v: %s: %v", tc.cert.Leaf.Subject, tc.good, err)
		}
		if err := tc.cert.Leaf.VerifyHostname(tc.bad); err == nil {
			t.Errorf("%v: verified for %s, which it does not name", tc.cert.Leaf.Subject, tc.bad)
		}
		if tc.roots != nil {
			if _, err := tc.cert.Leaf.Verify(x509.VerifyOptions{Roots: tc.roots, DNSName: tc.good}); err != nil {
				t.Errorf("%v: chain: %v", tc.cert.Leaf.Subject, err)
			}
		}
	}
}
