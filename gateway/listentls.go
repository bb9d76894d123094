package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sfgate/sfgate/gateway/config"
	"github.com/sfgate/sfgate/internal/certfile"
	"github.com/valyala/fasthttp"
)

// listenerTLS serves HTTPS on the client listener (config "tls"). Every handshake reads the current
// *tls.Config through GetConfigForClient, so a new set of certificates (a file changed on disk, or Reload on
// SIGHUP) reaches new connections at once; open connections keep the one they shook hands with.
type listenerTLS struct {
	log      *slog.Logger
	files    *certfile.Watched[*tls.Config]
	settings *config.ListenerTLS // the tls: section served; changed by commit under Gateway.mu
	poll     time.Duration       // 0: certfile.PollInterval
	// onReload, when set (tests), is called after each reload the file watcher triggers, with its outcome.
	onReload func(error)
	stop     chan struct{}
	once     sync.Once
}

// listenerTLSFiles are the settings of config "tls" with file paths resolved against the configuration file.
type listenerTLSFiles struct {
	certs      []config.CertificateFiles
	minVersion uint16
	clientAuth tls.ClientAuthType
	clientCAs  string
	pos        config.Pos // of the tls section
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

// build reads the files and builds the server configuration. The error names the setting, its place in the
// configuration file and the file that does not load.
func (f listenerTLSFiles) build(read certfile.Reader) (*tls.Config, error) {
	conf := &tls.Config{
		MinVersion: f.minVersion,
		ClientAuth: f.clientAuth,
		NextProtos: []string{"http/1.1"}, // the client listener speaks HTTP/1.1 only
	}
	for i, c := range f.certs {
		cert, err := certfile.ReadKeyPair(read, c.CertFile, c.KeyFile)
		if err != nil {
			return nil, &config.Error{Pos: c.Pos, Field: fmt.Sprintf("tls.certificates[%d]", i), Msg: err.Error()}
		}
		conf.Certificates = append(conf.Certificates, *cert) // Leaf is parsed: SNI matches its DNS names
	}
	if f.clientCAs != "" {
		pool, err := certfile.ReadCAs(read, f.clientCAs)
		if err != nil {
			return nil, &config.Error{Pos: f.pos, Field: "tls.clientCaFile", Msg: err.Error()}
		}
		conf.ClientCAs = pool
	}
	return conf, nil
}

// newListenerTLS loads the configuration's tls section; nil without one.
func newListenerTLS(cfg *config.Config, log *slog.Logger, poll time.Duration, onReload func(error)) (*listenerTLS, error) {
	if cfg.TLS == nil {
		return nil, nil
	}
	next, err := prepareListenerTLS(cfg)
	if err != nil {
		return nil, err
	}
	return &listenerTLS{log: log, files: certfile.NewWatched(next), settings: cfg.TLS, poll: poll, onReload: onReload, stop: make(chan struct{})}, nil
}

// prepareListenerTLS reads the files of cfg's tls section; commit makes them current.
func prepareListenerTLS(cfg *config.Config) (*certfile.Loaded[*tls.Config], error) {
	return certfile.Load(listenerTLSFilesOf(cfg).build)
}

// commit makes loaded files, and the settings they were loaded with, current: the next handshake uses them.
func (lt *listenerTLS) commit(next *certfile.Loaded[*tls.Config], settings *config.ListenerTLS) {
	lt.files.Set(next)
	lt.settings = settings
}

// watch reloads the files when they change on disk, until close.
func (lt *listenerTLS) watch() {
	lt.files.Watch(lt.stop, lt.poll, func(err error) {
		if err != nil {
			lt.log.Warn("client listener TLS files changed but do not load; the previous certificates stay in use", "error", err)
		} else {
			lt.log.Info("client listener TLS files reloaded")
		}
		if lt.onReload != nil {
			lt.onReload(err)
		}
	})
}

func (lt *listenerTLS) close() { lt.once.Do(func() { close(lt.stop) }) }

// serverConfig is the configuration the listener is wrapped with: each handshake takes the current one.
func (lt *listenerTLS) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return lt.files.Current(), nil
		},
	}
}

// peerCertificate is the client's TLS certificate (context.Request.Certificate) and the chain the listener
// verified it with (tls.clientCaFile, the certificate first); nil over plain HTTP or when the client sent none.
func peerCertificate(ctx *fasthttp.RequestCtx) (*x509.Certificate, []*x509.Certificate) {
	tc, ok := ctx.Conn().(*tls.Conn)
	if !ok {
		return nil, nil
	}
	cs := tc.ConnectionState()
	if len(cs.PeerCertificates) == 0 {
		return nil, nil
	}
	var chain []*x509.Certificate
	if len(cs.VerifiedChains) > 0 {
		chain = cs.VerifiedChains[0]
	}
	return cs.PeerCertificates[0], chain
}
