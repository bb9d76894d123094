package gateway

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/sfgate/sfgate/gateway/config"
)

// adminGuard is what the admin listener checks per request, from config adminAuth and adminPprof; Reload
// replaces it.
type adminGuard struct {
	token *[sha256.Size]byte // SHA-256 of the bearer token; nil: /metrics and /debug/* are open
	pprof bool
}

func newAdminGuard(cfg *config.Config) *adminGuard {
	ag := &adminGuard{pprof: cfg.AdminPprof}
	if a := cfg.AdminAuth; a != nil {
		sum := sha256.Sum256([]byte(substituteNamed(a.BearerToken, cfg.Values())))
		ag.token = &sum
	}
	return ag
}

// allows reports whether a request may see a guarded endpoint. The tokens' SHA-256 sums are compared in
// constant time, so neither the token's bytes nor its length show in the time an answer takes.
func (ag *adminGuard) allows(r *http.Request) bool {
	if ag.token == nil {
		return true
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(sum[:], ag.token[:]) == 1
}

// guarded serves h only to callers adminAuth allows (401 otherwise), with its answer masked.
func (g *Gateway) guarded(h http.HandlerFunc) http.HandlerFunc {
	masked := g.masked(h)
	return func(w http.ResponseWriter, r *http.Request) {
		if !g.adminGuard.Load().allows(r) {
			unauthorized(w)
			return
		}
		masked(w, r)
	}
}

// unauthorized answers a caller without the admin bearer token.
func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="sfgate admin"`)
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "this admin endpoint needs Authorization: Bearer <adminAuth.bearerToken>"})
}

// profiles serves a net/http/pprof handler when adminPprof is on (404 otherwise), to callers adminAuth allows.
// Profiles are binary and hold no configuration, so they are not masked.
func (g *Gateway) profiles(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ag := g.adminGuard.Load()
		if !ag.pprof {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "profiles are off; set adminPprof: true to serve /debug/pprof/"})
			return
		}
		if !ag.allows(r) {
			unauthorized(w)
			return
		}
		h(w, r)
	}
}

// masked runs an admin handler and masks the configuration's secrets (configSecrets) in its answer: a /debug
// answer echoes service names, keys and naming errors, which may hold a secret named value.
func (g *Gateway) masked(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := &recordedAnswer{header: w.Header(), status: http.StatusOK}
		h(rec, r)
		body := rec.body.Bytes()
		if rp := g.secrets.Load(); rp != nil {
			body = []byte(rp.Replace(string(body)))
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.status)
		w.Write(body)
	}
}

// recordedAnswer holds an admin answer until it is masked.
type recordedAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (a *recordedAnswer) Header() http.Header         { return a.header }
func (a *recordedAnswer) Write(p []byte) (int, error) { return a.body.Write(p) }
func (a *recordedAnswer) WriteHeader(status int)      { a.status = status }
