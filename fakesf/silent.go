package fakesf

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// SilentEndpoint is a management endpoint that accepts TCP connections, reads what it is sent and never
// answers: what a hung HTTP gateway node looks like to a client. List it among a client's management
// endpoints to check that the client gives it up after its call timeout and fails over.
type SilentEndpoint struct {
	ln       net.Listener
	accepted atomic.Int64
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// StartSilentEndpoint listens on addr (e.g. "127.0.0.1:0") until Close.
func StartSilentEndpoint(addr string) (*SilentEndpoint, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fakesf: silent endpoint: %w", err)
	}
	s := &SilentEndpoint{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *SilentEndpoint) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.accepted.Add(1)
		s.conns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			io.Copy(io.Discard, conn) // until the client gives up (or Close)
			s.mu.Lock()
			delete(s.conns, conn)
			s.mu.Unlock()
			conn.Close()
		}()
	}
}

// URL is the endpoint's base URL, e.g. "http://127.0.0.1:41234".
func (s *SilentEndpoint) URL() string { return "http://" + s.ln.Addr().String() }

// Accepted is the number of connections accepted so far: one per attempt of a client that does not reuse
// connections it gave up on.
func (s *SilentEndpoint) Accepted() int64 { return s.accepted.Load() }

// Close stops listening, closes every connection and waits for its goroutines.
func (s *SilentEndpoint) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}
