package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/fakesftest"
	"github.com/sfgate/sfgate/internal/testcert"
)

func resolveRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runResolve(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

var resolveEndpointLine = regexp.MustCompile(`(?m)^endpoint:\s+(\S+) \((\w+), listener "([^"]*)"\)$`)

func TestResolvePrintsPartitionVersionAndPrimary(t *testing.T) {
	c := fakesftest.Start(t)
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
	if rr := fakesftest.AskReplica(t, m[1]); rr.PartitionID != p.ID || rr.Role != "primary" || m[2] != "StatefulPrimary" {
		t.Errorf("endpoint %s is %s of %s (printed %s), want the primary of %s", m[1], rr.Role, rr.PartitionID, m[2], p.ID)
	}
}

func TestResolveFlagsAfterServiceVerboseAndListener(t *testing.T) {
	c := fakesftest.Start(t)
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
	if rr := fakesftest.AskReplica(t, m[1]); rr.Listener != "Admin" || rr.Service != "fabric:/Shop/Web" {
		t.Errorf("endpoint answered as %+v", rr)
	}
}

func TestResolveFailures(t *testing.T) {
	c := fakesftest.Start(t)
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
	c := fakesftest.Start(t)
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

// A management endpoint that never answers: --call-timeout leaves it for the next one; alone, the command
// fails at --timeout (not at the test's deadline) with a timeout naming it. A call timeout above the whole
// timeout is a usage error.
func TestResolveNamingBounds(t *testing.T) {
	c := fakesftest.Start(t)
	silent := fakesftest.StartSilent(t)
	code, out, errOut := resolveRun(t, "--cluster", silent.URL()+","+c.URL(), "--call-timeout", "1s", "--timeout", "1h", "fabric:/Catalog/Products")
	if code != 0 || !resolveEndpointLine.MatchString(out) || silent.Accepted() != 1 {
		t.Fatalf("silent endpoint first: exit %d, %d attempts on it, stdout %s, stderr %s", code, silent.Accepted(), out, errOut)
	}
	code, _, errOut = resolveRun(t, "--cluster", silent.URL(), "--call-timeout", "100ms", "--timeout", "300ms", "fabric:/Catalog/Products")
	if code != 1 || !strings.Contains(errOut, "resolveTimeout 300ms from management endpoint(s) "+silent.URL()) {
		t.Errorf("silent endpoint alone: exit %d, stderr %q; want exit 1 with a timeout naming it", code, errOut)
	}
	code, _, errOut = resolveRun(t, "--cluster", c.URL(), "--call-timeout", "10s", "--timeout", "5s", "fabric:/Catalog/Products")
	if code != 2 || !strings.Contains(errOut, "--call-timeout 10s is longer than --timeout 5s") {
		t.Errorf("call timeout above the timeout: exit %d, stderr %q; want exit 2", code, errOut)
	}
}

func TestResolveWithClientCertificateFlags(t *testing.T) {
	server := testcert.SelfSigned(t, "mycluster.example")
	client := testcert.SelfSigned(t, "sfgate-client")
	c := fakesftest.Start(t, fakesf.WithTLS(server.TLS), fakesf.WithClientCertThumbprints(client.Thumbprint()))
	certFile, keyFile := client.WritePEM(t)
	code, out, errOut := resolveRun(t, "--cluster", c.URL(), "--cert", certFile, "--key-file", keyFile,
		"--server-thumbprint", server.Thumbprint(), "fabric:/Shop/Carts", "--key", "eu")
	if code != 0 || !strings.Contains(out, `(Named "eu")`) {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	code, _, errOut = resolveRun(t, "--cluster", c.URL(), "--server-thumbprint", server.Thumbprint(), "fabric:/Shop/Carts", "--key", "eu")
	if code != 1 || !strings.Contains(errOut, "403") {
		t.Errorf("without a client certificate: exit %d, stderr %s; want 1 and the 403", code, errOut)
	}
	code, _, errOut = resolveRun(t, "--cluster", c.URL(), "--cert", certFile, "--key-file", keyFile,
		"--server-x509-name", "other.example", "--server-issuer-thumbprint", server.Thumbprint(), "fabric:/Shop/Carts", "--key", "eu")
	if code != 1 || !strings.Contains(errOut, "rejected") {
		t.Errorf("wrong server name: exit %d, stderr %s; want 1 and a certificate rejection", code, errOut)
	}
}

// TestResolveJSONIsSFsResolvedServicePartition: -o json prints exactly what SF's ResolvePartition answers
// (compared as decoded JSON with fakesf's own answer), for each partition kind.
func TestResolveJSONIsSFsResolvedServicePartition(t *testing.T) {
	c := fakesftest.Start(t)
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
	c := fakesftest.Start(t)
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

// Against an endpoint that accepts connections and never answers, resolve says which endpoint it asks,
// gives up when --timeout runs out, and names the endpoint and the flag.
func TestResolveTimeoutNamesEndpointAndFlag(t *testing.T) {
	silent, err := fakesf.StartSilentEndpoint("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	code, out, errOut := resolveRun(t, "--cluster", silent.URL(), "--timeout", "300ms", "fabric:/Shop/Orders", "--key", "1")
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1", code, out, errOut)
	}
	if !strings.Contains(errOut, "asking "+silent.URL()+" for fabric:/Shop/Orders (--timeout 300ms, --call-timeout 300ms per attempt)") {
		t.Errorf("stderr does not say which endpoint it asks:\n%s", errOut)
	}
	if !strings.Contains(errOut, "no answer from "+silent.URL()+" within --timeout 300ms") {
		t.Errorf("stderr does not name the endpoint and the flag:\n%s", errOut)
	}
	if code, _, errOut := resolveRun(t, "--cluster", silent.URL(), "--timeout", "0s", "fabric:/Shop/Orders"); code != 2 || !strings.Contains(errOut, "--timeout") {
		t.Errorf("--timeout 0s: exit %d, stderr %q; want a usage error", code, errOut)
	}
}
