package policy

import "time"

// fetchRetryAfter spaces the fetches of a document whose last fetch failed (an OpenID provider's signing keys,
// jwks.go; a certificate revocation list, crl.go): the requests in between are answered from what is cached, or
// get that failure, without a fetch each, so that clients cannot make the gateway hammer a server that is down
// nor wait on it one after the other.
const fetchRetryAfter = 10 * time.Second

// lastFailure is the last failed fetch of one document; the zero value is none.
type lastFailure struct {
	at  time.Time
	err error
}

// recent is the failure when it happened less than fetchRetryAfter before now, else nil.
func (f *lastFailure) recent(now time.Time) error {
	if f.err != nil && now.Sub(f.at) < fetchRetryAfter {
		return f.err
	}
	return nil
}
