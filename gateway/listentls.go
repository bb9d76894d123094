package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sfgate/sfgate/gateway/config"
	"github.com/valyala/fasthttp"
)

// certPollInterval is how often the client listener's certificate, key and CA files are checked for changes.
const certPollInterval = 5 * time.Second

// listenerTLS serves HTTPS on the client listener (config "tls"). Every handshake reads the current
// *tls.Config through GetConfigForClient, so a new set of certificates (a file changed on disk, or Reload on
// SIGHUP) reaches new connections at once; open connections keep the one they shook hands with.
type listenerTLS struct {
	log  *slog.Logger
	cur  atomic.Pointer[tls.Config]
	poll time.Duration
	// onReload, when set (tests), is called after each reload the file watcher triggers, with its outcome.
	onReload func(error)

	mu     sync.Mutex // guards files and stamps
	files  listenerTLSFiles
	stamps []fileStamp
	stop   chan struct{}
	once   sync.Once
}

// listenerTLSFiles are the settings of config "tls" with file paths resolved against the configuration file.
type listenerTLSFiles struct {
	certs      []config.CertificateFiles
	minVersion uint16
	clientAuth tls.ClientAuthType
	clientCAs  string
	pos        config.Pos // of the tls section
}

// fileStamp is what the watcher compares to see a file changed.
type fileStamp struct {
	path string
	mod  time.Time
	size int64
}

func listenerTLSFilesOf(cfg *config.Config) listenerTLSFiles {
	t := cfg.TLS
	f := listenerTLSFiles{minVersion: tls.VersionTLS12, clientAuth: tls.NoClientCert, clientCAs: cfg.Path(t.ClientCAFile), pos: t.Pos}
	if t.MinVersion == "1.3" {
		f.minVersion = tls.VersionTLS13
	}
	switch t.ClientCertificate {
	case "optional":
		f.clientAuth = tls.VerifyClientCertIfGiven
	case "required":
		f.clientAuth = tls.RequireAndVerifyClientCert
	}
	for _, c := range t.Certificates {
		f.certs = append(f.certs, config.CertificateFiles{Pos: c.Pos, CertFile: cfg.Path(c.CertFile), KeyFile: cfg.Path(c.KeyFile)})
	}
	return f
}

// paths are the files the settings read, in a fixed order.
func (f listenerTLSFiles) paths() []string {
	var out []string
	for _, c := range f.certs {
		out = append(out, c.CertFile, c.KeyFile)
	}
	if f.clientCAs != "" {
		out = append(out, f.clientCAs)
	}
	return out
}

// load reads the files and builds the server configuration. The error names the setting, its place in the
// configuration file and the file that does not load.
func (f listenerTLSFiles) load() (*tls.Config, error) {
	conf := &tls.Config{
		MinVersion: f.minVersion,
		ClientAuth: f.clientAuth,
		NextProtos: []string{"http/1.1"}, // the client listener speaks HTTP/1.1 only
	}
	for i, c := range f.certs {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, &config.Error{Pos: c.Pos, Field: fmt.Sprintf("tls.certificates[%d]", i),
				Msg: fmt.Sprintf("cannot load the key pair %s, %s: %v", c.CertFile, c.KeyFile, err)}
		}
		conf.Certificates = append(conf.Certificates, cert) // Leaf is parsed: SNI matches its DNS names
	}
	if f.clientCAs != "" {
		pool, err := loadCAs(f.clientCAs)
		if err != nil {
			return nil, &config.Error{Pos: f.pos, Field: "tls.clientCaFile", Msg: err.Error()}
		}
		conf.ClientCAs = pool
	}
	return conf, nil
}

func stampFiles(paths []string) []fileStamp {
	out := make([]fileStamp, len(paths))
	for i, p := range paths {
		out[i].path = p
		if fi, err := os.Stat(p); err == nil {
			out[i].mod, out[i].size = fi.ModTime(), fi.Size()
		}
	}
	return out
}

// newListenerTLS loads the configuration's tls section; nil without one.
func newListenerTLS(cfg *config.Config, log *slog.Logger, poll time.Duration, onReload func(error)) (*listenerTLS, error) {
	if cfg.TLS == nil {
		return nil, nil
	}
	if poll <= 0 {
		poll = certPollInterval
	}
	lt := &listenerTLS{log: log, poll: poll, onReload: onReload, stop: make(chan struct{})}
	next, err := prepareListenerTLS(cfg)
	if err != nil {
		return nil, err
	}
	lt.commit(next)
	return lt, nil
}

// loadedTLS is a tls section read from its files, ready to be made current.
type loadedTLS struct {
	files  listenerTLSFiles
	stamps []fileStamp
	conf   *tls.Config
}

// prepareListenerTLS reads the files of cfg's tls section.
func prepareListenerTLS(cfg *config.Config) (*loadedTLS, error) {
	return loadListenerTLS(listenerTLSFilesOf(cfg))
}

func loadListenerTLS(files listenerTLSFiles) (*loadedTLS, error) {
	stamps := stampFiles(files.paths()) // before reading: a change while reading is seen next time
	conf, err := files.load()
	if err != nil {
		return nil, err
	}
	return &loadedTLS{files: files, stamps: stamps, conf: conf}, nil
}

// commit makes loaded files current: the next handshake uses them.
func (lt *listenerTLS) commit(next *loadedTLS) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	lt.files, lt.stamps = next.files, next.stamps
	lt.cur.Store(next.conf)
}

// reload re-reads the files of the current settings (the watcher saw a change).
func (lt *listenerTLS) reload() error {
	lt.mu.Lock()
	files := lt.files
	lt.mu.Unlock()
	next, err := loadListenerTLS(files)
	if err != nil {
		return err
	}
	lt.commit(next)
	return nil
}

// changed reports whether a watched file differs from when it was last read, and records the new stamps so
// that a file left broken is complained about once, not at every poll.
func (lt *listenerTLS) changed() bool {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	now := stampFiles(lt.files.paths())
	for i := range now {
		if i >= len(lt.stamps) || !now[i].mod.Equal(lt.stamps[i].mod) || now[i].size != lt.stamps[i].size {
			lt.stamps = now
			return true
		}
	}
	return false
}

// watch reloads the files when they change on disk, until close.
func (lt *listenerTLS) watch() {
	tick := time.NewTicker(lt.poll)
	defer tick.Stop()
	for {
		select {
		case <-lt.stop:
			return
		case <-tick.C:
		}
		if !lt.changed() {
			continue
		}
		err := lt.reload()
		if err != nil {
			lt.log.Warn("client listener TLS files changed but do not load; the previous certificates stay in use", "error", err)
		} else {
			lt.log.Info("client listener TLS files reloaded")
		}
		if lt.onReload != nil {
			lt.onReload(err)
		}
	}
}

func (lt *listenerTLS) close() { lt.once.Do(func() { close(lt.stop) }) }

// serverConfig is the configuration the listener is wrapped with: each handshake takes the current one.
func (lt *listenerTLS) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			if c := lt.cur.Load(); c != nil {
				return c, nil
			}
			return nil, errors.New("no TLS configuration loaded")
		},
	}
}

// peerCertificate is the client's TLS certificate (context.Request.Certificate); nil over plain HTTP or when
// the client sent none.
func peerCertificate(ctx *fasthttp.RequestCtx) *x509.Certificate {
	tc, ok := ctx.Conn().(*tls.Conn)
	if !ok {
		return nil
	}
	if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
		return certs[0]
	}
	return nil
}
