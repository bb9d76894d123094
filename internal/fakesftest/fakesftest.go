// Package fakesftest starts fakesf clusters for the tests of the packages that talk to Service Fabric
// (resolver, gateway, cmd/sfgate): a real cluster with fakesf's default topology on a loopback port, closed
// when the test ends, a way to ask one of its replicas who it is, and a management endpoint that never answers.
package fakesftest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/sfgate/sfgate/fakesf"
)

// Start starts fakesf's default topology (fakesf.DefaultTopology) on 127.0.0.1 with opts and closes it
// when the test ends.
func Start(tb testing.TB, opts ...fakesf.Option) *fakesf.Cluster {
	tb.Helper()
	return StartTopology(tb, fakesf.DefaultTopology(), opts...)
}

// StartTopology starts topology t on 127.0.0.1 with opts and closes it when the test ends.
func StartTopology(tb testing.TB, t fakesf.Topology, opts ...fakesf.Option) *fakesf.Cluster {
	tb.Helper()
	c, err := fakesf.Start(context.Background(), t, opts...)
	if err != nil {
		tb.Fatalf("fakesf: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// AskReplica sends GET url to a replica of a fake cluster and returns its echo of its identity; any other
// answer fails the test.
func AskReplica(tb testing.TB, url string) fakesf.ReplicaResponse {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	var rr fakesf.ReplicaResponse
	if err := json.Unmarshal(body, &rr); err != nil {
		tb.Fatalf("GET %s: %v in %s", url, err, body)
	}
	return rr
}

// StartSilent starts a management endpoint that accepts TCP connections and never answers (a hung HTTP
// gateway node, fakesf.SilentEndpoint) and closes it when the test ends.
func StartSilent(tb testing.TB) *fakesf.SilentEndpoint {
	tb.Helper()
	s, err := fakesf.StartSilentEndpoint("127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}
