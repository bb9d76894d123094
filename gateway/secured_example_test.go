package gateway

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/fakesftest"
	"github.com/sfgate/sfgate/internal/testcert"
)

// securedExample is examples/secured-cluster.yaml pointed at a fake cluster: its management endpoint, the issuer
// thumbprint its serverX509Names entry pins, and the client-certificate variant the example's comment describes
// instead of Azure AD (whose tokens need Azure). Each replacement must match, so a change to the example that
// this test no longer follows fails here rather than testing something else.
func securedExample(t *testing.T, clusterURL, issuerThumbprint, certFile, keyFile string) string {
	t.Helper()
	data, err := os.ReadFile("../examples/secured-cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, r := range []struct{ old, new string }{
		{"managementEndpoints: [https://node0.cluster.example:19080, https://node1.cluster.example:19080]",
			"managementEndpoints: [" + clusterURL + "]"},
		{"issuerCertificateThumbprint: 0123456789ABCDEF0123456789ABCDEF01234567", "issuerCertificateThumbprint: " + issuerThumbprint},
		{"      azureActiveDirectory:\n        clusterApplication: 11111111-2222-3333-4444-555555555555\n        credential: managed\n",
			fmt.Sprintf("      clientCertificate: {certFile: %q, keyFile: %q}\n", certFile, keyFile)},
	} {
		if !strings.Contains(text, r.old) {
			t.Fatalf("examples/secured-cluster.yaml no longer holds %q; update this test", r.old)
		}
		text = strings.Replace(text, r.old, r.new, 1)
	}
	return text
}

// TestSecuredClusterExample runs the secured-cluster example end to end against fakesf serving HTTPS with a
// certificate for cluster.example issued by the pinned CA and accepting the gateway's client certificate by common
// name (an SF cluster's ClientCertificateCommonNames): both APIs reach the right replicas. A client certificate the
// cluster does not accept is refused with a clear error, and so is a cluster whose certificate comes from another
// issuer than the pinned one, or (with the cluster pinned by thumbprint) has another thumbprint.
func TestSecuredClusterExample(t *testing.T) {
	t.Parallel()
	clusterCA := testcert.CA(t, "Cluster CA")
	server := clusterCA.Issue(t, "cluster.example")
	clientCA := testcert.CA(t, "Client CA")
	certFile, keyFile := clientCA.Issue(t, "gateway.example").WritePEM(t)
	c := fakesftest.Start(t, fakesf.WithTLS(server.TLS), fakesf.WithClientCertCommonNames("gateway.example"))

	g := startGateway(t, securedExample(t, c.URL(), clusterCA.Thumbprint(), certFile, keyFile), nil)
	rr := replicaAnswer(t, do(t, g.addr, "GET", "/orders/orders/42", map[string]string{"X-Customer-Id": "42"}, ""))
	if rr.Service != "fabric:/Shop/Orders" || rr.Role != "primary" {
		t.Errorf("orders served by %+v", rr)
	}
	parts, err := c.Partitions("fabric:/Shop/Orders")
	if err != nil {
		t.Fatal(err)
	}
	if parts[0].LowKey > 42 || parts[0].HighKey < 42 || rr.PartitionID != parts[0].ID {
		t.Errorf("key 42 went to partition %s, want %s [%d..%d]", rr.PartitionID, parts[0].ID, parts[0].LowKey, parts[0].HighKey)
	}
	rr = replicaAnswer(t, do(t, g.addr, "GET", "/carts/eu/basket", nil, ""))
	if rr.Service != "fabric:/Shop/Carts" || rr.Role != "secondary" {
		t.Errorf("carts (sf-replica-type secondary) served by %+v", rr)
	}

	// A client certificate the cluster does not accept: SF answers 403, the gateway says so.
	strangerCert, strangerKey := clientCA.Issue(t, "stranger.example").WritePEM(t)
	stranger := startGateway(t, securedExample(t, c.URL(), clusterCA.Thumbprint(), strangerCert, strangerKey), nil)
	r := do(t, stranger.addr, "GET", "/orders/orders/42", map[string]string{"X-Customer-Id": "42"}, "")
	if e := decodeError(t, r); r.status != 502 || e.Error.Code != CodeClusterUnauthorized || e.Error.Message == "" {
		t.Errorf("refused client certificate: %d %s", r.status, r.body)
	}

	// A cluster certificate from another issuer than the pinned one: the gateway does not talk to it.
	impostor := testcert.CA(t, "Impostor CA").Issue(t, "cluster.example")
	fake := fakesftest.Start(t, fakesf.WithTLS(impostor.TLS), fakesf.WithClientCertCommonNames("gateway.example"))
	refused(t, securedExample(t, fake.URL(), clusterCA.Thumbprint(), certFile, keyFile), fake.URL(), "not one of the pinned issuer thumbprints")

	// The same example pinning the cluster by thumbprint (serverCertificateThumbprints) instead of by name: the
	// right thumbprint is accepted, another one refused.
	byThumbprint := func(thumbprint string) string {
		text := securedExample(t, c.URL(), clusterCA.Thumbprint(), certFile, keyFile)
		old := "      serverX509Names:\n        - {name: cluster.example, issuerCertificateThumbprint: " + clusterCA.Thumbprint() + "}\n"
		if !strings.Contains(text, old) {
			t.Fatalf("examples/secured-cluster.yaml no longer holds %q; update this test", old)
		}
		return strings.Replace(text, old, "      serverCertificateThumbprints: ["+thumbprint+"]\n", 1)
	}
	replicaAnswer(t, do(t, startGateway(t, byThumbprint(server.Thumbprint()), nil).addr, "GET", "/orders/orders/42", map[string]string{"X-Customer-Id": "42"}, ""))
	refused(t, byThumbprint(impostor.Thumbprint()), c.URL(), "thumbprint not in the configured list")
}

// refused starts a gateway on yamlText and checks that it refuses the cluster's certificate: the client gets 502
// ClusterCertificateRejected with a request ID and no management URL, the log says why (reason).
func refused(t *testing.T, yamlText, clusterURL, reason string) {
	t.Helper()
	logs := &lockedBuffer{}
	g := startGatewayWith(t, yamlText, nil, Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	r := do(t, g.addr, "GET", "/orders/orders/42", map[string]string{"X-Customer-Id": "42"}, "")
	e := decodeError(t, r)
	if r.status != 502 || e.Error.Code != CodeClusterCertificate || e.Error.RequestID == "" || strings.Contains(string(r.body), clusterURL) {
		t.Errorf("refused cluster certificate: %d %s", r.status, r.body)
	}
	if !strings.Contains(logs.String(), reason) || !strings.Contains(logs.String(), e.Error.RequestID) {
		t.Errorf("the log does not say %q for request %s:\n%s", reason, e.Error.RequestID, logs.String())
	}
}
