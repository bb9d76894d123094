package gateway

import (
	"bytes"
	"net/http"
)

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
