package gateway

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/fakesftest"
)

// streamConfig buffers at most 64 KiB of a request body; larger ones stream (up to 64 MiB).
const streamConfig = `
limits:
  bufferBodyBytes: 65536
  maxBodyBytes: 67108864
reverseProxy:
  cluster: {managementEndpoints: [CLUSTER_URL]}
`

// sendBody sends a request whose body is body, with Content-Length or chunked, and returns the answer.
func sendBody(t *testing.T, addr, method, target string, body []byte, chunked bool) rawResponse {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	errc := make(chan error, 1)
	go func() {
		var head string
		if chunked {
			head = fmt.Sprintf("%s %s HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", method, target)
		} else {
			head = fmt.Sprintf("%s %s HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", method, target, len(body))
		}
		if _, err := io.WriteString(conn, head); err != nil {
			errc <- err
			return
		}
		for rest := body; len(rest) > 0; {
			n := min(len(rest), 100<<10)
			var err error
			if chunked {
				_, err = fmt.Fprintf(conn, "%x\r\n%s\r\n", n, rest[:n])
			} else {
				_, err = conn.Write(rest[:n])
			}
			if err != nil {
				errc <- err
				return
			}
			rest = rest[n:]
		}
		if chunked {
			io.WriteString(conn, "0\r\n\r\n")
		}
		errc <- nil
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	<-errc // the writer may fail once the gateway answered early; the answer is what counts
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: data}
}

// TestStreamedRequestBody: bodies larger than limits.bufferBodyBytes reach the replica whole, with
// Content-Length or chunked; a dial failure before the first byte left is still re-resolved and sent; once
// the stream started, a dropped connection is not answered by sending the request again.
func TestStreamedRequestBody(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, streamConfig, c)
	target := "/Shop/Orders/upload?PartitionKind=Int64Range&PartitionKey=42"
	body := bytes.Repeat([]byte("0123456789abcdef"), 8<<20/16) // 8 MiB
	sum := sha256.Sum256(body)
	for _, chunked := range []bool{false, true} {
		rr := replicaAnswer(t, sendBody(t, g.addr, "PUT", target, body, chunked))
		if rr.BodyLength != int64(len(body)) || rr.BodySHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("chunked %v: the replica read %d bytes (sha %s), %d sent", chunked, rr.BodyLength, rr.BodySHA256, len(body))
		}
	}

	_, prim := primaryOf42(t, c)
	for _, tc := range []struct {
		name      string
		size      int
		dropAfter int64 // body bytes the replica reads before it drops the connection
		status    int
		hits      int64
	}{
		{"buffered body is resent", 1 << 10, 0, 200, 2},
		// The replica has read more than bufferBodyBytes (64 KiB) when it drops: part of the stream had left.
		{"streamed body is not resent", 1 << 20, 128 << 10, 502, 1},
	} {
		c.ResetCounters()
		if err := c.SetReplicaFault(prim.ID, fakesf.ReplicaFault{Drop: true, DropAfter: tc.dropAfter, Count: 1}); err != nil {
			t.Fatal(err)
		}
		r := sendBody(t, g.addr, "PUT", target, bytes.Repeat([]byte("x"), tc.size), false)
		if r.status != tc.status || c.ReplicaHits(prim.ID) != tc.hits {
			t.Errorf("%s: %d after %d replica hits, want %d after %d: %s", tc.name, r.status, c.ReplicaHits(prim.ID), tc.status, tc.hits, r.body)
		}
		if tc.status == 502 && !strings.Contains(string(r.body), "bufferBodyBytes") {
			t.Errorf("%s: the answer does not say why: %s", tc.name, r.body)
		}
		c.SetReplicaFault(prim.ID, fakesf.ReplicaFault{})
	}

	// The primary's node stops: the dial fails before any byte of the body left, so the request is re-resolved
	// and the whole body reaches the new primary.
	before := replicaAnswer(t, do(t, g.addr, "GET", target, nil, ""))
	if err := c.StopNode(before.Node); err != nil {
		t.Fatal(err)
	}
	rr := replicaAnswer(t, sendBody(t, g.addr, "POST", target, body, false))
	if rr.Node == before.Node || rr.BodyLength != int64(len(body)) || rr.BodySHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("after the node stopped: %s on %s read %d bytes (sha %s)", rr.Role, rr.Node, rr.BodyLength, rr.BodySHA256)
	}
}
