package fakesf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sfgate/sfgate/internal/testcert"
)

// expiredCert is a self-signed client certificate for cn whose validity ended an hour ago.
func expiredCert(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestClientCertCommonNames: a client certificate is accepted by its common name (any case) while valid, as an SF
// cluster's ClientCertificateCommonNames does; another name, an expired certificate or none get 403.
func TestClientCertCommonNames(t *testing.T) {
	server := testcert.SelfSigned(t, "fakesf")
	c, err := Start(t.Context(), DefaultTopology(), WithTLS(server.TLS), WithClientCertCommonNames("Gateway.Example"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	good := testcert.CA(t, "Some CA").Issue(t, "gateway.example").TLS
	stranger := testcert.SelfSigned(t, "stranger.example").TLS
	expired := expiredCert(t, "gateway.example")
	resolve := c.URL() + "/Services/Shop~Web/$/ResolvePartition?api-version=6.0"
	for _, tc := range []struct {
		name   string
		cert   *tls.Certificate
		status int
	}{
		{"common name", &good, 200},
		{"other name", &stranger, 403},
		{"expired", &expired, 403},
		{"none", nil, 403},
	} {
		client, tr := tlsClient(server.Thumbprint(), tc.cert)
		if code, _ := status(t, client, resolve, nil); code != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.status)
		}
		tr.CloseIdleConnections()
	}
	if _, err := Start(t.Context(), DefaultTopology(), WithClientCertCommonNames("x")); err == nil || !strings.Contains(err.Error(), "WithTLS") {
		t.Errorf("common names without TLS: %v", err)
	}
	if _, err := Start(t.Context(), DefaultTopology(), WithTLS(server.TLS), WithClientCertCommonNames(" ")); err == nil {
		t.Error("an empty common name was accepted")
	}
}

// TestSignedBearerTokens: with SignedBy, a token must carry a valid signature of the given key (RSA or ECDSA) and
// SF's AAD claims; a token signed by another key, unsigned, or signed with an HMAC of the public key is refused.
func TestSignedBearerTokens(t *testing.T) {
	const app, tenant = "a3f1c2d4-1111-2222-3333-444455556666", "72f988bf-0000-0000-0000-000000000000"
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{"aud": app, "iss": "https://sts.windows.net/" + tenant + "/", "roles": []string{"Admin"}, "exp": time.Now().Add(time.Hour).Unix()}
	sign := func(m jwt.SigningMethod, key any, cl jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, cl).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	wrongAud := jwt.MapClaims{"aud": "api://other", "iss": claims["iss"], "roles": claims["roles"], "exp": claims["exp"]}
	for _, tc := range []struct {
		name  string
		key   any
		token string
		ok    bool
	}{
		{"RS256", &rsaKey.PublicKey, sign(jwt.SigningMethodRS256, rsaKey, claims), true},
		{"PS256", &rsaKey.PublicKey, sign(jwt.SigningMethodPS256, rsaKey, claims), true},
		{"ES256", &ecKey.PublicKey, sign(jwt.SigningMethodES256, ecKey, claims), true},
		{"other key", &rsaKey.PublicKey, sign(jwt.SigningMethodRS256, otherKey, claims), false},
		{"ES256 for an RSA key", &rsaKey.PublicKey, sign(jwt.SigningMethodES256, ecKey, claims), false},
		{"HMAC of the public key", &rsaKey.PublicKey, sign(jwt.SigningMethodHS256, pubDER, claims), false},
		{"unsigned", &rsaKey.PublicKey, unsignedJWT(map[string]any(claims)), false},
		{"alg none", &rsaKey.PublicKey, sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims), false},
		{"wrong audience", &rsaKey.PublicKey, sign(jwt.SigningMethodRS256, rsaKey, wrongAud), false},
	} {
		err := SignedBy(tc.key, app, tenant)(tc.token)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	if err := SignedBy("not a key", app, tenant)("x.y.z"); err == nil {
		t.Error("SignedBy accepted a string as a key")
	}

	// Over HTTPS: the token is the credential; without it, 403 with an empty body.
	server := testcert.SelfSigned(t, "fakesf")
	c, err := Start(t.Context(), DefaultTopology(), WithTLS(server.TLS), WithBearerToken(SignedBy(&rsaKey.PublicKey, app, tenant)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	client, tr := tlsClient(server.Thumbprint(), nil)
	defer tr.CloseIdleConnections()
	resolve := c.URL() + "/Services/Shop~Web/$/ResolvePartition?api-version=6.0"
	if code, body := status(t, client, resolve, map[string]string{"Authorization": "Bearer " + sign(jwt.SigningMethodRS256, rsaKey, claims)}); code != 200 {
		t.Errorf("signed token: %d %s", code, body)
	}
	if code, body := status(t, client, resolve, map[string]string{"Authorization": "Bearer " + sign(jwt.SigningMethodRS256, otherKey, claims)}); code != 403 || len(body) != 0 {
		t.Errorf("token of another key: %d %q", code, body)
	}
}

func TestParsePublicKeyPEM(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	cert := testcert.SelfSigned(t, "issuer")
	for _, tc := range []struct {
		name string
		pem  []byte
		ok   bool
	}{
		{"PKIX", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), true},
		{"PKCS1", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)}), true},
		{"certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Leaf.Raw}), true},
		{"private key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}), false},
		{"garbage", []byte("not pem"), false},
		{"bad DER", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}), false},
	} {
		key, err := ParsePublicKeyPEM(tc.pem)
		if (err == nil) != tc.ok || (tc.ok && key == nil) {
			t.Errorf("%s: key %T, err %v", tc.name, key, err)
		}
	}
}

func FuzzParsePublicKeyPEM(f *testing.F) {
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParsePublicKeyPEM(data)
		if err == nil && key == nil {
			t.Fatal("nil key without an error")
		}
	})
}

// TestGenerateCertificate: the generated server certificate serves HTTPS for its names, and its Thumbprint is what
// a client sees.
func TestGenerateCertificate(t *testing.T) {
	cert, err := GenerateCertificate("fakesf.local", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if cert.Leaf.Subject.CommonName != "fakesf.local" || len(cert.Leaf.IPAddresses) != 1 || len(cert.Leaf.DNSNames) != 1 {
		t.Errorf("certificate names: CN %q, DNS %v, IP %v", cert.Leaf.Subject.CommonName, cert.Leaf.DNSNames, cert.Leaf.IPAddresses)
	}
	c, err := Start(t.Context(), DefaultTopology(), WithTLS(cert))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	conn, err := tls.Dial("tcp", strings.TrimPrefix(c.URL(), "https://"), &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatalf("verified TLS to 127.0.0.1: %v", err)
	}
	if got := Thumbprint(conn.ConnectionState().PeerCertificates[0].Raw); got != Thumbprint(cert.Certificate[0]) {
		t.Errorf("thumbprint %s, want %s", got, Thumbprint(cert.Certificate[0]))
	}
	conn.Close()
	if _, err := GenerateCertificate(); err == nil {
		t.Error("no names accepted")
	}
}
