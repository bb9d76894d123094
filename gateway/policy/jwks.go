package policy

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Signing keys an OpenID provider publishes (validate-jwt's <openid-config url>): its discovery document names the
// issuer and the JWKS URL; the keys are fetched on first use, kept for jwksMaxAge, fetched again after that (the
// last good keys stay in use while the provider cannot be reached, and a failed fetch is not tried again for
// fetchRetryAfter, before the first keys as after the hour), and fetched at once when a token names a key ID none
// of them has, which is how a key rollover shows (at most jwksMissRefreshes times a minute, so that tokens with
// made-up key IDs cannot make the gateway hammer the provider).
const (
	jwksMaxAge        = time.Hour
	jwksMissRefreshes = 5
	jwksFetchTimeout  = 10 * time.Second
	maxJWKSBytes      = 1 << 20
)

// openIDKeys is the key cache of one provider.
type openIDKeys struct {
	url    string
	client *http.Client
	now    func() time.Time // time.Now; tests turn the clock

	mu        sync.Mutex // held while fetching: concurrent requests wait for one fetch
	cached    []jwtKey
	iss       string
	fetched   time.Time
	lastFail  lastFailure // a fetch that failed since fetched: spaces the next (fetchfailure.go)
	refreshes []time.Time // forced refreshes (unknown key ID) in the last minute
}

func newOpenIDKeys(raw string) (*openIDKeys, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("\"" + raw + "\" is not an absolute https:// URL of an OpenID configuration")
	}
	return &openIDKeys{url: raw, client: &http.Client{Timeout: jwksFetchTimeout}, now: time.Now}, nil
}

// keys returns the provider's signing keys, fetching them when none are cached, when they are older than
// jwksMaxAge (and no fetch failed in the last fetchRetryAfter), or when refresh asks (within the rate). When a
// fetch fails the last good keys are returned; the error only when there are none.
func (o *openIDKeys) keys(refresh bool) ([]jwtKey, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	if err := o.lastFail.recent(now); err != nil && o.cached == nil {
		return nil, err // the provider was down moments ago: no fetch per request while it stays down
	}
	stale := o.cached == nil || now.Sub(o.fetched) > jwksMaxAge && o.lastFail.recent(now) == nil
	if refresh && !stale {
		recent := o.refreshes[:0]
		for _, t := range o.refreshes {
			if now.Sub(t) < time.Minute {
				recent = append(recent, t)
			}
		}
		o.refreshes = recent
		if len(o.refreshes) >= jwksMissRefreshes {
			return o.cached, nil
		}
		o.refreshes = append(o.refreshes, now)
		stale = true
	}
	if !stale {
		return o.cached, nil
	}
	keys, iss, err := o.fetch()
	if err != nil {
		o.lastFail = lastFailure{at: now, err: fmt.Errorf("validate-jwt: signing keys of %s: %w", o.url, err)}
		if o.cached != nil {
			return o.cached, nil
		}
		return nil, o.lastFail.err
	}
	o.cached, o.iss, o.fetched, o.lastFail = keys, iss, now, lastFailure{}
	return keys, nil
}

// issuer is the issuer the discovery document names ("" before the first fetch).
func (o *openIDKeys) issuer() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.iss
}

func (o *openIDKeys) fetch() ([]jwtKey, string, error) {
	var discovery struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := o.getJSON(o.url, &discovery); err != nil {
		return nil, "", err
	}
	if discovery.JWKSURI == "" {
		return nil, "", errors.New("the OpenID configuration has no jwks_uri")
	}
	jwksURL, err := url.Parse(o.url)
	if err == nil {
		jwksURL, err = jwksURL.Parse(discovery.JWKSURI)
	}
	if err != nil {
		return nil, "", fmt.Errorf("jwks_uri %q: %w", discovery.JWKSURI, err)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := o.getJSON(jwksURL.String(), &set); err != nil {
		return nil, "", err
	}
	keys, err := parseJWKS(set.Keys)
	return keys, discovery.Issuer, err
}

// parseJWKS reads the public signing keys of a JWK set; keys for encryption, symmetric keys, and keys of a kind
// go-jose does not read are skipped (a provider may publish kinds a verifier does not need).
func parseJWKS(raw []json.RawMessage) ([]jwtKey, error) {
	var keys []jwtKey
	for _, r := range raw {
		var k jose.JSONWebKey
		if k.UnmarshalJSON(r) != nil || k.Use == "enc" {
			continue
		}
		pub := k.Key
		if k.Valid() && !k.IsPublic() {
			pub = k.Public().Key
		}
		switch pub.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			keys = append(keys, jwtKey{id: k.KeyID, key: pub})
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("the key set holds no signing key")
	}
	return keys, nil
}

func (o *openIDKeys) getJSON(u string, v any) error {
	resp, err := o.client.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}
