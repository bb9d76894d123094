package gateway

import (
	"context"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/sfgate/sfgate/gateway/config"
)

// redacted replaces a credential value wherever it would appear in a log line.
const redacted = "[redacted]"

// minSecretLen: shorter values are not masked (masking "on" or "1" would garble every line). A named value marked
// secret, or an adminAuth token written out, cannot be shorter (config.MinSecretLen, a load error); a backend
// credential written without a named value can.
const minSecretLen = config.MinSecretLen

// configSecrets lists the values a log line, an admin answer or an error body must never show: every named value
// marked secret, the admin bearer token, every backend credential (header and query values, the Authorization parameter) and the Azure
// AD client secret of a cluster, each as written after {{named value}} substitution and as it travels
// query-escaped, plus every named value those reference.
func configSecrets(cfg *config.Config) []string {
	var out []string
	named := cfg.Values()
	for _, nv := range cfg.NamedValues {
		if nv != nil && nv.Secret {
			out = append(out, nv.Value, url.QueryEscape(nv.Value))
		}
	}
	add := func(raw string) {
		v := substituteNamed(raw, named)
		out = append(out, v, url.QueryEscape(v))
		for _, m := range config.NamedRef.FindAllStringSubmatch(raw, -1) {
			if nv, ok := named[m[1]]; ok {
				out = append(out, nv, url.QueryEscape(nv))
			}
		}
	}
	if a := cfg.AdminAuth; a != nil {
		add(a.BearerToken)
	}
	for _, b := range cfg.Backends {
		if b == nil {
			continue
		}
		if c := b.Credentials; c != nil {
			for _, vs := range c.Header {
				for _, v := range vs {
					add(v)
				}
			}
			for _, vs := range c.Query {
				for _, v := range vs {
					add(v)
				}
			}
			if a := c.Authorization; a != nil {
				add(a.Parameter)
			}
		}
		if sc := b.ServiceFabricCluster; sc != nil && sc.AzureActiveDirectory != nil {
			add(sc.AzureActiveDirectory.ClientSecret)
		}
	}
	return slices.DeleteFunc(out, func(s string) bool { return len(s) < minSecretLen })
}

// newRedactor builds the replacer for secrets (duplicates allowed); nil when there are none (then logging pays
// nothing).
func newRedactor(secrets []string) *strings.Replacer {
	if len(secrets) == 0 {
		return nil
	}
	secrets = slices.Clone(secrets)
	slices.SortFunc(secrets, func(a, b string) int { // longest first: no partial masks
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	secrets = slices.Compact(secrets)
	pairs := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		pairs = append(pairs, s, redacted)
	}
	return strings.NewReplacer(pairs...)
}

// redactingHandler masks the configuration's secrets in every string and error a log record carries (the
// message included), whatever logged it: request failures, naming errors, fasthttp's own messages.
type redactingHandler struct {
	next slog.Handler
	r    *atomic.Pointer[strings.Replacer] // swapped on reload
}

func (h redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h redactingHandler) Handle(ctx context.Context, rec slog.Record) error {
	r := h.r.Load()
	if r == nil {
		return h.next.Handle(ctx, rec)
	}
	out := slog.NewRecord(rec.Time, rec.Level, r.Replace(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(r, a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if r := h.r.Load(); r != nil {
		masked := make([]slog.Attr, len(attrs))
		for i, a := range attrs {
			masked[i] = redactAttr(r, a)
		}
		attrs = masked
	}
	return redactingHandler{next: h.next.WithAttrs(attrs), r: h.r}
}

func (h redactingHandler) WithGroup(name string) slog.Handler {
	return redactingHandler{next: h.next.WithGroup(name), r: h.r}
}

func redactAttr(r *strings.Replacer, a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, r.Replace(v.String()))
	case slog.KindGroup:
		g := v.Group()
		masked := make([]any, len(g))
		for i, ga := range g {
			masked[i] = redactAttr(r, ga)
		}
		return slog.Group(a.Key, masked...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, r.Replace(err.Error()))
		}
		if s, ok := v.Any().(interface{ String() string }); ok {
			return slog.String(a.Key, r.Replace(s.String()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
