package main

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
)

// keepAliveServer answers one request per connection with body, then keeps the connection (without reading
// more) and hands it to the test on conns.
func keepAliveServer(t *testing.T, header string) (string, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 64)
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
				c.Close()
				continue
			}
			c.Write([]byte("HTTP/1.1 200 OK\r\n" + header + "Content-Length: 2\r\n\r\nok"))
			conns <- c
		}
	}()
	return ln.Addr().String(), conns
}

// TestIdleConnsHeldAndCounted opens idle keep-alive connections, closes some from the server side and checks
// that stillOpen counts exactly the others.
func TestIdleConnsHeldAndCounted(t *testing.T) {
	addr, served := keepAliveServer(t, "")
	cs, err := openIdleConns(t.Context(), addr, peerTarget, 20)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.close()
	if got := cs.stillOpen(); got != 20 {
		t.Fatalf("stillOpen = %d right after opening, want 20", got)
	}
	for range 5 {
		(<-served).Close()
	}
	if got := cs.stillOpen(); got != 15 {
		t.Fatalf("stillOpen = %d after the server closed 5, want 15", got)
	}
}

// TestIdleConnsRefuseClosingAnswer: a proxy that answers with Connection: close does not hold the connection,
// so the measurement must fail and say why instead of counting it.
func TestIdleConnsRefuseClosingAnswer(t *testing.T) {
	addr, _ := keepAliveServer(t, "Connection: close\r\n")
	_, err := openIdleConns(t.Context(), addr, peerTarget, 3)
	if err == nil || !strings.Contains(err.Error(), "kept-alive") {
		t.Fatalf("err = %v, want a refusal of the closing answer", err)
	}
}

func TestRaiseFileLimit(t *testing.T) {
	limit, err := raiseFileLimit()
	if err != nil {
		t.Skipf("skipped, because this system does not let a process set its own file limit: %v", err)
	}
	if got := fileLimit(); got != min(limit, 1<<20) {
		t.Fatalf("fileLimit() = %d after raising the soft limit to the hard limit %d", got, limit)
	}
}
