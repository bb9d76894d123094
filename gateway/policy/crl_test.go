package policy

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfgate/sfgate/internal/testcert"
)

// crlServer serves whatever CRL (DER) it is given last, and counts the fetches; a nil CRL answers 503.
type crlServer struct {
	url     string
	fetches atomic.Int64
	mu      sync.Mutex
	der     []byte
}

func newCRLServer(t testing.TB) *crlServer {
	s := &crlServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		der := s.der
		s.mu.Unlock()
		if der == nil {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(der)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/ca.crl"
	return s
}

func (s *crlServer) serve(der []byte) {
	s.mu.Lock()
	s.der = der
	s.mu.Unlock()
}

// A certificate is checked against the CRL its distribution point names, signed by its issuer: revoked,
// not revoked, and every way of not knowing (no distribution point, the list unreachable, signed by another
// CA, past its NextUpdate) refuses it as unknown.
func TestCRLCheckAgainstTheIssuersList(t *testing.T) {
	ca, other := testcert.CA(t, "Client CA"), testcert.CA(t, "Other CA")
	srv := newCRLServer(t)
	good, bad := ca.IssueWithCRL(t, "good.example", srv.url), ca.IssueWithCRL(t, "bad.example", srv.url)
	srv.serve(ca.CRL(t, time.Now().Add(time.Hour), bad))

	check := func(c *testcert.Cert) error {
		return newCRLCache().checkChain(context.Background(), []*x509.Certificate{c.Leaf, ca.Leaf})
	}
	if err := check(good); err != nil {
		t.Errorf("a certificate the CRL does not list: %v", err)
	}
	if err := check(bad); !errors.Is(err, errRevoked) {
		t.Errorf("a certificate the CRL lists: %v, want revoked", err)
	}
	if err := check(ca.Issue(t, "no-cdp.example")); !errors.Is(err, errRevocationUnknown) {
		t.Errorf("a certificate naming no distribution point: %v, want unknown", err)
	}
	if err := check(ca.IssueWithCRL(t, "gone.example", "http://127.0.0.1:1/ca.crl")); !errors.Is(err, errRevocationUnknown) {
		t.Errorf("a CRL that cannot be fetched: %v, want unknown", err)
	}
	srv.serve(other.CRL(t, time.Now().Add(time.Hour)))
	if err := check(good); !errors.Is(err, errRevocationUnknown) {
		t.Errorf("a CRL signed by another CA: %v, want unknown", err)
	}
	srv.serve(ca.CRL(t, time.Now().Add(-time.Second)))
	if err := check(good); !errors.Is(err, errRevocationUnknown) {
		t.Errorf("a CRL past its NextUpdate: %v, want unknown", err)
	}
	if err := newCRLCache().checkChain(context.Background(), nil); !errors.Is(err, errRevocationUnknown) {
		t.Errorf("no verified chain: %v, want unknown", err)
	}
	pinned := testcert.SelfSigned(t, "pinned.example") // in tls.clientCaFile itself: its chain is just itself
	if err := newCRLCache().checkChain(context.Background(), []*x509.Certificate{pinned.Leaf}); err != nil {
		t.Errorf("a certificate that is its own trust anchor: %v, want nothing to check", err)
	}
}

// crlFixture is a client certificate whose CA serves its CRL from srv, checked by a cache on a clock the test
// turns (now).
type crlFixture struct {
	ca, client *testcert.Cert
	srv        *crlServer
	cc         *crlCache
	now        time.Time
}

func newCRLFixture(tb testing.TB) *crlFixture {
	f := &crlFixture{ca: testcert.CA(tb, "Client CA"), srv: newCRLServer(tb), cc: newCRLCache(), now: time.Now()}
	f.client = f.ca.IssueWithCRL(tb, "client.example", f.srv.url)
	f.cc.now = func() time.Time { return f.now }
	return f
}

// check checks the client's chain (the client, then its CA).
func (f *crlFixture) check() error {
	return f.cc.checkChain(context.Background(), []*x509.Certificate{f.client.Leaf, f.ca.Leaf})
}

// A CRL is kept until its NextUpdate and fetched again after it, so a revocation published meanwhile is seen
// then; a failed fetch is not tried again before fetchRetryAfter.
func TestCRLRefetchedAfterNextUpdate(t *testing.T) {
	f := newCRLFixture(t)
	srv := f.srv
	f.srv.serve(f.ca.CRL(t, f.now.Add(time.Hour)))
	if err := f.check(); err != nil {
		t.Fatal(err)
	}
	srv.serve(f.ca.CRL(t, f.now.Add(3*time.Hour), f.client)) // revoked, not yet seen
	if err := f.check(); err != nil || srv.fetches.Load() != 1 {
		t.Fatalf("before NextUpdate: %v after %d fetches, want the cached list (1 fetch)", err, srv.fetches.Load())
	}
	f.now = f.now.Add(2 * time.Hour)
	if err := f.check(); !errors.Is(err, errRevoked) || srv.fetches.Load() != 2 {
		t.Fatalf("after NextUpdate: %v after %d fetches, want revoked (2 fetches)", err, srv.fetches.Load())
	}

	f.now = f.now.Add(2 * time.Hour) // past the second list's NextUpdate, and the server is down
	srv.serve(nil)
	for range 3 {
		if err := f.check(); !errors.Is(err, errRevocationUnknown) {
			t.Fatalf("stale list, server down: %v, want unknown", err)
		}
	}
	if n := srv.fetches.Load(); n != 3 {
		t.Errorf("%d fetches, want 3: a failed fetch is not repeated within fetchRetryAfter", n)
	}
	f.now = f.now.Add(fetchRetryAfter)
	srv.serve(f.ca.CRL(t, f.now.Add(time.Hour)))
	if err := f.check(); err != nil || srv.fetches.Load() != 4 {
		t.Errorf("after fetchRetryAfter: %v after %d fetches, want the new list (4 fetches)", err, srv.fetches.Load())
	}
}

// Once a list is crlRefreshEvery old but still before its NextUpdate, the next check answers from it at once and
// fetches the next list in the background; the check after that sees the new list. A failed background fetch
// keeps the old list while it is valid.
func TestCRLRefreshedInTheBackground(t *testing.T) {
	f := newCRLFixture(t)
	srv := f.srv
	refreshed := make(chan struct{}, 1)
	f.cc.refreshed = func() { refreshed <- struct{}{} }

	srv.serve(f.ca.CRL(t, f.now.Add(6*time.Hour)))
	if err := f.check(); err != nil {
		t.Fatal(err)
	}
	srv.serve(nil) // down: the background fetch fails
	f.now = f.now.Add(crlRefreshEvery + time.Second)
	if err := f.check(); err != nil {
		t.Fatalf("while the list is still valid: %v", err)
	}
	<-refreshed
	if err := f.check(); err != nil || srv.fetches.Load() != 2 {
		t.Fatalf("after a failed background fetch: %v after %d fetches, want the old list (2 fetches)", err, srv.fetches.Load())
	}
	srv.serve(f.ca.CRL(t, f.now.Add(6*time.Hour), f.client)) // revoked now
	f.now = f.now.Add(fetchRetryAfter)
	if err := f.check(); err != nil {
		t.Fatalf("the check that starts the refresh answers from the old list: %v", err)
	}
	<-refreshed
	if err := f.check(); !errors.Is(err, errRevoked) || srv.fetches.Load() != 3 {
		t.Errorf("after the background fetch: %v after %d fetches, want revoked (3 fetches)", err, srv.fetches.Load())
	}
}

// parseCRL reads DER and PEM and refuses anything else with an error, never a panic.
func FuzzParseCRL(f *testing.F) {
	ca := testcert.CA(f, "Client CA")
	der := ca.CRL(f, time.Now().Add(time.Hour), ca.Issue(f, "revoked.example"))
	f.Add(der)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	f.Add([]byte("not a CRL"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := parseCRL(data, time.Now())
		if err == nil && (l.crl == nil || l.revoked == nil || l.expires.IsZero()) {
			t.Fatalf("parsed without error but incomplete: %+v", l)
		}
	})
}

// A check against a list already cached allocates nothing: it runs for every request of a client whose policy
// asks for validate-revocation.
func TestCRLCheckOfACachedListAllocatesNothing(t *testing.T) {
	f := newCRLFixture(t)
	f.srv.serve(f.ca.CRL(t, f.now.Add(time.Hour), f.ca.IssueWithCRL(t, "revoked.example", f.srv.url)))
	if err := f.check(); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = f.check() }); n != 0 {
		t.Errorf("%.1f allocations per check of a cached list, want 0", n)
	}
}

// BenchmarkCRLCheckCached is the per-request cost of validate-revocation once the list is cached.
func BenchmarkCRLCheckCached(b *testing.B) {
	f := newCRLFixture(b)
	f.cc.now = time.Now // the clock a request reads
	f.srv.serve(f.ca.CRL(b, f.now.Add(time.Hour)))
	if err := f.check(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = f.check()
	}
}
