package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/gateway/config"
)

// testGateway is a gateway serving on real loopback sockets.
type testGateway struct {
	*Gateway
	addr  string // host:port of the client listener
	admin string // host:port of the admin listener
}

// startGateway parses yamlText (with {{cluster}} replaced by the fake cluster URL when given) and serves it.
func startGateway(t *testing.T, yamlText string, cluster *fakesf.Cluster) *testGateway {
	t.Helper()
	return startGatewayWith(t, yamlText, cluster, Options{})
}

// startGatewayWith is startGateway with process options (a logger, say).
func startGatewayWith(t *testing.T, yamlText string, cluster *fakesf.Cluster, opts Options) *testGateway {
	t.Helper()
	if cluster != nil {
		yamlText = strings.ReplaceAll(yamlText, "CLUSTER_URL", cluster.URL())
	}
	cfg, err := config.Parse([]byte(yamlText), "test.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	g, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 2)
	go func() { g.Serve(ln); done <- struct{}{} }()
	go func() { g.ServeAdmin(aln); done <- struct{}{} }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		<-done
		<-done
	})
	return &testGateway{Gateway: g, addr: ln.Addr().String(), admin: aln.Addr().String()}
}

// rawResponse is a response read off the wire.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request with the exact request target given (no client-side normalisation) on a new
// connection, and reads the response.
func do(t *testing.T, addr, method, target string, header map[string]string, body string) rawResponse {
	t.Helper()
	r, err := tryDo(addr, method, target, header, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	return r
}

func tryDo(addr, method, target string, header map[string]string, body string) (rawResponse, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return rawResponse{}, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", method, target)
	if _, ok := header["Host"]; !ok {
		fmt.Fprintf(&b, "Host: %s\r\n", addr)
	}
	for k, v := range header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	if body != "" || method == "POST" || method == "PUT" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.WriteString(body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return rawResponse{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		return rawResponse{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return rawResponse{}, err
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// replicaAnswer decodes fakesf's replica echo.
func replicaAnswer(t *testing.T, r rawResponse) fakesf.ReplicaResponse {
	t.Helper()
	var rr fakesf.ReplicaResponse
	if r.status != 200 {
		t.Fatalf("status %d, body %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &rr); err != nil {
		t.Fatalf("replica answer: %v: %s", err, r.body)
	}
	return rr
}

// gatewayError decodes the gateway's JSON error body.
type gatewayError struct {
	Error struct {
		Status     int    `json:"status"`
		Code       string `json:"code"`
		Message    string `json:"message"`
		Attribute  string `json:"attribute"`
		Value      string `json:"value"`
		FabricCode string `json:"fabricCode"`
		RequestID  string `json:"requestId"`
	} `json:"error"`
}

func decodeError(t *testing.T, r rawResponse) gatewayError {
	t.Helper()
	var e gatewayError
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, r.body)
	}
	if e.Error.Status != r.status {
		t.Errorf("error body status %d, response status %d", e.Error.Status, r.status)
	}
	return e
}

// echoServer is a plain HTTP backend that answers with what it received.
type echoed struct {
	Method     string              `json:"method"`
	RequestURI string              `json:"requestUri"`
	Host       string              `json:"host"`
	Header     map[string][]string `json:"header"`
	Body       string              `json:"body"`
}

func startEcho(t *testing.T, extra func(w http.ResponseWriter)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if extra != nil {
			extra(w)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(echoed{Method: r.Method, RequestURI: r.RequestURI, Host: r.Host, Header: r.Header, Body: string(body)})
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func decodeEcho(t *testing.T, r rawResponse) echoed {
	t.Helper()
	var e echoed
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("echo: %v: %s", err, r.body)
	}
	return e
}

// validateYAML parses and validates a configuration text.
func validateYAML(t *testing.T, yamlText string) error {
	t.Helper()
	cfg, err := config.Parse([]byte(yamlText), "test.yaml")
	if err != nil {
		return err
	}
	return Validate(cfg)
}
