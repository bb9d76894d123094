package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/fakesftest"
	"golang.org/x/net/websocket"
)

// startUpgradeEcho starts a backend that accepts "Upgrade: echo" with 101 Switching Protocols and then echoes
// every byte; heads receives each request head it read.
func startUpgradeEcho(t *testing.T) (addr string, heads chan *http.Request) {
	t.Helper()
	heads = make(chan *http.Request, 4)
	addr = startUpgradeBackend(t, func(c net.Conn, br *bufio.Reader, req *http.Request) {
		heads <- req
		io.Copy(c, br)
	})
	return addr, heads
}

// startUpgradeBackend starts a backend that answers each request with 101 Switching Protocols (Upgrade: echo,
// X-Echo: 1) and then hands the connection (br holds what the client sent past the head) to tunnel, closing it
// when tunnel returns.
func startUpgradeBackend(t *testing.T, tunnel func(c net.Conn, br *bufio.Reader, req *http.Request)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\nX-Echo: 1\r\n\r\n")
				tunnel(c, br, req)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
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
	conn, br, resp := openUpgrade(t, g.addr, "/ws/chat?room=1", "Sec-Test: 7\r\n")
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
		echoOnce(t, conn, br, msg)
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

// openUpgrade sends an "Upgrade: echo" request for target (with the extra header lines given) and reads the
// answer's head; the connection is closed when the test ends.
func openUpgrade(t *testing.T, addr, target, extra string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive, Upgrade\r\nUpgrade: echo\r\n%s\r\n", target, extra)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn, br, resp
}

// echoOnce writes msg into an open tunnel and reads it back.
func echoOnce(t *testing.T, conn net.Conn, br *bufio.Reader, msg string) {
	t.Helper()
	if _, err := io.WriteString(conn, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
		t.Fatalf("echo of %d bytes: %v (%d bytes matched)", len(msg), err, commonPrefix(got, msg))
	}
}

// openEchoTunnel starts an upgrade echo backend and a gateway (with the configuration lines given) routing /ws/
// to it, and opens a tunnel through it.
func openEchoTunnel(t *testing.T, config string) (*testGateway, net.Conn, *bufio.Reader) {
	t.Helper()
	echo, _ := startUpgradeEcho(t)
	return openTunnelTo(t, echo, config)
}

// openTunnelTo starts a gateway (with the configuration lines given) routing /ws/ to the upgrade backend at
// addr, and opens a tunnel through it.
func openTunnelTo(t *testing.T, addr, config string) (*testGateway, net.Conn, *bufio.Reader) {
	t.Helper()
	g := startGateway(t, fmt.Sprintf("%sapis:\n  - {name: ws, path: ws, serviceUrl: 'http://%s/'}\n", config, addr), nil)
	conn, br, resp := openUpgrade(t, g.addr, "/ws/", "")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("answer %d, want 101", resp.StatusCode)
	}
	return g, conn, br
}

// tunnelIdle is limits.idleTimeout in the idle tests: small, so that they take a few of it, and ten times the
// trickle's interval, so that a busy machine does not stretch a gap between two bytes to a whole idle period.
const tunnelIdle, trickleEvery = 400 * time.Millisecond, 40 * time.Millisecond

// TestTunnelIdleBothWaysIsClosed: a tunnel that carried bytes and then none either way is closed after
// limits.idleTimeout; the client sees the end of its connection (long before its own 10 s deadline), and so
// does the backend.
func TestTunnelIdleBothWaysIsClosed(t *testing.T) {
	ended := make(chan error, 1)
	addr := startUpgradeBackend(t, func(c net.Conn, br *bufio.Reader, _ *http.Request) {
		_, err := io.Copy(c, br) // echoes until the gateway closes its side
		ended <- err
	})
	_, conn, br := openTunnelTo(t, addr, fmt.Sprintf("limits: {idleTimeout: %s}\n", tunnelIdle))
	echoOnce(t, conn, br, "hello")
	if _, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the idle tunnel still stands (read: %v), with idleTimeout %s", err, tunnelIdle)
	}
	if err := <-ended; err != nil {
		t.Errorf("the backend's side ended with %v, want the gateway's close (EOF)", err)
	}
}

