package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/fakesf"
)

func resolveTestCluster(t *testing.T, opts ...fakesf.Option) *fakesf.Cluster {
	t.Helper()
	c, err := fakesf.Start(context.Background(), fakesf.DefaultTopology(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func resolveRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runResolve(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

var resolveEndpointLine = regexp.MustCompile(`(?m)^endpoint:\s+(\S+) \((\w+), listener "([^"]*)"\)$`)

// replicaAt asks the endpoint who it is.
func resolveReplicaAt(t *testing.T, url string) fakesf.ReplicaResponse {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var rr fakesf.ReplicaResponse
	if err := json.Unmarshal(body, &rr); err != nil {
		t.Fatalf("%s answered %d %s", url, resp.StatusCode, body)
	}
	return rr
}

func TestResolvePrintsPartitionVersionAndPrimary(t *testing.T) {
	c := resolveTestCluster(t)
	code, out, errOut := resolveRun(t, "--cluster", c.URL(), "fabric:/Shop/Orders", "--key", "300")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	parts, err := c.Partitions("fabric:/Shop/Orders")
	if err != nil {
		t.Fatal(err)
	}
	p := parts[1]
	for _, want := range []string{
		"service:   fabric:/Shop/Orders\n",
		"partition: " + p.ID + " (Int64Range [256..511])\n",
		"version:   " + p.Version + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	m := resolveEndpointLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no endpoint line in:\n%s", out)
	}
	if rr := resolveReplicaAt(t, m[1]); rr.PartitionID != p.ID || rr.Role != "primary" || m[2] != "StatefulPrimary" {
		t.Errorf("endpoint %s is %s of %s (printed %s), want the primary of %s", m[1], rr.Role, rr.PartitionID, m[2], p.ID)
	}
}

func TestResolveFlagsAfterServiceVerboseAndListener(t *testing.T) {
	c := resolveTestCluster(t)
	code, out, errOut := resolveRun(t, "fabric:/Shop/Web", "-v", "--listener", "Admin", "--cluster", c.URL())
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	if !strings.Contains(out, "replicas:  3\n") || strings.Count(out, `"Admin"`) < 3 {
		t.Errorf("verbose output lacks the 3 instances and their Admin listeners:\n%s", out)
	}
	m := resolveEndpointLine.FindStringSubmatch(out)
	if m == nil || m[3] != "Admin" {
		t.Fatalf("endpoint line = %v in:\n%s", m, out)
	}
	if rr := resolveReplicaAt(t, m[1]); rr.Listener != "Admin" || rr.Service != "fabric:/Shop/Web" {
		t.Errorf("endpoint answered as %+v", rr)
	}
}

func TestResolveFailures(t *testing.T) {
	c := resolveTestCluster(t)
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"unknown service", []string{"--cluster", c.URL(), "fabric:/Shop/Nope"}, 1, "FABRIC_E_SERVICE_DOES_NOT_EXIST"},
		{"key not an int64", []string{"--cluster", c.URL(), "fabric:/Shop/Orders", "--key", "abc"}, 1, `partition key "abc"`},
		{"unknown partition name", []string{"--cluster", c.URL(), "fabric:/Shop/Carts", "--key", "mars"}, 1, "mars"},
		{"no secondary listening", []string{"--cluster", c.URL(), "fabric:/Shop/Orders", "--key", "1", "--replica", "secondary"}, 1, "no secondary"},
		{"unknown listener", []string{"--cluster", c.URL(), "fabric:/Shop/Web", "--listener", "Nope"}, 1, "Admin"},
		{"no service", []string{"--cluster", c.URL()}, 2, "exactly one service name"},
		{"two services", []string{"--cluster", c.URL(), "fabric:/A/B", "fabric:/C/D"}, 2, "exactly one service name"},
		{"no cluster", []string{"fabric:/Shop/Orders"}, 2, "--cluster is required"},
		{"bad replica type", []string{"--cluster", c.URL(), "fabric:/Shop/Orders", "--replica", "leader"}, 2, "--replica"},
		{"unknown flag", []string{"--cluster", c.URL(), "--frobnicate", "fabric:/Shop/Orders"}, 2, "frobnicate"},
		{"key file without cert", []string{"--cluster", c.URL(), "--key-file", "k.pem", "fabric:/Shop/Orders"}, 2, "--key-file needs --cert"},
		{"bad cluster URL", []string{"--cluster", "localhost:19080", "fabric:/Shop/Orders"}, 2, "not an http(s)://host:port URL"},
		{"bad AAD credential kind", []string{"--cluster", "https://x:1", "--aad-app-id", "app", "--aad-credential", "magic", "fabric:/Shop/Orders"}, 2, "unknown Azure AD credential kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := resolveRun(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.inStderr) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, errOut, tc.code, tc.inStderr)
			}
		})
	}
}

