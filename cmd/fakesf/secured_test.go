package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/testcert"
)

// startRun runs the command in-process with args until the test ends and returns the lines it printed up to
// "ready".
func startRun(t *testing.T, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"--listen", "127.0.0.1:0"}, args...), pw, io.Discard)
		pw.CloseWithError(errors.Join(err, io.EOF))
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		go io.Copy(io.Discard, pr)
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	var lines []string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if sc.Text() == "ready" {
			return lines
		}
	}
	t.Fatalf("no ready line: %v %q", sc.Err(), lines)
	return nil
}

func lineValue(t *testing.T, lines []string, prefix string) string {
	t.Helper()
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			return v
		}
	}
	t.Fatalf("no %q line in %q", prefix, lines)
	return ""
}

// pinnedGet sends GET u over TLS, pinning the server certificate's thumbprint, with an optional client
// certificate and Authorization header, and returns the status.
func pinnedGet(t *testing.T, u, thumbprint string, client *tls.Certificate, auth string) int {
	t.Helper()
	cfg := &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
		if fakesf.Thumbprint(cs.PeerCertificates[0].Raw) != thumbprint {
			return errors.New("server thumbprint mismatch")
		}
		return nil
	}}
	if client != nil {
		cfg.Certificates = []tls.Certificate{*client}
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", u, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// --tls generates a certificate and prints its thumbprint; client certificates are accepted by thumbprint or
// common name; bearer tokens signed by --bearer-key are accepted.
func TestSecuredFlags(t *testing.T) {
	byThumb := testcert.SelfSigned(t, "ci-admin")
	byName := testcert.SelfSigned(t, "gateway.example")
	stranger := testcert.SelfSigned(t, "stranger")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	keyFile := filepath.Join(t.TempDir(), "aad.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	certOut := filepath.Join(t.TempDir(), "fakesf.pem")
	lines := startRun(t, "--tls", "--tls-cert-out", certOut, "--client-cert-thumbprint", byThumb.Thumbprint(), "--client-cert-common-name", "other,gateway.example",
		"--bearer-key", keyFile, "--bearer-audience", "app-id", "--bearer-tenant", "tenant")
	thumb := lineValue(t, lines, "server certificate thumbprint: ")
	mgmt := lineValue(t, lines, "management: ")
	if !strings.HasPrefix(mgmt, "https://") || len(thumb) != 40 {
		t.Fatalf("management %q, thumbprint %q", mgmt, thumb)
	}
	u := mgmt + "/Services/Shop~Web/$/ResolvePartition?api-version=6.0"
	token, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"aud": "app-id", "iss": "https://sts.windows.net/tenant/", "roles": []string{"User"}}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		cert   *tls.Certificate
		auth   string
		status int
	}{
		{"thumbprint", &byThumb.TLS, "", 200},
		{"common name", &byName.TLS, "", 200},
		{"signed token", nil, "Bearer " + token, 200},
		{"stranger", &stranger.TLS, "", 403},
		{"nothing", nil, "", 403},
	} {
		if got := pinnedGet(t, u, thumb, tc.cert, tc.auth); got != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.status)
		}
	}
	// The written certificate is the one served, and verifies the server for a client that trusts only it.
	written, err := os.ReadFile(certOut)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(written)
	if block == nil || fakesf.Thumbprint(block.Bytes) != thumb {
		t.Fatalf("--tls-cert-out wrote %q", written)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(written)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{byName.TLS}}}
	defer tr.CloseIdleConnections()
	if resp, err := (&http.Client{Transport: tr}).Get(mgmt + "/"); err != nil {
		t.Errorf("verifying against the written certificate: %v", err)
	} else {
		resp.Body.Close()
	}
	// sfctl cluster select's GET / works with credentials.
	if got := pinnedGet(t, mgmt+"/", thumb, &byName.TLS, ""); got != 200 {
		t.Errorf("GET / with a client certificate: %d", got)
	}
}