// TestTunnelOneWayTrafficKeepsItOpen: a tunnel that carries bytes in one direction only stays open past
// limits.idleTimeout for as long as they flow, and is closed once they stop. Server push: the backend sends a
// byte every trickleEvery for 4 idleTimeouts (by its clock), then an end mark, and the client never sends; the
// client must read every byte and the mark, then the close. Client push: the client sends a byte every
// trickleEvery for 4 idleTimeouts, the backend never sends; once the gateway closes the tunnel, the backend
// must have read every byte.
func TestTunnelOneWayTrafficKeepsItOpen(t *testing.T) {
	config := fmt.Sprintf("limits: {idleTimeout: %s}\n", tunnelIdle)
	t.Run("server push", func(t *testing.T) {
		sent, clientSent := make(chan int, 1), make(chan int, 1)
		addr := startUpgradeBackend(t, func(c net.Conn, br *bufio.Reader, _ *http.Request) {
			n, _ := trickle(c, 4*tunnelIdle) // a failure shows as the client's early end
			c.Write([]byte{'e'})
			sent <- n
			got, _ := io.Copy(io.Discard, br) // until the gateway closes its side
			clientSent <- int(got)
		})
		_, _, br := openTunnelTo(t, addr, config)
		got := 0
		for {
			b, err := br.ReadByte()
			if err != nil {
				t.Fatalf("the tunnel ended after %d bytes of the server's trickle, before its end mark: %v", got, err)
			}
			if b == 'e' {
				break
			}
			got++
		}
		if n := <-sent; got != n {
			t.Errorf("the client read %d bytes of the trickle, the server sent %d", got, n)
		}
		if _, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the tunnel still stands after the trickle stopped (read: %v), with idleTimeout %s", err, tunnelIdle)
		}
		if n := <-clientSent; n != 0 {
			t.Errorf("the backend read %d bytes from a client that sent none", n)
		}
	})
	t.Run("client push", func(t *testing.T) {
		read := make(chan int64, 1)
		addr := startUpgradeBackend(t, func(c net.Conn, br *bufio.Reader, _ *http.Request) {
			n, _ := io.Copy(io.Discard, br) // until the gateway closes its side
			read <- n
		})
		_, conn, br := openTunnelTo(t, addr, config)
		n, err := trickle(conn, 4*tunnelIdle)
		if err != nil {
			t.Fatalf("the tunnel was closed after %d bytes of the client's trickle: %v", n, err)
		}
		if _, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the tunnel still stands after the trickle stopped (read: %v), with idleTimeout %s", err, tunnelIdle)
		}
		if got := <-read; got != int64(n) { // the gateway closed the backend's side with the client's
			t.Errorf("the backend read %d bytes of the client's trickle of %d before the tunnel was closed", got, n)
		}
	})
}

// trickle writes a byte to c every trickleEvery until d has passed or a write fails, and returns how many it
// wrote and the failure.
func trickle(c net.Conn, d time.Duration) (int, error) {
	tick := time.NewTicker(trickleEvery)
	defer tick.Stop()
	n := 0
	for end := time.Now().Add(d); time.Now().Before(end); <-tick.C {
		if _, err := c.Write([]byte{'t'}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// TestTunnelMaxLifetime: limits.tunnelMaxLifetime closes a tunnel however busy it is, long before the idle limit
// (90 s) could; the client sees the end of its connection.
func TestTunnelMaxLifetime(t *testing.T) {
	_, conn, br := openEchoTunnel(t, "limits: {tunnelMaxLifetime: 300ms}\n")
	for {
		if _, err := io.WriteString(conn, "ping"); err != nil {
			break // closed by the gateway while writing
		}
		got := make([]byte, 4)
		if _, err := io.ReadFull(br, got); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("the tunnel was still open after 10 s, with tunnelMaxLifetime 300ms")
			}
			break
		}
	}
}

// TestShutdownClosesTunnels: a hijacked connection is no longer the HTTP server's, so Shutdown closes open
// tunnels itself (it returns without waiting for them) and /metrics counts none after.
func TestShutdownClosesTunnels(t *testing.T) {
	g, conn, br := openEchoTunnel(t, "")
	echoOnce(t, conn, br, "before shutdown")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a tunnel open: %v", err)
	}
	if _, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after Shutdown the tunnel still stands (read: %v)", err)
	}
	if n := g.metrics.tunnels.Load(); n != 0 {
		// the hijack handler's count drops as it returns, just after the close; wait on nothing but its end
		deadline := time.Now().Add(5 * time.Second)
		for g.metrics.tunnels.Load() != 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n := g.metrics.tunnels.Load(); n != 0 {
			t.Errorf("%d tunnels counted open after Shutdown closed them", n)
		}
	}
}

