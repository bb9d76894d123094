package fakesf

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkResolvePartition measures one ResolvePartition round trip over loopback HTTP (keep-alive), the cost
// a resolver pays per naming call against fakesf.
func BenchmarkResolvePartition(b *testing.B) {
	c, err := Start(b.Context(), DefaultTopology())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	u := c.URL() + "/Services/Shop~Orders/$/ResolvePartition?api-version=6.0&PartitionKeyType=2&PartitionKeyValue=300"
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkReplicaRequest measures one request to a replica listener (keep-alive).
func BenchmarkReplicaRequest(b *testing.B) {
	c, err := Start(b.Context(), DefaultTopology())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	parts, _ := c.Partitions("fabric:/Shop/Web")
	u := parts[0].Replicas[0].Endpoints[""] + "/x"
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