// --tls-cert/--tls-key serve the given certificate; flag mistakes are clear errors.
func TestSecuredFlagsGivenCertAndErrors(t *testing.T) {
	server := testcert.SelfSigned(t, "fakesf.example")
	certFile, keyFile := server.WritePEM(t)
	lines := startRun(t, "--tls-cert", certFile, "--tls-key", keyFile)
	if thumb := lineValue(t, lines, "server certificate thumbprint: "); thumb != server.Thumbprint() {
		t.Errorf("thumbprint %s, want %s", thumb, server.Thumbprint())
	}
	if got := pinnedGet(t, lineValue(t, lines, "management: ")+"/", server.Thumbprint(), nil, ""); got != 200 {
		t.Errorf("GET / over the given certificate: %d", got)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", certFile}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-cert", certFile, "--tls-key", certFile}, "--tls-cert"},
		{[]string{"--bearer-key", keyFile}, "--bearer-audience"},
		{[]string{"--bearer-tenant", "t"}, "need --bearer-key"},
		{[]string{"--bearer-key", keyFile, "--bearer-audience", "a"}, "--bearer-key"},
		{[]string{"--bearer-key", "/nonexistent", "--bearer-audience", "a"}, "--bearer-key"},
		{[]string{"--tls-cert-out", "x.pem"}, "--tls-cert-out needs HTTPS"},
	} {
		err := run(t.Context(), append([]string{"--listen", "127.0.0.1:0"}, tc.args...), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one mentioning %q", tc.args, err, tc.want)
		}
	}
}

// SIGHUP reads --tls-cert and --tls-key again: new connections get the new certificate (and --tls-cert-out
// holds it); files that do not load are reported on stderr and the previous certificate stays.
func TestBinaryReloadsServerCertificateOnSIGHUP(t *testing.T) {
	a, b := testcert.SelfSigned(t, "fakesf-a.example"), testcert.SelfSigned(t, "fakesf-b.example")
	certFile, keyFile := a.WritePEM(t)
	certOut := filepath.Join(t.TempDir(), "served.pem")
	cmd := fakesfCommand(t, "--listen", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile, "--tls-cert-out", certOut)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	out, errOut := bufio.NewScanner(stdout), bufio.NewScanner(stderr)
	next := func(sc *bufio.Scanner, prefix string) string { // the rest of the next line starting with prefix
		t.Helper()
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				return v
			}
		}
		t.Fatalf("no %q line: %v", prefix, sc.Err())
		return ""
	}
	mgmt := next(out, "management: ")
	next(out, "ready")

	b.WritePEMTo(t, certFile, keyFile)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if got := next(out, "server certificate reloaded, thumbprint: "); got != b.Thumbprint() {
		t.Fatalf("reloaded thumbprint %s, want %s", got, b.Thumbprint())
	}
	if got := pinnedGet(t, mgmt+"/", b.Thumbprint(), nil, ""); got != 200 {
		t.Errorf("GET / pinning the new certificate: %d", got)
	}
	if served, err := os.ReadFile(certOut); err != nil || !strings.Contains(string(served), "CERTIFICATE") {
		t.Errorf("--tls-cert-out after the reload: %v", err)
	} else if block, _ := pem.Decode(served); block == nil || fakesf.Thumbprint(block.Bytes) != b.Thumbprint() {
		t.Error("--tls-cert-out does not hold the new certificate")
	}

	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if msg := next(errOut, "fakesf: SIGHUP: "); !strings.Contains(msg, certFile) || !strings.Contains(msg, "previous certificate stays") {
		t.Errorf("a broken certificate file on SIGHUP: %q", msg)
	}
	if got := pinnedGet(t, mgmt+"/", b.Thumbprint(), nil, ""); got != 200 {
		t.Errorf("GET / after a broken reload: %d, want the previous certificate served", got)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stderr)
	for out.Scan() {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}