func commonPrefix(b []byte, s string) int {
	n := 0
	for n < len(b) && n < len(s) && b[n] == s[n] {
		n++
	}
	return n
}

// TestWebSocketEchoThroughReresolution: a WebSocket through the gateway reaches a replica of fakesf (its first
// message names the replica) and echoes, through a policy route and through the reverse proxy. Then the primary
// moves: the next upgrade's dial to the old primary fails (its listener closed), so the request is re-resolved
// and upgraded on the new primary before anything is answered; the first tunnel stays open meanwhile.
func TestWebSocketEchoThroughReresolution(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, streamBothConfig, c)
	for i, tc := range streamTargets {
		key := "42"
		if i == 1 {
			key = "900"
		}
		p := partitionFor(t, c, "fabric:/Shop/Orders", key)
		before := webSocketEcho(t, g.addr, tc.target)
		if before.Role != "primary" || before.PartitionID != p.ID {
			t.Fatalf("%s: the WebSocket reached %s of partition %s", tc.mode, before.Role, before.PartitionID)
		}
		if err := c.MovePrimary(p.ID, ""); err != nil {
			t.Fatal(err)
		}
		after := webSocketEcho(t, g.addr, tc.target)
		if after.Node == before.Node || after.Role != "primary" {
			t.Errorf("%s: after the primary moved: reached %s on %s (before: %s)", tc.mode, after.Role, after.Node, before.Node)
		}
		if _, complaints := c.PartitionResolveCalls(p.ID); complaints == 0 {
			t.Errorf("%s: no re-resolution (PreviousRspVersion) after the dial to the old primary", tc.mode)
		}
	}
	if n := openTunnels(t, g.admin); n != "4" {
		t.Errorf("sfgate_open_tunnels %s with four WebSockets open", n)
	}
}

// webSocketEcho opens a WebSocket to target through the gateway at addr, reads the replica's first message (its
// ReplicaResponse) and checks that a text and a binary message come back unchanged. The connection stays open
// until the test ends.
func webSocketEcho(t *testing.T, addr, target string) fakesf.ReplicaResponse {
	t.Helper()
	cfg, err := websocket.NewConfig("ws://"+addr+target, "http://"+addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	ws, err := websocket.NewClient(cfg, conn)
	if err != nil {
		t.Fatalf("WebSocket handshake through the gateway: %v", err)
	}
	var first string
	if err := websocket.Message.Receive(ws, &first); err != nil {
		t.Fatalf("the replica's first message: %v", err)
	}
	var rr fakesf.ReplicaResponse
	if err := json.Unmarshal([]byte(first), &rr); err != nil {
		t.Fatalf("first message %q: %v", first, err)
	}
	for _, msg := range []any{"hello", bytes.Repeat([]byte{0, 1, 2, 255}, 40<<10)} {
		if err := websocket.Message.Send(ws, msg); err != nil {
			t.Fatal(err)
		}
		switch want := msg.(type) {
		case string:
			var got string
			if err := websocket.Message.Receive(ws, &got); err != nil || got != want {
				t.Fatalf("text echo %q, %v; want %q", got, err, want)
			}
		case []byte:
			var got []byte
			if err := websocket.Message.Receive(ws, &got); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("binary echo of %d bytes: %d bytes back, %v", len(want), len(got), err)
			}
		}
	}
	return rr
}
