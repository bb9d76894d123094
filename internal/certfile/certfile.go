// Package certfile reads TLS material from PEM files and keeps it current when the files change on disk. The
// gateway's client listener (its certificates and client CA bundle), the resolver's client certificate
// toward the cluster, CA bundles given in the configuration and `sfgate resolve --ca-file` all read their
// files here, so rotation behaves the same everywhere: the files are re-read when their contents change
// (checked every PollInterval) or when asked (SIGHUP), a new value is used by new TLS handshakes only, and
// files that do not load leave the last good value in use.
package certfile

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// PollInterval is how often a Watched value's files are checked for changes by default.
const PollInterval = 5 * time.Second

// LoadCAs reads a PEM bundle of CA certificates.
func LoadCAs(path string) (*x509.CertPool, error) {
	return ReadCAs(os.ReadFile, path)
}

// ReadCAs is LoadCAs reading through read (a Reader of a Watched value's build function).
func ReadCAs(read Reader, path string) (*x509.CertPool, error) {
	data, err := read(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// ReadKeyPair reads a certificate (chain) and its private key from PEM files; keyFile may be the same file
// as certFile. The leaf is parsed (tls.Certificate.Leaf). The error names both files.
func ReadKeyPair(read Reader, certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := read(certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := read(keyFile)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("cannot load the key pair %s, %s: %w", certFile, keyFile, err)
	}
	return &cert, nil
}

// Reader reads a file for a build function; a Watched value remembers what it read.
type Reader func(path string) ([]byte, error)

// fileState is what a check compares: the digest of a file's contents, or why it could not be read.
type fileState struct {
	sum [sha256.Size]byte
	err string
}

// Loaded is a value built from files, with what those files held when it was built.
type Loaded[T any] struct {
	Value T
	build func(Reader) (T, error)
	seen  map[string]fileState
	order []string // paths in the order build read them
}

// Load builds a value with build, which reads its files through the Reader it is given (and returns an error
// that names the file at fault). The files are remembered so that a Watched value can tell when they change.
func Load[T any](build func(read Reader) (T, error)) (*Loaded[T], error) {
	l, err := load(build)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// load runs build and returns what it read even when it fails (to remember a broken version).
func load[T any](build func(Reader) (T, error)) (*Loaded[T], error) {
	l := &Loaded[T]{build: build, seen: map[string]fileState{}}
	read := func(path string) ([]byte, error) {
		data, err := os.ReadFile(path)
		st := fileState{sum: sha256.Sum256(data)}
		if err != nil {
			st = fileState{err: err.Error()}
		}
		if _, dup := l.seen[path]; !dup {
			l.order = append(l.order, path)
		}
		l.seen[path] = st
		return data, err
	}
	v, err := build(read)
	l.Value = v
	return l, err
}

// unchanged reports whether the files l read still hold what they held then.
func (l *Loaded[T]) unchanged() bool {
	for _, p := range l.order {
		st := fileState{}
		data, err := os.ReadFile(p)
		if err != nil {
			st.err = err.Error()
		} else {
			st.sum = sha256.Sum256(data)
		}
		if st != l.seen[p] {
			return false
		}
	}
	return true
}

// Watched is a value built from files and rebuilt when their contents change. Current is one atomic load.
type Watched[T any] struct {
	cur atomic.Pointer[Loaded[T]]

	mu   sync.Mutex // orders checks; guards last
	last *Loaded[T] // the files as the last check saw them (a broken version is complained about once)
}

// NewWatched makes l current.
func NewWatched[T any](l *Loaded[T]) *Watched[T] {
	w := &Watched[T]{}
	w.Set(l)
	return w
}

// Current is the value of the files as last loaded successfully.
func (w *Watched[T]) Current() T { return w.cur.Load().Value }

// Set makes l current (a reload with other settings).
func (w *Watched[T]) Set(l *Loaded[T]) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cur.Store(l)
	w.last = l
}

// Check re-reads the files when they differ from what the previous check saw, and makes the new value
// current if it builds. changed reports whether the files differed; err why they did not load (the previous
// value stays). Files left broken are reported once, not at every check.
func (w *Watched[T]) Check() (changed bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rebuild(w.last)
}

// Reload re-reads the files unless they hold what the current value was built from (a SIGHUP): unlike
// Check, files still broken since the last check are reported again.
func (w *Watched[T]) Reload() (changed bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rebuild(w.cur.Load())
}

// rebuild loads the files again unless they are as base saw them. Called with mu held.
func (w *Watched[T]) rebuild(base *Loaded[T]) (bool, error) {
	if base.unchanged() {
		return false, nil
	}
	next, err := load(base.build)
	w.last = next
	if err != nil {
		return true, err
	}
	w.cur.Store(next)
	return true, nil
}

// Watch checks the files every interval (PollInterval when 0) until stop is closed, and calls report with the
// outcome of each check that found them changed: nil when the new value is current, else why it is not.
func (w *Watched[T]) Watch(stop <-chan struct{}, interval time.Duration, report func(error)) {
	if interval <= 0 {
		interval = PollInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if changed, err := w.Check(); changed && report != nil {
			report(err)
		}
	}
}
