package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// raiseFileLimit sets this process's soft RLIMIT_NOFILE to its hard limit and returns that limit. Because it
// calls setrlimit itself, Go no longer restores the original soft limit for the children it starts, so nginx,
// haproxy, Caddy and sfgate inherit the raised one.
func raiseFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("getrlimit(RLIMIT_NOFILE): %w", err)
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("setrlimit(RLIMIT_NOFILE, %d): %w", l.Max, err)
	}
	return l.Max, nil
}

// fileLimit is the current soft RLIMIT_NOFILE (1024 if it cannot be read), written into the nginx and haproxy
// configurations.
func fileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur == 0 {
		return 1024
	}
	return min(l.Cur, 1<<20)
}

// idleConns are client connections to a proxy that each carried one request and now sit idle in keep-alive.
type idleConns []net.Conn

// openIdleConns opens n connections to addr and sends GET target on each (8 at a time), reading the whole
// answer, so that the proxy holds each as an idle keep-alive client connection. On error it closes what it
// opened and says how many it got.
func openIdleConns(ctx context.Context, addr, target string, n int) (idleConns, error) {
	conns := make(idleConns, n)
	var next, opened int
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	d := net.Dialer{Timeout: 5 * time.Second}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := i >= n || firstErr != nil || ctx.Err() != nil
				mu.Unlock()
				if stop {
					return
				}
				c, err := d.DialContext(ctx, "tcp", addr)
				if err == nil {
					err = oneRequest(c, addr, target)
				}
				mu.Lock()
				if err != nil {
					if c != nil {
						c.Close()
					}
					if firstErr == nil {
						firstErr = fmt.Errorf("connection %d of %d: %w", i+1, n, err)
					}
				} else {
					conns[i] = c
					opened++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		conns.close()
		return nil, fmt.Errorf("%d of %d idle connections opened: %w", opened, n, firstErr)
	}
	return conns, nil
}

// oneRequest sends GET target on c and reads the answer, which must be a 200 that leaves the connection open.
func oneRequest(c net.Conn, host, target string) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, host); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || resp.Close {
		return fmt.Errorf("answer %s (connection close: %v), want 200 on a kept-alive connection", resp.Status, resp.Close)
	}
	return nil
}

// stillOpen counts the connections the server has not closed: a non-blocking peek finds nothing to read
// (EAGAIN) on an open idle connection, and end of file or an error on one the server closed.
func (cs idleConns) stillOpen() int {
	n := 0
	one := make([]byte, 1)
	for _, c := range cs {
		tc, ok := c.(*net.TCPConn)
		if !ok {
			continue
		}
		raw, err := tc.SyscallConn()
		if err != nil {
			continue
		}
		open := false
		raw.Read(func(fd uintptr) bool {
			_, _, err := syscall.Recvfrom(int(fd), one, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			open = err == syscall.EAGAIN
			return true // never wait
		})
		if open {
			n++
		}
	}
	return n
}

func (cs idleConns) close() {
	for _, c := range cs {
		if c != nil {
			c.Close()
		}
	}
}