func TestResolveFailsOverAcrossClusterEndpoints(t *testing.T) {
	c := resolveTestCluster(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	code, out, errOut := resolveRun(t, "--cluster", dead+","+c.URL(), "fabric:/Catalog/Products")
	if code != 0 || !resolveEndpointLine.MatchString(out) {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
}

func TestResolveWithClientCertificateFlags(t *testing.T) {
	server := resolveTestCert(t, "mycluster.example")
	client := resolveTestCert(t, "sfgate-client")
	c := resolveTestCluster(t, fakesf.WithTLS(server), fakesf.WithClientCertThumbprints(resolveThumbprint(client)))
	certFile, keyFile := resolveWritePEM(t, client)
	code, out, errOut := resolveRun(t, "--cluster", c.URL(), "--cert", certFile, "--key-file", keyFile,
		"--server-thumbprint", resolveThumbprint(server), "fabric:/Shop/Carts", "--key", "eu")
	if code != 0 || !strings.Contains(out, `(Named "eu")`) {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	code, _, errOut = resolveRun(t, "--cluster", c.URL(), "--server-thumbprint", resolveThumbprint(server), "fabric:/Shop/Carts", "--key", "eu")
	if code != 1 || !strings.Contains(errOut, "403") {
		t.Errorf("without a client certificate: exit %d, stderr %s; want 1 and the 403", code, errOut)
	}
	code, _, errOut = resolveRun(t, "--cluster", c.URL(), "--cert", certFile, "--key-file", keyFile,
		"--server-x509-name", "other.example", "--server-issuer-thumbprint", resolveThumbprint(server), "fabric:/Shop/Carts", "--key", "eu")
	if code != 1 || !strings.Contains(errOut, "rejected") {
		t.Errorf("wrong server name: exit %d, stderr %s; want 1 and a certificate rejection", code, errOut)
	}
}

// newCert makes a self-signed certificate for cn and 127.0.0.1.
func resolveTestCert(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{cn}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func resolveThumbprint(c tls.Certificate) string {
	sum := sha1.Sum(c.Certificate[0])
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

func resolveWritePEM(t *testing.T, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestResolveJSONIsSFsResolvedServicePartition: -o json prints exactly what SF's ResolvePartition answers
// (compared as decoded JSON with fakesf's own answer), for each partition kind.
func TestResolveJSONIsSFsResolvedServicePartition(t *testing.T) {
	c := resolveTestCluster(t)
	for _, tc := range []struct{ service, id, key, query string }{
		{"fabric:/Shop/Orders", "Shop~Orders", "300", "&PartitionKeyType=2&PartitionKeyValue=300"},
		{"fabric:/Shop/Carts", "Shop~Carts", "eu", "&PartitionKeyType=3&PartitionKeyValue=eu"},
		{"fabric:/Shop/Web", "Shop~Web", "", ""},
	} {
		args := []string{"--cluster", c.URL(), tc.service, "-o", "json"}
		if tc.key != "" {
			args = append(args, "--key", tc.key)
		}
		code, out, errOut := resolveRun(t, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d, stderr %s", tc.service, code, errOut)
		}
		var got any
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%s: stdout is not JSON: %v\n%s", tc.service, err, out)
		}
		resp, err := http.Get(c.URL() + "/Services/" + tc.id + "/$/ResolvePartition?api-version=6.0" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var want any
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("fakesf answered %s", body)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: -o json printed\n%s\nSF answered\n%s", tc.service, out, body)
		}
	}
}

func TestResolveOutputFlagErrors(t *testing.T) {
	c := resolveTestCluster(t)
	for _, args := range [][]string{
		{"--cluster", c.URL(), "fabric:/Shop/Web", "-o", "yaml"},
		{"--cluster", c.URL(), "fabric:/Shop/Web", "-o", "json", "--listener", "Admin"},
	} {
		if code, out, errOut := resolveRun(t, args...); code != 2 || out != "" || !strings.Contains(errOut, "-o") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and a usage error naming -o", args, code, out, errOut)
		}
	}
	// Resolution errors go to stderr with SF's code, in JSON mode too; stdout stays empty.
	code, out, errOut := resolveRun(t, "--cluster", c.URL(), "fabric:/Shop/Nope", "-o", "json")
	if code != 1 || out != "" || !strings.Contains(errOut, "FABRIC_E_SERVICE_DOES_NOT_EXIST") {
		t.Errorf("unknown service: exit %d, stdout %q, stderr %q; want exit 1 and the SF code on stderr", code, out, errOut)
	}
}
