package certfile_test

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/internal/certfile"
	"github.com/sfgate/sfgate/internal/testcert"
)

func watchPair(t *testing.T, certFile, keyFile string) *certfile.Watched[*tls.Certificate] {
	t.Helper()
	l, err := certfile.Load(func(read certfile.Reader) (*tls.Certificate, error) {
		return certfile.ReadKeyPair(read, certFile, keyFile)
	})
	if err != nil {
		t.Fatal(err)
	}
	return certfile.NewWatched(l)
}

// A replacement is seen by its contents even when the size and modification time stay the same (two
// certificates of one shape, written within the file system's timestamp granularity).
func TestCheckSeesContentsNotTimestamps(t *testing.T) {
	a, b := testcert.SelfSigned(t, "a.example"), testcert.SelfSigned(t, "b.example")
	certFile, keyFile := a.WritePEM(t)
	w := watchPair(t, certFile, keyFile)
	if changed, err := w.Check(); changed || err != nil {
		t.Fatalf("Check of untouched files = %v, %v; want false, nil", changed, err)
	}
	fi, err := os.Stat(certFile)
	if err != nil {
		t.Fatal(err)
	}
	b.WritePEMTo(t, certFile, keyFile)
	for _, p := range []string{certFile, keyFile} {
		if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
	if fi2, _ := os.Stat(certFile); fi2.Size() != fi.Size() {
		t.Logf("sizes differ (%d, %d): the test still checks the contents", fi.Size(), fi2.Size())
	}
	changed, err := w.Check()
	if !changed || err != nil {
		t.Fatalf("Check after the swap = %v, %v; want true, nil", changed, err)
	}
	if got := w.Current().Leaf; !got.Equal(b.Leaf) {
		t.Errorf("current certificate %s, want b.example", got.Subject.CommonName)
	}
}

// A broken replacement keeps the last good value, its error names the file, the watcher reports it once, and
// Reload (SIGHUP) reports it again; the repaired file is taken.
func TestBrokenFileKeepsLastGood(t *testing.T) {
	a, b := testcert.SelfSigned(t, "a.example"), testcert.SelfSigned(t, "b.example")
	certFile, keyFile := a.WritePEM(t)
	w := watchPair(t, certFile, keyFile)
	if err := os.WriteFile(certFile, []byte("-----BEGIN CERTIFICATE-----\nMIIB"), 0o600); err != nil { // half-written
		t.Fatal(err)
	}
	changed, err := w.Check()
	if !changed || err == nil || !strings.Contains(err.Error(), certFile) {
		t.Fatalf("Check of a half-written file = %v, %v; want true and an error naming %s", changed, err, certFile)
	}
	if !w.Current().Leaf.Equal(a.Leaf) {
		t.Error("a broken file replaced the last good certificate")
	}
	if changed, err := w.Check(); changed || err != nil {
		t.Errorf("second Check of the same broken file = %v, %v; want it reported once", changed, err)
	}
	if _, err := w.Reload(); err == nil || !strings.Contains(err.Error(), certFile) {
		t.Errorf("Reload of a broken file = %v, want an error naming %s", err, certFile)
	}
	b.WritePEMTo(t, certFile, keyFile)
	if changed, err := w.Check(); !changed || err != nil {
		t.Fatalf("Check after the repair = %v, %v", changed, err)
	}
	if !w.Current().Leaf.Equal(b.Leaf) {
		t.Error("the repaired files were not taken")
	}
}

// Watch reports a change and stops when told to.
func TestWatchReportsChanges(t *testing.T) {
	a, b := testcert.SelfSigned(t, "a.example"), testcert.SelfSigned(t, "b.example")
	certFile, keyFile := a.WritePEM(t)
	w := watchPair(t, certFile, keyFile)
	stop, done, reports := make(chan struct{}), make(chan struct{}), make(chan error, 4)
	go func() { w.Watch(stop, time.Millisecond, func(err error) { reports <- err }); close(done) }()
	b.WritePEMTo(t, certFile, keyFile)
	for w.Current().Leaf.Equal(a.Leaf) {
		select {
		case <-reports: // a check between the two writes may fail; the next one succeeds
		case <-time.After(20 * time.Second):
			t.Fatal("no reload within 20s")
		}
	}
	close(stop)
	<-done
}

func TestLoadCAs(t *testing.T) {
	ca := testcert.CA(t, "Test CA")
	certFile, _ := ca.WritePEM(t)
	if _, err := certfile.LoadCAs(certFile); err != nil {
		t.Errorf("LoadCAs(a CA certificate) = %v", err)
	}
	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{junk, filepath.Join(t.TempDir(), "missing.pem")} {
		if _, err := certfile.LoadCAs(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("LoadCAs(%s) = %v, want an error naming the file", p, err)
		}
	}
}
