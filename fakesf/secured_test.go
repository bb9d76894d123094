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
	"net/http"
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

// TestCertificateRollover: SetServerCertificate serves the new certificate to the next connection (an idle one
// is closed), SetClientCertThumbprints changes who is let in at once, and the management observer sees which
// client certificate each request came with.
func TestCertificateRollover(t *testing.T) {
	oldServer, newServer := testcert.SelfSigned(t, "fakesf-old"), testcert.SelfSigned(t, "fakesf-new")
	a, b := testcert.SelfSigned(t, "client-a").TLS, testcert.SelfSigned(t, "client-b").TLS
	seen := make(chan ManagementEvent, 16)
	c, err := Start(t.Context(), DefaultTopology(), WithTLS(oldServer.TLS), WithClientCertThumbprints(Thumbprint(a.Certificate[0])),
		WithManagementObserver(func(e ManagementEvent) { seen <- e }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resolve := c.URL() + "/Services/Shop~Web/$/ResolvePartition?api-version=6.0"
	served := func(cert *tls.Certificate) string { // the server thumbprint a new connection sees
		var got string
		cfg := &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
			got = Thumbprint(cs.PeerCertificates[0].Raw)
			return nil
		}}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		tr := &http.Transport{TLSClientConfig: cfg}
		defer tr.CloseIdleConnections()
		if code, _ := status(t, &http.Client{Transport: tr}, resolve, nil); cert != nil && code != 200 {
			t.Errorf("with an accepted client certificate: %d", code)
		}
		return got
	}

	clientA, trA := tlsClient(oldServer.Thumbprint(), &a)
	defer trA.CloseIdleConnections()
	if code, _ := status(t, clientA, resolve, nil); code != 200 {
		t.Fatalf("client a before the rollover: %d", code)
	}
	if e := <-seen; e.ClientCertThumbprint != Thumbprint(a.Certificate[0]) || e.Path != "/Services/Shop~Web/$/ResolvePartition" {
		t.Errorf("observer saw %+v, want client a on ResolvePartition", e)
	}
	if err := c.SetServerCertificate(newServer.TLS); err != nil {
		t.Fatal(err)
	}
	if got := served(&a); got != newServer.Thumbprint() {
		t.Errorf("a new connection after SetServerCertificate sees %s, want the new %s", got, newServer.Thumbprint())
	}
	<-seen
	// clientA pins the old certificate: its idle connection was closed, so it must reconnect and fail.
	if _, err := clientA.Get(resolve); err == nil {
		t.Error("a client pinning the old server certificate still got through after the rollover")
	}

	if err := c.SetClientCertThumbprints(Thumbprint(b.Certificate[0])); err != nil {
		t.Fatal(err)
	}
	clientA, trA = tlsClient(newServer.Thumbprint(), &a)
	defer trA.CloseIdleConnections()
	clientB, trB := tlsClient(newServer.Thumbprint(), &b)
	defer trB.CloseIdleConnections()
	if code, _ := status(t, clientA, resolve, nil); code != 403 {
		t.Errorf("client a after it was dropped: %d, want 403", code)
	}
	if code, _ := status(t, clientB, resolve, nil); code != 200 {
		t.Errorf("client b after it was added: %d, want 200", code)
	}
	// Exactly two requests arrived since the new connection: the pinned client's was never served.
	if ea, eb := <-seen, <-seen; ea.ClientCertThumbprint != Thumbprint(a.Certificate[0]) || eb.ClientCertThumbprint != Thumbprint(b.Certificate[0]) {
		t.Errorf("observer saw %s then %s, want client a (refused) then client b", ea.ClientCertThumbprint, eb.ClientCertThumbprint)
	}
	if err := c.SetClientCertThumbprints("xyz"); err == nil {
		t.Error("a malformed thumbprint was accepted")
	}
	plain, err := Start(t.Context(), DefaultTopology())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if plain.SetServerCertificate(newServer.TLS) == nil || plain.SetClientCertThumbprints() == nil {
		t.Error("a plain-HTTP cluster took TLS settings")
	}
}
