package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfgate/sfgate/gateway/config"
	"github.com/sfgate/sfgate/internal/testcert"
)

// tlsClientConn is one client connection to the gateway's HTTPS listener, kept alive across requests.
type tlsClientConn struct {
	*tls.Conn
	r *bufio.Reader
}

// dialTLS connects to addr asking for serverName by SNI. roots nil: any server certificate is accepted (the
// test looks at which one came). client, when set, is presented for mutual TLS.
func dialTLS(addr, serverName string, roots *x509.CertPool, client *testcert.Cert, maxVersion uint16) (*tlsClientConn, error) {
	conf := &tls.Config{ServerName: serverName, RootCAs: roots, InsecureSkipVerify: roots == nil, MaxVersion: maxVersion}
	if client != nil { // sent whatever CAs the server names, so that the server's own check is tested
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &client.TLS, nil }
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, conf)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &tlsClientConn{Conn: c, r: bufio.NewReader(c)}, nil
}

// get sends GET path on the connection, keeping it alive, and reads the answer.
func (c *tlsClientConn) get(path string) (rawResponse, error) {
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: gateway.example\r\n\r\n", path); err != nil {
		return rawResponse{}, err
	}
	return c.read()
}

// read reads the answer to a GET sent on the connection.
func (c *tlsClientConn) read() (rawResponse, error) {
	resp, err := http.ReadResponse(c.r, &http.Request{Method: "GET"})
	if err != nil {
		return rawResponse{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: body}, err
}

// servedCert is the common name of the certificate the gateway serves to a client asking for serverName.
func servedCert(t *testing.T, addr, serverName string) *x509.Certificate {
	t.Helper()
	c, err := dialTLS(addr, serverName, nil, nil, 0)
	if err != nil {
		t.Fatalf("TLS handshake asking for %q: %v", serverName, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// pemPair writes c into dir as name.pem and name-key.pem.
func pemPair(t *testing.T, c *testcert.Cert, dir, name string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	c.WritePEMTo(t, certFile, keyFile)
	return certFile, keyFile
}

// caFile writes the certificates of cas as one PEM bundle and returns its path.
func caFile(t *testing.T, cas ...*testcert.Cert) string {
	t.Helper()
	var bundle []byte
	for _, ca := range cas {
		certFile, _ := ca.WritePEM(t)
		data, err := os.ReadFile(certFile)
		if err != nil {
			t.Fatal(err)
		}
		bundle = append(bundle, data...)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// certPolicy puts what the gateway saw of the client's certificate into request headers the echo backend shows.
const certPolicy = `
    policies: |
      <policies><inbound><base />
        <set-header name="X-Client-Subject" exists-action="override"><value>@(context.Request.Certificate?.Subject ?? "none")</value></set-header>
        <set-header name="X-Client-Thumbprint" exists-action="override"><value>@(context.Request.Certificate?.Thumbprint ?? "none")</value></set-header>
      </inbound></policies>
`

// HTTPS on the client listener: SNI picks the certificate by its DNS names and the first is the default; the
// backend hears X-Forwarded-Proto: https; a certificate replaced on disk is served to new connections without a
// restart while an open connection keeps working; a broken file leaves the last good certificate in use; Reload
// (SIGHUP) re-reads the files without waiting for the watcher.
func TestTLSListenerSNIAndCertificateReload(t *testing.T) {
	ca := testcert.CA(t, "Server CA")
	dir := t.TempDir()
	aCert, aKey := pemPair(t, ca.Issue(t, "a.example"), dir, "a")
	bCert, bKey := pemPair(t, ca.Issue(t, "b.example"), dir, "b")
	echo := startEcho(t, nil)
	reloads := make(chan error, 16)
	text := fmt.Sprintf(`
tls:
  certificates:
    - {certFile: %s, keyFile: %s}
    - {certFile: %s, keyFile: %s}
apis:
  - name: echo
    path: ""
    serviceUrl: http://%s/
`+certPolicy, aCert, aKey, bCert, bKey, echo)
	g := startGatewayWith(t, text, nil, Options{certPoll: 10 * time.Millisecond, onCertReload: func(err error) { reloads <- err }})

	roots := x509.NewCertPool()
	roots.AddCert(ca.Leaf)
	for sni, want := range map[string]string{"b.example": "b.example", "a.example": "a.example", "other.example": "a.example", "": "a.example"} {
		if got := servedCert(t, g.addr, sni).Subject.CommonName; got != want {
			t.Errorf("SNI %q: served %s, want %s", sni, got, want)
		}
	}
	kept, err := dialTLS(g.addr, "b.example", roots, nil, 0) // verified against the CA, by name
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	r, err := kept.get("/x")
	if err != nil {
		t.Fatal(err)
	}
	e := decodeEcho(t, r)
	if got := e.Header["X-Forwarded-Proto"]; len(got) != 1 || got[0] != "https" {
		t.Errorf("X-Forwarded-Proto = %v, want https", got)
	}
	if got := e.Header["X-Client-Subject"]; len(got) != 1 || got[0] != "none" {
		t.Errorf("X-Client-Subject without a client certificate = %v, want none", got)
	}

	// Replace the default certificate on disk; the watcher picks it up.
	next := ca.Issue(t, "a.example")
	next.WritePEMTo(t, aCert, aKey)
	waitReload(t, reloads)
	if got := servedCert(t, g.addr, "a.example"); !got.Equal(next.Leaf) {
		t.Errorf("after the files changed the gateway serves serial %x, want the new one %x", got.SerialNumber, next.Leaf.SerialNumber)
	}
	if r, err := kept.get("/again"); err != nil || r.status != 200 {
		t.Errorf("the connection opened before the reload: status %d, err %v; want it kept", r.status, err)
	}

	// A broken file is reported and leaves the last good certificates in use.
	if err := os.WriteFile(aCert, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := waitReloadFailure(t, reloads); !strings.Contains(err.Error(), "tls.certificates[0]") {
		t.Errorf("a broken certificate file: reload error %v, want one naming tls.certificates[0]", err)
	}
	if got := servedCert(t, g.addr, "a.example"); !got.Equal(next.Leaf) {
		t.Errorf("after a broken file the gateway serves serial %x, want the last good %x", got.SerialNumber, next.Leaf.SerialNumber)
	}

}

// Reload (SIGHUP) reads the client listener's files again at once, without waiting for the watcher.
func TestTLSListenerReloadRereadsFiles(t *testing.T) {
	ca := testcert.CA(t, "Server CA")
	certFile, keyFile := pemPair(t, ca.Issue(t, "a.example"), t.TempDir(), "a")
	text := fmt.Sprintf(`
tls: {certificates: [{certFile: %s, keyFile: %s}]}
apis: [{name: echo, path: "", serviceUrl: "http://%s/"}]
`, certFile, keyFile, startEcho(t, nil))
	g := startGatewayWith(t, text, nil, Options{certPoll: time.Hour})
	next := ca.Issue(t, "a.example")
	next.WritePEMTo(t, certFile, keyFile)
	if got := servedCert(t, g.addr, "a.example"); got.Equal(next.Leaf) {
		t.Fatal("the new certificate is served before any reload")
	}
	cfg, err := config.Parse([]byte(text), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Reload(cfg); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := servedCert(t, g.addr, "a.example"); !got.Equal(next.Leaf) {
		t.Errorf("after Reload the gateway serves serial %x, want %x", got.SerialNumber, next.Leaf.SerialNumber)
	}
}

func waitReloadOutcome(t *testing.T, reloads <-chan error) error {
	t.Helper()
	select {
	case err := <-reloads:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("the certificate watcher did not reload within 20s")
	}
	return nil
}

// waitReloadFailure waits for a reload that failed (the one before may have seen the end of a write).
func waitReloadFailure(t *testing.T, reloads <-chan error) error {
	t.Helper()
	for {
		if err := waitReloadOutcome(t, reloads); err != nil {
			return err
		}
	}
}

// waitReload waits for a reload that succeeded (one that saw a half-written pair may fail first).
func waitReload(t *testing.T, reloads <-chan error) {
	t.Helper()
	for {
		if err := waitReloadOutcome(t, reloads); err == nil {
			return
		}
	}
}

// Mutual TLS: with clientCertificate: required a client without a certificate, or with one from another CA,
// cannot get a request through; one from the configured CA can, and policies see its subject and thumbprint.
// minVersion "1.3" refuses a TLS 1.2 client.
func TestTLSListenerMutualTLSAndMinVersion(t *testing.T) {
	serverCA, clientCA, otherCA := testcert.CA(t, "Server CA"), testcert.CA(t, "Client CA"), testcert.CA(t, "Other CA")
	dir := t.TempDir()
	cert, key := pemPair(t, serverCA.Issue(t, "gateway.example"), dir, "server")
	hits := make(chan struct{}, 16)
	echo := startEcho(t, func(http.ResponseWriter) { hits <- struct{}{} })
	g := startGateway(t, fmt.Sprintf(`
tls:
  certificates: [{certFile: %s, keyFile: %s}]
  minVersion: "1.3"
  clientCertificate: required
  clientCaFile: %s
apis:
  - name: echo
    path: ""
    serviceUrl: http://%s/
`+certPolicy, cert, key, caFile(t, clientCA), echo), nil)
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.Leaf)

	refused := func(name string, client *testcert.Cert, maxVersion uint16, alert string) {
		t.Helper()
		c, err := dialTLS(g.addr, "gateway.example", roots, client, maxVersion)
		if err == nil {
			defer c.Close()
			var r rawResponse
			r, err = c.get("/x") // TLS 1.3: the server's refusal arrives after the client's handshake ended
			if err == nil {
				t.Errorf("%s: got status %d, want the connection refused", name, r.status)
			}
		}
		if err != nil && !strings.Contains(err.Error(), alert) {
			t.Errorf("%s: %v, want the alert %q", name, err, alert)
		}
	}
	refused("no client certificate", nil, 0, "certificate required")
	refused("certificate of another CA", otherCA.Issue(t, "client.example"), 0, "unknown certificate authority")
	refused("TLS 1.2", clientCA.Issue(t, "client.example"), tls.VersionTLS12, "protocol version not supported")
	select {
	case <-hits:
		t.Fatal("a refused client reached the backend")
	default:
	}

	client := clientCA.Issue(t, "client.example")
	c, err := dialTLS(g.addr, "gateway.example", roots, client, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.get("/x")
	if err != nil {
		t.Fatal(err)
	}
	e := decodeEcho(t, r)
	if got := e.Header["X-Client-Subject"]; len(got) != 1 || got[0] != "CN=client.example" {
		t.Errorf("X-Client-Subject = %v, want CN=client.example", got)
	}
	if got := e.Header["X-Client-Thumbprint"]; len(got) != 1 || got[0] != client.Thumbprint() {
		t.Errorf("X-Client-Thumbprint = %v, want %s", got, client.Thumbprint())
	}
}

// A tls section whose files do not load is a configuration error at its place in the file, for validate and
// for New alike.
func TestTLSListenerBadFilesAreConfigErrors(t *testing.T) {
	dir := t.TempDir()
	text := fmt.Sprintf(`apis: [{name: a, serviceUrl: "http://127.0.0.1:1/"}]
tls:
  certificates:
    - {certFile: %s, keyFile: %s}
  clientCertificate: optional
  clientCaFile: %s
`, filepath.Join(dir, "missing.pem"), filepath.Join(dir, "missing-key.pem"), filepath.Join(dir, "ca.pem"))
	cfg, err := config.Parse([]byte(text), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{"Validate": Validate(cfg), "New": func() error { _, err := New(cfg, Options{}); return err }()} {
		var errs config.Errors
		if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Pos.Line != 4 || errs[0].Field != "tls.certificates[0]" ||
			!strings.Contains(errs[0].Msg, "missing.pem") {
			t.Errorf("%s: %v, want one error at test.yaml:4 naming tls.certificates[0] and the file", name, err)
		}
	}
}

// With clientCertificate: optional the TLS layer admits clients with or without a certificate (a certificate must
// chain to clientCaFile); validate-client-certificate then refuses, per API, a client without one or with one
// whose identity is not listed, with 401 and APIM's body.
func TestValidateClientCertificateOverTLS(t *testing.T) {
	serverCA, clientCA := testcert.CA(t, "Server CA"), testcert.CA(t, "Client CA")
	cert, key := pemPair(t, serverCA.Issue(t, "gateway.example"), t.TempDir(), "server")
	partner, stranger := clientCA.Issue(t, "partner.example"), clientCA.Issue(t, "stranger.example")
	g := startGateway(t, fmt.Sprintf(`
tls:
  certificates: [{certFile: %s, keyFile: %s}]
  clientCertificate: optional
  clientCaFile: %s
apis:
  - name: open
    path: open
    serviceUrl: http://%[4]s/
  - name: partners
    path: partners
    serviceUrl: http://%[4]s/
    policies: |
      <policies><inbound><base />
        <validate-client-certificate validate-revocation="false">
          <identities><identity common-name="partner.example" issuer-subject="CN=Client CA" /></identities>
        </validate-client-certificate>
      </inbound></policies>
`, cert, key, caFile(t, clientCA), startEcho(t, nil)), nil)
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.Leaf)
	for _, c := range []struct {
		name   string
		client *testcert.Cert
		path   string
		status int
	}{
		{"no certificate, open API", nil, "/open/x", 200},
		{"no certificate", nil, "/partners/x", 401},
		{"another identity", stranger, "/partners/x", 401},
		{"the partner", partner, "/partners/x", 200},
	} {
		conn, err := dialTLS(g.addr, "gateway.example", roots, c.client, 0)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		r, err := conn.get(c.path)
		conn.Close()
		if err != nil || r.status != c.status {
			t.Errorf("%s: GET %s: %d %s %v, want %d", c.name, c.path, r.status, r.body, err, c.status)
		}
		if c.status == 401 && !strings.Contains(string(r.body), `"statusCode":401`) {
			t.Errorf("%s: body %s, want APIM's", c.name, r.body)
		}
	}
}

// validate-client-certificate as APIM's reference writes it, with validate-revocation left at its default
// (true): over mutual TLS a client certificate its CA's CRL revokes is refused with 401 ClientCertificateRevoked,
// one whose revocation cannot be checked (it names no CRL) with ClientCertificateRevocationUnknown, and one the
// CRL does not list passes; the client sees APIM's body, the log says why.
func TestValidateClientCertificateRevocationOverTLS(t *testing.T) {
	serverCA, clientCA := testcert.CA(t, "Server CA"), testcert.CA(t, "Client CA")
	cert, key := pemPair(t, serverCA.Issue(t, "gateway.example"), t.TempDir(), "server")
	var crl atomic.Pointer[[]byte]
	crlServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(*crl.Load()) }))
	t.Cleanup(crlServer.Close)
	crlURL := crlServer.URL + "/client-ca.crl"
	good, revoked := clientCA.IssueWithCRL(t, "good.example", crlURL), clientCA.IssueWithCRL(t, "revoked.example", crlURL)
	unchecked := clientCA.Issue(t, "no-crl.example")
	der := clientCA.CRL(t, time.Now().Add(time.Hour), revoked)
	crl.Store(&der)

	logs := &lockedBuffer{}
	g := startGatewayWith(t, fmt.Sprintf(`
tls:
  certificates: [{certFile: %s, keyFile: %s}]
  clientCertificate: required
  clientCaFile: %s
apis:
  - name: partners
    path: partners
    serviceUrl: http://%s/
    policies: |
      <policies><inbound><base />
        <validate-client-certificate />
      </inbound></policies>
`, cert, key, caFile(t, clientCA), startEcho(t, nil)), nil, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.Leaf)
	for _, c := range []struct {
		client *testcert.Cert
		status int
		code   string
	}{
		{good, 200, ""},
		{revoked, 401, "ClientCertificateRevoked"},
		{unchecked, 401, "ClientCertificateRevocationUnknown"},
	} {
		name := c.client.Leaf.Subject.CommonName
		conn, err := dialTLS(g.addr, "gateway.example", roots, c.client, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r, err := conn.get("/partners/x")
		conn.Close()
		if err != nil || r.status != c.status || !strings.Contains(string(r.body), c.code) {
			t.Errorf("%s: %d %s %v, want %d %s", name, r.status, r.body, err, c.status, c.code)
		}
		if c.status == 401 && (!strings.Contains(string(r.body), `"statusCode":401`) || strings.Contains(string(r.body), crlServer.URL)) {
			t.Errorf("%s: body %s, want APIM's, without the CRL's address", name, r.body)
		}
	}
	if !strings.Contains(logs.String(), "names no http(s) CRL distribution point") {
		t.Errorf("the log does not say why no-crl.example was refused:\n%s", logs.String())
	}
}

// A validate-client-certificate on a client listener that asks for no certificate would refuse every request it
// runs for (ClientCertificateNotPresent), so it is a load error at the policy, whether tls: is absent or says
// clientCertificate: none; with ignore-error="true", or on a listener that asks for a certificate, it loads.
func TestValidateClientCertificateNeedsAListenerThatAsks(t *testing.T) {
	ca := testcert.CA(t, "Client CA")
	cert, key := pemPair(t, ca.Issue(t, "gateway.example"), t.TempDir(), "server")
	cas := caFile(t, ca)
	listener := map[string]string{
		"plain HTTP": "",
		"none":       fmt.Sprintf("tls:\n  certificates: [{certFile: %s, keyFile: %s}]\n  clientCertificate: none\n", cert, key),
		"unset":      fmt.Sprintf("tls:\n  certificates: [{certFile: %s, keyFile: %s}]\n", cert, key),
		"optional":   fmt.Sprintf("tls:\n  certificates: [{certFile: %s, keyFile: %s}]\n  clientCertificate: optional\n  clientCaFile: %s\n", cert, key, cas),
		"required":   fmt.Sprintf("tls:\n  certificates: [{certFile: %s, keyFile: %s}]\n  clientCertificate: required\n  clientCaFile: %s\n", cert, key, cas),
	}
	for _, c := range []struct {
		listener, attrs, want string
	}{
		{"plain HTTP", ``, "the client listener serves plain HTTP (no tls:)"},
		{"none", ``, "the client listener asks clients for no certificate (tls.clientCertificate: none)"},
		{"unset", ``, "the client listener asks clients for no certificate"},
		{"plain HTTP", `ignore-error="true"`, ""},
		{"none", `ignore-error="true"`, ""},
		{"optional", ``, ""},
		{"required", ``, ""},
	} {
		text := listener[c.listener] + `apis:
  - name: partners
    path: partners
    serviceUrl: http://127.0.0.1:1/
    policies: |
      <policies><inbound><base />
        <validate-client-certificate validate-revocation="false" ` + c.attrs + ` />
      </inbound></policies>
`
		err := validateYAML(t, text)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s %s: %v", c.listener, c.attrs, err)
			}
			continue
		}
		lines := strings.Split(text, "\n")
		line := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "<validate-client-certificate") })
		at := fmt.Sprintf("test.yaml:%d:%d: apis[0].policies: <validate-client-certificate> would refuse every request with ClientCertificateNotPresent: ",
			line+1, strings.Index(lines[line], "<")+1)
		if err == nil || !strings.Contains(err.Error(), at+c.want) {
			t.Errorf("%s %s: error %v, want %q", c.listener, c.attrs, err, at+c.want)
		}
	}
}

// A reload judges validate-client-certificate by what the client listener will serve: adding tls: takes a
// restart, so a reload that adds it with client certificates still refuses the policy (the listener stays plain
// HTTP); removing tls: keeps the listener's settings until a restart, so the policy loads while they ask for a
// certificate; a reload to clientCertificate: none applies, and refuses it.
func TestValidateClientCertificateOnReloadJudgedByTheListener(t *testing.T) {
	ca := testcert.CA(t, "Client CA")
	cert, key := pemPair(t, ca.Issue(t, "gateway.example"), t.TempDir(), "server")
	cas := caFile(t, ca)
	withPolicy := func(tlsBlock string) *config.Config {
		t.Helper()
		cfg, err := config.Parse([]byte(tlsBlock+`apis:
  - name: partners
    path: partners
    serviceUrl: http://127.0.0.1:1/
    policies: |
      <policies><inbound><base /><validate-client-certificate validate-revocation="false" /></inbound></policies>
`), "test.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	optional := fmt.Sprintf("tls:\n  certificates: [{certFile: %s, keyFile: %s}]\n  clientCertificate: optional\n  clientCaFile: %s\n", cert, key, cas)
	none := fmt.Sprintf("tls:\n  certificates: [{certFile: %s, keyFile: %s}]\n", cert, key)
	start := func(cfg *config.Config) *Gateway {
		t.Helper()
		g, err := New(cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Shutdown(context.Background()) })
		return g
	}
	plain, err := config.Parse([]byte("apis: [{name: partners, path: partners, serviceUrl: 'http://127.0.0.1:1/'}]\n"), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g := start(plain)
	if err := g.Reload(withPolicy(optional)); err == nil || !strings.Contains(err.Error(), "the client listener serves plain HTTP until a restart (tls: was added after it started)") {
		t.Errorf("plain HTTP listener, reload adding tls: with the policy: %v", err)
	}
	g = start(withPolicy(optional))
	if err := g.Reload(withPolicy("")); err != nil {
		t.Errorf("a listener asking for certificates, reload removing tls:: %v", err)
	}
	if err := g.Reload(withPolicy(none)); err == nil || !strings.Contains(err.Error(), "the client listener asks clients for no certificate") {
		t.Errorf("reload to clientCertificate none: %v", err)
	}
	if err := g.Reload(withPolicy(optional)); err != nil {
		t.Errorf("reload back to optional: %v", err)
	}
}
