package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/internal/fakesftest"
)

// startUpgradeEcho starts a backend that accepts "Upgrade: echo" with 101 Switching Protocols and then echoes
// every byte; heads receives each request head it read.
func startUpgradeEcho(t *testing.T) (addr string, heads chan *http.Request) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	heads = make(chan *http.Request, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				heads <- req
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\nX-Echo: 1\r\n\r\n")
				io.Copy(c, br)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), heads
}

// openTunnels reads sfgate_open_tunnels from /metrics.
func openTunnels(t *testing.T, admin string) string {
	t.Helper()
	r, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "sfgate_open_tunnels "); ok {
			return v
		}
	}
	t.Fatal("no sfgate_open_tunnels in /metrics")
	return ""
}

// TestUpgradeTunnel: an upgrade request reaches the backend with its Connection and Upgrade headers, the
// client gets the 101, bytes go both ways through the gateway, and /metrics counts the open tunnel.
func TestUpgradeTunnel(t *testing.T) {
	echo, heads := startUpgradeEcho(t)
	g := startGateway(t, fmt.Sprintf("apis:\n  - {name: ws, path: ws, serviceUrl: 'http://%s/base/'}\n", echo), nil)
	conn, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /ws/chat?room=1 HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive, Upgrade\r\nUpgrade: echo\r\nSec-Test: 7\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "echo" ||
		!strings.EqualFold(resp.Header.Get("Connection"), "upgrade") || resp.Header.Get("X-Echo") != "1" {
		t.Fatalf("answer %d %v, want 101 with Connection: Upgrade, Upgrade: echo and the backend's headers", resp.StatusCode, resp.Header)
	}
	head := <-heads
	if head.URL.String() != "/base/chat?room=1" || head.Header.Get("Upgrade") != "echo" || head.Header.Get("Connection") != "Upgrade" ||
		head.Header.Get("Sec-Test") != "7" {
		t.Errorf("the backend read %s %v", head.URL, head.Header)
	}
	for _, msg := range []string{"hello", strings.Repeat("x", 100<<10)} {
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			t.Fatalf("echo of %d bytes: %v (%d bytes matched)", len(msg), err, commonPrefix(got, msg))
		}
	}
	if n := openTunnels(t, g.admin); n != "1" {
		t.Errorf("sfgate_open_tunnels %s while one is open", n)
	}
	conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for openTunnels(t, g.admin) != "0" {
		if time.Now().After(deadline) {
			t.Fatal("the tunnel is still counted 5 s after the client closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func commonPrefix(b []byte, s string) int {
	n := 0
	for n < len(b) && n < len(s) && b[n] == s[n] {
		n++
	}
	return n
}

// TestUpgradeReresolvesAFailedDial: the cached primary's node is down, so dialling it fails; the upgrade request
// is re-resolved and sent to the new primary before anything is answered. (fakesf's replicas do not switch
// protocols, so the new primary answers 200 naming itself.)
func TestUpgradeReresolvesAFailedDial(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, rpConfig, c)
	target := "/Shop/Orders/ws?PartitionKind=Int64Range&PartitionKey=42"
	up := map[string]string{"Connection": "Upgrade", "Upgrade": "websocket"}
	before := replicaAnswer(t, do(t, g.addr, "GET", target, up, ""))
	if err := c.StopNode(before.Node); err != nil {
		t.Fatal(err)
	}
	after := replicaAnswer(t, do(t, g.addr, "GET", target, up, ""))
	if after.Node == before.Node || after.Role != "primary" {
		t.Errorf("after the primary's node stopped: reached %s on %s (before: %s)", after.Role, after.Node, before.Node)
	}
	if _, complaints := c.PartitionResolveCalls(before.PartitionID); complaints == 0 {
		t.Error("no re-resolution (PreviousRspVersion) after the dial to the stopped node")
	}
	if n := openTunnels(t, g.admin); n != "0" {
		t.Errorf("sfgate_open_tunnels %s after answers without 101", n)
	}
}
